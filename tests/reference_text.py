"""Plain Python implementation of the text units the quality statistics count.

The definitions (word, token, line, paragraph, sentence, ...) are the module docstring of
`langmill.native.textstats`, the contract of the Rust kernel (src/textstats/); this is their
slow, obviously-correct implementation, used by tests/reference_quality.py and the tests.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from langmill.native.textstats import BULLET_CHARS, CLOSING_CHARS, ELLIPSES, TERMINAL_PUNCTUATION, TOKEN_INFIXES, WORD_JOINERS


def is_word_char(ch: str) -> bool:
    """True for a code point of General Category L*, M* or N*."""
    return unicodedata.category(ch)[0] in "LMN"


def words(text: str) -> list[str]:
    """The words of `text`, in order (exact definition: langmill.native.textstats)."""
    out: list[str] = []
    n = len(text)
    i = 0
    while i < n:
        if not is_word_char(text[i]):
            i += 1
            continue
        start = i
        i += 1
        while i < n:
            ch = text[i]
            if is_word_char(ch):
                i += 1
            elif ch in WORD_JOINERS and i + 1 < n and is_word_char(text[i + 1]):
                i += 2
            else:
                break
        out.append(text[start:i])
    return out


def tokens(text: str) -> list[str]:
    """The tokens of `text`, in order (see langmill.native.textstats)."""
    out: list[str] = []
    for chunk in text.split():
        i, j = 0, len(chunk)
        pre: list[str] = []
        suf: list[str] = []
        while i < j and not is_word_char(chunk[i]):
            if chunk[i] == "." and i + 1 < j and chunk[i + 1] == ".":
                s = i
                while i < j and chunk[i] == ".":
                    i += 1
                pre.append(chunk[s:i])
            else:
                pre.append(chunk[i])
                i += 1
        while j > i and not is_word_char(chunk[j - 1]):
            if chunk[j - 1] == "." and j - 2 >= i and chunk[j - 2] == ".":
                e = j
                while j > i and chunk[j - 1] == ".":
                    j -= 1
                suf.append(chunk[j:e])
            else:
                suf.append(chunk[j - 1])
                j -= 1
        out += pre
        s = i
        for k in range(i + 1, j - 1):
            if chunk[k] in TOKEN_INFIXES and is_word_char(chunk[k - 1]) and is_word_char(chunk[k + 1]):
                out.append(chunk[s:k])
                out.append(chunk[k])
                s = k + 1
        if s < j:
            out.append(chunk[s:j])
        out += suf[::-1]
    return out


def is_word_token(token: str) -> bool:
    return any(is_word_char(ch) for ch in token)


def doc_lines(text: str) -> list[str]:
    """Gopher quality's lines: `text.splitlines()` for "\n"-only text (blank lines included)."""
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return parts


def ends_with_bare_ellipsis(line: str) -> bool:
    """Gopher quality's ellipsis line: "..." or "…" before trailing whitespace."""
    return line.rstrip().endswith(ELLIPSES)


def repetition_paragraphs(text: str) -> list[str]:
    return re.split(r"\n{2,}", text.strip())


def repetition_lines(text: str) -> list[str]:
    return re.split("\n+", text)


def lines(text: str) -> list[str]:
    """All lines, blank ones included: `text.split("\\n")`."""
    return text.split("\n")


def is_blank(line: str) -> bool:
    return line.strip() == ""


def non_blank_lines(text: str) -> list[str]:
    """The non-blank lines, with surrounding whitespace stripped."""
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def paragraphs(text: str) -> list[str]:
    """Maximal runs of non-blank lines, each joined with "\\n" (lines stripped)."""
    out: list[str] = []
    current: list[str] = []
    for ln in text.split("\n"):
        s = ln.strip()
        if s:
            current.append(s)
        elif current:
            out.append("\n".join(current))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def ends_with_terminal(line: str, terminal: Iterable[str] = TERMINAL_PUNCTUATION) -> bool:
    """Whether the line ends with terminal punctuation, closing quotes/brackets allowed after it."""
    core = line.rstrip().rstrip(CLOSING_CHARS)
    return bool(core) and core.endswith(tuple(terminal))


def ends_with_ellipsis(line: str) -> bool:
    core = line.rstrip().rstrip(CLOSING_CHARS)
    return core.endswith(ELLIPSES)


def is_bullet_line(line: str) -> bool:
    s = line.lstrip()
    return bool(s) and s[0] in BULLET_CHARS


def count_sentences(text: str, terminal: Iterable[str] = TERMINAL_PUNCTUATION) -> int:
    """Number of sentences in `text` (see langmill.native.textstats)."""
    term = set("".join(terminal))
    closers = set(CLOSING_CHARS)
    total = 0
    for ln in text.split("\n"):
        n = len(ln)
        has_word = False
        i = 0
        while i < n:
            ch = ln[i]
            if ch in term:
                j = i
                while j < n and ln[j] in term:
                    j += 1
                while j < n and ln[j] in closers:
                    j += 1
                if j == n or ln[j].isspace():
                    if has_word:
                        total += 1
                    has_word = False
                i = j
                continue
            if is_word_char(ch):
                has_word = True
            i += 1
        if has_word:
            total += 1
    return total
