"""Unicode and whitespace normalisation; documents empty afterwards are excluded."""

import re
import unicodedata

import ftfy
from datatrove.data import Document

from langmill.filters.base import CorpusFilter

_SURROGATES = re.compile("[\ud800-\udfff]")
# C0/C1 controls except tab and newline, plus zero-width and BOM characters that break words.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace but newline
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(text: str, fix_mojibake: bool = True) -> str:
    """NFC, mojibake repair, no control characters, folded spaces, at most one blank line in a row."""
    text = _SURROGATES.sub("\ufffd", text)
    if fix_mojibake:
        # ftfy repairs UTF-8 decoded as Latin-1/cp1252 ("TÃ¤mÃ¤" -> "Tämä") and applies NFC; the
        # writer's typography (curly quotes, full-width forms) is kept: it is not an error.
        text = ftfy.fix_text(
            text, normalization="NFC", unescape_html=False, fix_line_breaks=True, uncurl_quotes=False, fix_character_width=False
        )
    else:
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROLS.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


class Normalizer(CorpusFilter):
    """Normalises `doc.text` in place; drops documents that are empty afterwards (reason `empty`)."""

    name = "🧹 Normalise"
    reason = "empty"

    def check(self, doc: Document) -> str | None:
        before = len(doc.text)
        doc.text = normalize_text(doc.text, fix_mojibake=self.config.get("fix_mojibake", True))
        if not doc.text:
            return "no text left after normalisation" if before else "empty text"
        return None
