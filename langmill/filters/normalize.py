"""Unicode and whitespace normalisation; documents empty afterwards are excluded."""

import re
import unicodedata

import ftfy
import numpy as np
import pyarrow as pa
from datatrove.data import Document

from langmill.filters.base import CorpusFilter

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 controls except tab and newline, plus zero-width and BOM characters that break words.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace but newline
_MANY_NEWLINES = re.compile(r"\n{3,}")
# UTF-8 read as Latin-1/cp1252 always leaves a lead byte (Â..ô) before a continuation byte (\x80-\xbf,
# or cp1252's letters for them), or "Ã"/"Â" before a space (from a non-breaking space). Text without
# such a pair cannot hold that mojibake, and ftfy (~4 MB/s) is skipped for it.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]|[\u00c2\u00c3] "
)


def repair_mojibake(text: str) -> str:
    """ftfy's repair, keeping the writer's typography (curly quotes, full-width forms): not errors."""
    return ftfy.fix_text(
        text, normalization="NFC", unescape_html=False, fix_line_breaks=True, uncurl_quotes=False, fix_character_width=False
    )


def fold_whitespace(text: str) -> str:
    """No control characters, folded spaces, stripped lines, at most one blank line in a row.

    The plain reference of the Rust kernel `native.normalize` (src/normalize.rs).
    """
    text = _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def normalize_text(text: str, fix_mojibake: bool = True) -> str:
    """NFC, mojibake repair, then `fold_whitespace`: one document, in plain Python."""
    text = unicodedata.normalize("NFC", _SURROGATES.sub("\ufffd", text))
    if fix_mojibake and _MOJIBAKE_HINT.search(text):
        text = repair_mojibake(text)  # "TÃ¤mÃ¤" -> "Tämä"
    return fold_whitespace(text)


def normalize_batch(texts: list[str], fix_mojibake: bool = True) -> list[str]:
    """`normalize_text` of every text, with the whitespace pass and the mojibake test in Rust."""
    from langmill import native

    nfc = [unicodedata.normalize("NFC", t) for t in texts]
    try:
        folded, flags = native.normalize(pa.array(nfc, pa.large_string()))
    except (pa.ArrowInvalid, UnicodeEncodeError):  # lone surrogates from bad input
        nfc = [unicodedata.normalize("NFC", _SURROGATES.sub("\ufffd", t)) for t in texts]
        folded, flags = native.normalize(pa.array(nfc, pa.large_string()))
    out = folded.to_pylist()
    if fix_mojibake:
        for i in np.flatnonzero(flags & native.HINT_MOJIBAKE):
            out[i] = fold_whitespace(repair_mojibake(nfc[i]))
    return out


class Normalizer(CorpusFilter):
    """Normalises `doc.text` in place; drops documents that are empty afterwards (reason `empty`)."""

    name = "🧹 Normalise"
    reason = "empty"

    def __init__(self, config: dict | None = None, exclusion_writer=None, batch_size: int = 512):
        super().__init__(config, exclusion_writer)
        self.batch_size = batch_size

    @staticmethod
    def _empty_detail(before: str, after: str) -> str | None:
        if after:
            return None
        return "no text left after normalisation" if before else "empty text"

    def check(self, doc: Document) -> str | None:
        before, doc.text = doc.text, normalize_text(doc.text, fix_mojibake=self.config.get("fix_mojibake", True))
        return self._empty_detail(before, doc.text)

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        texts = normalize_batch([doc.text for doc in batch], fix_mojibake=self.config.get("fix_mojibake", True))
        results = []
        for doc, text in zip(batch, texts):
            before, doc.text = doc.text, text
            results.append(self.verdict(doc, self._empty_detail(before, text)))
        return results
