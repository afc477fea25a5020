"""Language identification: keep documents in the target language.

The model is a backend (`langmill.lid_backends`): a fastText model (lid.176 by default) or
heliport, for documents and for lines, each with its own score and thresholds.

Language ID of a whole document keeps a Finnish page's English navigation, footers and quoted
paragraphs. With `foreign_lines="drop"` (the default) every line is classified first and the lines
fastText puts in another language with confidence are removed; `"mark"` keeps them and records
their share; `"keep"` classifies the document only. Short lines (fewer letters than
`line_min_chars`, URLs not counted: numbers, dates, list markers, "Lue lisää") are too short to
classify; they go with the document. A document that does not pass as it came is classified
again on the text that is kept, so a mostly English help page keeps its Finnish lines (one that
passes passes without its foreign lines too, and is not classified twice). `bench/line_lid.py`
measures these choices.
"""

import re
from collections import Counter

from datatrove.data import Document

from langmill.config import FOREIGN_LINE_MODES, LidSettings
from langmill.filters.base import CorpusFilter
from langmill.languages import canonical_lang
from langmill.lid_backends import default_lid_model, make_backend, model_languages, resolve_backends  # noqa: F401 - imported from here too

_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+", re.IGNORECASE)
_NON_LETTERS = re.compile(r"[\W\d_]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
# A document whose most probable languages do not include the target is not split into lines: it
# spares the line pass for 74 % of documents in other languages, and loses 0.7 % of the Finnish that
# line filtering rescues from real mixed pages (top 2: 83 %, 2.4 %). Free: k=5 costs what k=1 does.
TARGET_RANK = 5
# A document in another language as a whole is kept for its target-language lines only when they are
# the target with this probability: the leftovers of an Estonian page can look Finnish (0.72). With it
# no document in another language is kept; Finnish lost from real mixed pages: 1.7 % instead of 1.3 %.
# heliport's bar is its confidence: 1.0, just under the 2nd percentile (1.08) of the right language's
# score on 1.8 kB documents (bench/lid_backends.md); not yet measured on mixed pages.
RESCUE_THRESHOLD = 0.8
RESCUE_THRESHOLDS = {"fasttext": RESCUE_THRESHOLD, "heliport": 1.0}
# Each backend's default thresholds (documents, lines): its scores are not on one scale.
DEFAULT_THRESHOLDS = {"fasttext": (LidSettings.threshold, LidSettings.line_threshold),
                      "heliport": (LidSettings.heliport_threshold, LidSettings.heliport_line_threshold)}


def unknown_language_error(lang: str, model_path: str | None, option: str, backend: str = "fasttext") -> str | None:
    """The one-line error for a target language the LID model has no label for (every row would
    be dropped), or None when the model knows it."""
    import difflib

    model = make_backend(backend, model_path if backend == "fasttext" else None)
    known = model.languages()
    if canonical_lang(lang) in known:
        return None
    close = difflib.get_close_matches(canonical_lang(lang), sorted(known), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    other = "--lid-backend heliport or a --lid-model" if backend == "fasttext" else "--lid-backend fasttext with a --lid-model"
    return (f"{option} {lang}: the language-ID model {model.describe()} does not know this language{hint}; give an ISO 639 "
            f"code such as fi, fin or fin_Latn, or {other} that knows it ({len(known)} languages known)")


class LanguageFilter(CorpusFilter):
    """Tags every document with `lang`/`lang_score` and keeps those in the target language.

    Args:
        target: language code; any spelling `canonical_lang` understands.
        threshold: minimum score of the target language (fastText: a probability; heliport: its
            confidence); None: the backend's default (lid.threshold or lid.heliport_threshold).
        model_path: a fastText LID model; defaults to the embedded lid.176.ftz.
        max_chars: only this many characters are classified (fastText reads one line; long
            documents gain nothing past a few thousand words).
        foreign_lines: what to do with lines in another language: "keep" (lines are not
            classified), "drop" (remove them before the document is classified) or "mark".
        line_threshold: a line is another language's when the line backend's top language is not
            the target, with at least this score; None: the line backend's default.
        line_min_chars: lines with fewer letters than this (URLs not counted) are not classified.
        backend: "fasttext" or "heliport" (`langmill.lid_backends`), for documents.
        line_backend: the backend for lines; None: the document backend.

    Unless `foreign_lines` is "keep", the metadata gets `foreign_line_count`, `foreign_chars`
    (characters in those lines) and `foreign_share` (their share of the document's characters
    before any line was removed), and the stats of kept documents `lines_dropped`/`chars_dropped`
    (or `lines_marked`/`chars_marked`).
    """

    name = "🌍 Language ID"
    reason = "lid"

    def __init__(self, target: str, threshold: float | None = None, model_path: str | None = LidSettings.model,
                 max_chars: int = LidSettings.max_chars, foreign_lines: str = LidSettings.foreign_lines,
                 line_threshold: float | None = None, line_min_chars: int = LidSettings.line_min_chars,
                 exclusion_writer=None, backend: str = "fasttext", line_backend: str | None = None):
        super().__init__(exclusion_writer=exclusion_writer)
        if foreign_lines not in FOREIGN_LINE_MODES:
            raise ValueError(f"foreign_lines must be one of {', '.join(FOREIGN_LINE_MODES)}, not {foreign_lines!r}")
        self.target = canonical_lang(target)
        line_backend = line_backend or backend
        # Backends load their models lazily and pickle without them (datatrove sends steps to workers).
        self.backend = make_backend(backend, model_path if backend == "fasttext" else None)
        self.line_backend = self.backend if line_backend == backend else make_backend(line_backend, model_path if line_backend == "fasttext" else None)
        self.threshold = DEFAULT_THRESHOLDS[backend][0] if threshold is None else threshold
        self.line_threshold = DEFAULT_THRESHOLDS[line_backend][1] if line_threshold is None else line_threshold
        self.rescue_threshold = max(self.threshold, RESCUE_THRESHOLDS[backend])
        self.max_chars = max_chars
        self.foreign_lines = foreign_lines
        self.line_min_chars = line_min_chars

    @classmethod
    def from_settings(cls, target: str, lid: LidSettings, exclusion_writer=None) -> "LanguageFilter":
        """The filter a `langmill corpus` run uses: backends resolved for the language ("auto"),
        each with its own thresholds from the settings."""
        backend, line_backend = resolve_backends(target, lid.backend, lid.line_backend, lid.model)
        thresholds = {"fasttext": (lid.threshold, lid.line_threshold), "heliport": (lid.heliport_threshold, lid.heliport_line_threshold)}
        return cls(target, threshold=thresholds[backend][0], model_path=lid.model, max_chars=lid.max_chars, foreign_lines=lid.foreign_lines,
                   line_threshold=thresholds[line_backend][1], line_min_chars=lid.line_min_chars, exclusion_writer=exclusion_writer,
                   backend=backend, line_backend=line_backend)

    @property
    def model(self):
        """The document backend's loaded model."""
        return self.backend.model

    def predict(self, text: str) -> tuple[str, float]:
        return self.ranked(text, 1)[0]

    def ranked(self, text: str, k: int) -> list[tuple[str, float]]:
        """The `k` most probable languages of `text`, most probable first."""
        return self.backend.ranked(text[: self.max_chars], k)

    def line_language(self, line: str) -> str | None:
        """The other language `line` is confidently in, or None (the target, unsure, too short)."""
        if len(line) < self.line_min_chars:
            return None
        prose = _URL.sub(" ", line)
        if len(_NON_LETTERS.sub("", prose)) < self.line_min_chars:
            return None
        lang, score = self.line_backend.ranked(prose, 1)[0]
        return lang if lang != self.target and score >= self.line_threshold else None

    def check(self, doc: Document) -> str | None:
        original = doc.text
        ranked = self.ranked(original, TARGET_RANK)
        whole = lang, score = ranked[0]  # the document as it came
        foreign = Counter()
        if self.foreign_lines != "keep" and any(code == self.target for code, _ in ranked):
            foreign = self._find_foreign_lines(doc)
            passed = lang == self.target and score >= self.threshold
            # The kept text decides; a document that passes as it came passes without its foreign
            # lines too (their removal only raises the target's share), so it is not classified again.
            if doc.text and doc.text != original and not passed:
                lang, score = self.predict(doc.text)
        detail = self._verdict(whole, lang, score, foreign, emptied=bool(foreign) and not doc.text)
        if detail:
            doc.text, (lang, score) = original, whole  # excluded/ shows the document as it came
        elif foreign:
            verb = "dropped" if self.foreign_lines == "drop" else "marked"
            self.stat_update(f"lines_{verb}", value=doc.metadata["foreign_line_count"])
            self.stat_update(f"chars_{verb}", value=doc.metadata["foreign_chars"])
        doc.metadata["lang"] = lang
        doc.metadata["lang_score"] = round(score, 4)
        self.stat_update(f"lang_{lang}")
        return detail

    def _verdict(self, whole: tuple[str, float], lang: str, score: float, foreign: Counter, emptied: bool) -> str | None:
        """None to keep the document, else why not; (lang, score) is the kept text's prediction."""
        found = ", ".join(f"{code} {n}" for code, n in foreign.most_common())
        if emptied:
            return f"every line is in another language than {self.target} ({found})"
        after = f" after dropping lines in other languages ({found})" if foreign and self.foreign_lines == "drop" else ""
        if lang != self.target:
            return f"predicted {lang} ({score:.2f}), not {self.target}{after}"
        if score < self.threshold:
            return f"{lang} score {score:.2f} < {self.threshold}{after}"
        if whole[0] != self.target and score < self.rescue_threshold:
            return f"predicted {whole[0]} ({whole[1]:.2f}); {lang} score {score:.2f} < {self.rescue_threshold}{after}"
        return None

    def _find_foreign_lines(self, doc: Document) -> Counter:
        """The languages of the lines in another language, by count; under "drop" they are removed
        from doc.text (which is left empty when no line is left)."""
        lines = doc.text.split("\n")
        langs = [self.line_language(line) if line.strip() else None for line in lines]
        found = Counter(lang for lang in langs if lang)
        chars = sum(len(line) for line, lang in zip(lines, langs) if lang)
        doc.metadata.update(foreign_line_count=sum(found.values()), foreign_chars=chars, foreign_share=round(chars / max(len(doc.text), 1), 4))
        if found and self.foreign_lines == "drop":
            kept = "\n".join(line for line, lang in zip(lines, langs) if not lang)
            # A removed paragraph leaves the blank lines around it: one blank line, none at the ends.
            doc.text = _BLANK_RUNS.sub("\n\n", kept).strip("\n")
        return found


# Sentences any language-ID model labels right; a damaged one does not.
PROBES = {"en": "This is a sentence in English, written to check the model.", "de": "Das ist ein Satz in deutscher Sprache, um das Modell zu prüfen."}
FASTTEXT_MAGIC = 793712314  # the int32 every fastText .bin/.ftz file starts with
_LANGUAGE_LABEL = re.compile(r"__label__[a-z]{2,3}(?:[_-][A-Za-z]{4})?")  # __label__fi, __label__fin_Latn


def check_lid_model(path: str) -> None:
    """Raises a one-line ConfigError unless `path` is a fastText model that labels text with
    languages. Called before a run starts, so a wrong file fails here and not in every worker; the
    model is loaded once and let go (each worker loads its own)."""
    import struct

    import fasttext

    from langmill.config import ConfigError

    try:
        with open(path, "rb") as f:
            header = f.read(8)
    except OSError as err:
        raise ConfigError(f"{path}: the language-ID model cannot be read ({err.strerror})") from None
    if len(header) < 8 or struct.unpack("<i", header[:4])[0] != FASTTEXT_MAGIC:
        raise ConfigError(f"{path}: not a fastText language-ID model (not a fastText .bin/.ftz file)")
    try:
        model = fasttext.load_model(path)
        labels = [model.predict(text, k=1)[0] for text in PROBES.values()]
    except (ValueError, RuntimeError, MemoryError) as err:  # truncated or damaged: fastText's own message
        raise ConfigError(f"{path}: not a fastText language-ID model (damaged or truncated: {' '.join(str(err).split())})") from None
    first = labels[0][0] if labels[0] else "nothing"
    if not labels[0] or not _LANGUAGE_LABEL.fullmatch(first):
        raise ConfigError(f"{path}: not a fastText language-ID model (its labels are like {first!r}, not languages)")
    # A cut-off file can load without an error (fastText reads past its end) and then says nonsense.
    wrong = [f"{lang}->{canonical_lang(got[0]) if got else 'nothing'}" for (lang, _), got in zip(PROBES.items(), labels)
             if not got or canonical_lang(got[0]) != lang]
    if wrong:
        raise ConfigError(f"{path}: not a fastText language-ID model (damaged or truncated: it labels plain sentences wrongly: {', '.join(wrong)})")
