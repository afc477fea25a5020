"""Unicode and whitespace normalisation; documents empty afterwards are excluded."""

import bisect
import re
import unicodedata

import ftfy
import numpy as np
import pyarrow as pa
from datatrove.data import Document

from langmill.filters.base import CorpusFilter

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 controls except tab and newline, zero-width and BOM characters that break words, and the
# invisible bidi marks: LRM, RLM, ALM, embeddings/overrides (U+202A-E) and isolates (U+2066-9).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")

# ZWNJ (U+200C) and ZWJ (U+200D) are spelling only in some places, and removed everywhere else:
#   * between two letters/combining marks (General Category L* or M*) of the scripts below, which
#     use them to choose glyph forms (Persian "می\u200cخواهم", Devanagari half forms, Sinhala conjuncts);
#   * ZWJ inside an emoji sequence: after a pictograph or VS16 (U+FE0F), before a pictograph
#     ("👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈").
# The neighbours are the characters right before and after the joiner (after CR/LF folding). These
# ranges are also the source of the Rust tables (scripts/gen_unicode_tables.py -> src/unicode_tables.rs).
JOINING_SCRIPT_BLOCKS = (
    (0x0600, 0x077F),  # Arabic, Syriac, Arabic Supplement
    (0x07C0, 0x07FF),  # N'Ko
    (0x0860, 0x08FF),  # Syriac Supplement, Arabic Extended-B and -A
    (0x0900, 0x0DFF),  # Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x1800, 0x18AF),  # Mongolian
    (0x1B00, 0x1B7F),  # Balinese
    (0x1CD0, 0x1CFF),  # Vedic Extensions
    (0xA8E0, 0xA8FF),  # Devanagari Extended
    (0xA980, 0xA9FF),  # Javanese, Myanmar Extended-B
    (0xAA60, 0xAA7F),  # Myanmar Extended-A
    (0xFB50, 0xFDFF),  # Arabic Presentation Forms-A
    (0xFE70, 0xFEFF),  # Arabic Presentation Forms-B
)
PICTOGRAPH_BLOCKS = (
    (0x2600, 0x27BF),  # Miscellaneous Symbols, Dingbats ("♀", "⚕", "❤", "✈")
    (0x2B00, 0x2BFF),  # Miscellaneous Symbols and Arrows ("⬛" in "🐈\u200d⬛")
    (0x1F000, 0x1FAFF),  # the emoji blocks, skin-tone modifiers included
)
_JOINERS = re.compile("[\u200c\u200d]")
_VS16 = "\ufe0f"


def _in_blocks(ch: str, blocks: tuple[tuple[int, int], ...]) -> bool:
    i = bisect.bisect_right(blocks, (ord(ch), 0x10FFFF)) - 1
    return i >= 0 and ord(ch) <= blocks[i][1]


def _joining_letter(ch: str) -> bool:
    return bool(ch) and unicodedata.category(ch)[0] in "LM" and _in_blocks(ch, JOINING_SCRIPT_BLOCKS)


def joiner_is_spelling(joiner: str, before: str, after: str) -> bool:
    """Whether a ZWNJ/ZWJ between `before` and `after` (one character each, "" at an edge) is kept."""
    if _joining_letter(before) and _joining_letter(after):
        return True
    return (
        joiner == "\u200d"
        and bool(before) and bool(after)
        and (before == _VS16 or _in_blocks(before, PICTOGRAPH_BLOCKS))
        and _in_blocks(after, PICTOGRAPH_BLOCKS)
    )


def _drop_stray_joiners(text: str) -> str:
    def keep(m: re.Match) -> str:
        i = m.start()
        return m.group() if joiner_is_spelling(m.group(), text[i - 1 : i], text[i + 1 : i + 2]) else ""

    return _JOINERS.sub(keep, text)


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
    """No control or invisible characters, folded spaces, stripped lines, at most one blank line in a row.

    ZWNJ/ZWJ stay only where they are spelling (`joiner_is_spelling`). The plain reference of the
    Rust kernel `native.normalize` (src/normalize.rs).
    """
    text = _drop_stray_joiners(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROLS.sub("", text)
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
