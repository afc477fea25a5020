"""Quality-filter text statistics (src/textstats/, C ABI `lm_textstats`) and the text units they count.

The definitions below are the contract of the Rust kernel, which reproduces them exactly;
`tests/reference_text.py` implements them plainly in Python and `tests/test_textstats.py` compares
the two. Everything is defined on Unicode code points (Python `str` indexing), never bytes.
Character classes use the Unicode General Category as shipped with the running Python
(`unicodedata.unidata_version`, 14.0.0 on Python 3.11), written to src/word_tables.rs by
scripts/gen_unicode_tables.py.

Definitions
-----------
word character
    A code point whose General Category starts with L, M or N (letters Lu Ll Lt Lm Lo, marks
    Mn Mc Me, numbers Nd Nl No). Marks are included so that scripts with combining vowel signs
    (Devanagari, Bengali, ...) do not split words apart. Note this is *not* `str.isalnum()`
    (which excludes marks) and not Rust's `char::is_alphanumeric()` (which uses the Alphabetic
    property); the Rust kernel reads a General Category table (src/word_tables.rs).
joiner
    One of the six code points in `WORD_JOINERS`: U+0027 ' APOSTROPHE, U+2019 ’ RIGHT SINGLE
    QUOTATION MARK, U+002D - HYPHEN-MINUS, U+2010 ‐ HYPHEN, U+003A : COLON, U+002E . FULL STOP.
word
    A maximal run of word characters, where a single joiner that has a word character
    immediately on *both* sides is part of the word. So "EU:ssa", "rock'n'roll", "Pekin-era",
    "4.5" and "www.yle.fi" are one word each; "pakkasessa ." gives one word, "--" and "'quoted'"
    give no joiner-attached edges ("'quoted'" -> "quoted"). Two joiners in a row split
    ("a--b" -> "a", "b"). Everything else (spaces, punctuation, symbols, emoji) separates words
    and is never part of one. Word length is its number of code points.
normalised word
    `word.lower()` (Python semantics: full Unicode lowercase mapping, final-sigma aware). Used for
    stop words and n-grams.
line
    `text.split("\\n")`: every piece between U+000A characters, including empty ones. Nothing else
    (no U+2028, no CR handling: the text reaching the filters has been normalised).
blank line
    A line for which `line.strip() == ""` (Python `str.isspace` whitespace).
paragraph
    A maximal run of consecutive non-blank lines, joined back with "\\n". Blank lines separate
    paragraphs; any number of them counts as one separator.
sentence (used by C4's minimum-sentence rule)
    Within one line: a *terminator* is a maximal run of terminal-punctuation characters (see
    `TERMINAL_PUNCTUATION`) optionally followed by closing characters (`CLOSING_CHARS`), that is
    followed by whitespace or the end of the line. The line is cut after each terminator; each
    piece (including a trailing piece with no terminator) that contains at least one word
    character is one sentence. The sentence count of a text is the sum over its lines. This
    over-counts abbreviations ("esim. näin" = 2) and is good enough for a minimum-count rule.
token (Gopher quality, Gopher repetition: datatrove counts spaCy tokens, punctuation included)
    A fast approximation of the spaCy blank-tokenizer tokens datatrove uses: split the text on
    whitespace (`str.split()`); from each chunk peel off leading and trailing non-word code
    points, each as its own token except that a run of two or more "." is one token ("...");
    what remains (it starts and ends with a word character) is cut at every character of
    `TOKEN_INFIXES` that has a word character immediately on both sides, that character being a
    token of its own ("Modify/New" -> "Modify", "/", "New"; "any[0" -> "any", "[", "0"). So
    "(Pekin-era)." gives "(", "Pekin-era", ")", "." and "EU:ssa" stays one token. Measured on
    the benchmark documents: 0.7 % more tokens than spaCy "fi", identical token lists for 65 %
    of documents, counts within 1 % for 80 %.
separator token (Gopher quality's separator ratio, langmill's own rule)
    A token every code point of which is in the separator set (default `SEPARATOR_CHARS`) and
    that has another token before and after it on its line (`text.split("\n")`): with the
    default set, one of the punctuation tokens "|", ">", "»" ... that join the items of menus,
    breadcrumbs and footers ("Etusivu | Uutiset", "Koti » Blogi"). The line's first and last
    tokens do not count, so a Markdown table's outer "|", a "> quoted" line or a "• item" does not.
garbled word (Gopher quality's garbled-word ratio, langmill's own rule)
    A token holding a letter (General Category L*) in which ASCII digits stand between two letters
    ("koi5ra", "tal0n"), or which holds a `GARBLING_CHARS` character ("ko~ira", "sa|na") or a
    private-use one (U+E000-U+F8FF, left by a legacy font encoding): what OCR confusions leave.
    Not garbled: "B4", "CO2", "COVID-19", "2020:ssa", Basque "2007an", "1st" (no letter after the
    digits), and the notation of math, code, units and keys ("x^2", "a_b", "4°C", "Ctrl+A", "AT&T").
word token
    A token holding at least one word character (datatrove's "non-symbol word": any character
    outside its punctuation set). Gopher's document length and mean word length count these.
document lines (Gopher quality)
    `text.splitlines()` as datatrove does, for text whose only line break is U+000A:
    `text.split("\n")` without the final empty piece when the text ends with "\n"; blank lines
    count. A bullet line starts, after leading whitespace, with a `BULLET_CHARS` character; an
    ellipsis line ends, before trailing whitespace, with "..." or "…" (closing quotes not skipped).
repetition paragraphs and lines (Gopher repetition, datatrove's definitions)
    Paragraphs: `re.split(r"\n{2,}", text.strip())`; lines: `re.split("\n+", text)` (not
    stripped; a leading or trailing newline gives an empty first or last piece). An item is a
    duplicate when an equal item came earlier; its characters count, and every character fraction
    divides by `len(text)`.
repetition n-grams (datatrove's constructions, on tokens, case kept)
    Top n-gram: of the n-grams of consecutive tokens (overlapping), the most frequent one, ties
    going to the one that occurs first; its value is count x (sum of its token lengths + n - 1),
    the length of `" ".join(ngram)` times its count, even when it occurs once. Duplicate
    n-grams: scan i = 0, 1, ...; when the n-gram at i equals an earlier-seen n-gram, add the sum of
    its token lengths and jump to i + n, else remember it and go to i + 1 (datatrove's
    `find_all_duplicate`; n-grams compare as token tuples, where datatrove compares the joined
    strings, which only differs when different tokenisations concatenate to the same text).
line ends with terminal punctuation
    After removing trailing whitespace and then trailing `CLOSING_CHARS` (closing quotes and
    brackets), the line is non-empty and its last code point is in the given terminal set.
    ("Hän sanoi: ”Tule.”" ends with "."; a bare closing quote alone does not count.)

Results are integer counts per document; the filters in langmill/filters/quality.py divide them
and compare with their thresholds (the plain reference: tests/reference_quality.py). Lone
surrogates in Python strings are passed through (UTF-8 "surrogatepass") and count as one
non-word, non-space code point, as in Python; replacing them by "?" (the minhash fallback) would
add terminal punctuation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from langmill.native._abi import _buffers, _check, _check_int, _text_chunks, _threads, ffi, lib

__all__ = [
    "C4_COLUMNS", "FINEWEB_QUALITY_COLUMNS", "GOPHER_QUALITY_COLUMNS", "GOPHER_REPETITION_COLUMNS",
    "c4_stats", "fineweb_quality_stats", "gopher_quality_stats", "gopher_repetition_stats",
]  # fmt: skip

WORD_JOINERS = frozenset("'\u2019-\u2010:.")

# Characters that OCR confusions put inside words and well-formed text does not (not "^" "_" "\\" "+"
# "&" "°": math, code, units and key names use them inside words).
GARBLING_CHARS = frozenset("|!;`~")

# Characters that split a token when a word character is on both sides (spaCy's infixes, simplified).
TOKEN_INFIXES = frozenset(',!?()[]<>=/"\u00ab\u00bb\u201c\u201d\u201e')

# Sentence-final punctuation across scripts; languages may override it in their config. The Greek
# question mark U+037E is absent on purpose: NFC turns it into ";", which ends no sentence elsewhere.
TERMINAL_PUNCTUATION = (
    ".",  # Latin, Cyrillic, Greek ...
    "!",
    "?",
    "\u2026",  # … horizontal ellipsis
    "\u203c",  # ‼
    "\u2047",  # ⁇
    "\u2048",  # ⁈
    "\u2049",  # ⁉
    "\u0589",  # ։ Armenian full stop
    "\u061f",  # ؟ Arabic question mark
    "\u06d4",  # ۔ Arabic full stop (Urdu)
    "\u0964",  # । Devanagari danda
    "\u0965",  # ॥ Devanagari double danda
    "\u104b",  # ။ Myanmar section
    "\u1362",  # ። Ethiopic full stop
    "\u1367",  # ፧ Ethiopic question mark
    "\u17d4",  # ។ Khmer khan
    "\u3002",  # 。 ideographic full stop
    "\uff01",  # ！ fullwidth exclamation
    "\uff1f",  # ？ fullwidth question mark
    "\uff0e",  # ． fullwidth full stop
    "\uff61",  # ｡ halfwidth ideographic full stop
)

# Closing quotes and brackets that may follow a sentence's final punctuation. Both “ and ” are
# here because German closes with “ and Finnish/Swedish use ” on both sides; both « and » because
# Danish quotes »like this« while French quotes «like this».
CLOSING_CHARS = "\"'\u201d\u201c\u2019\u2018\u00bb\u00ab\u203a\u2039)]\u300d\u300f\uff09"

# Characters that mark a bulleted line when they are the first non-space character: Gopher's (and
# datatrove's) bullet "•" and the hyphen-minus.
BULLET_CHARS = frozenset("•-")

ELLIPSES = ("...", "\u2026")

# Characters that join menu items, breadcrumbs and footers on web pages; boilerplate detectors
# (jusText, boilerpipe) use the same link/separator density. A token made only of these counts as a
# separator. Left out on purpose, because well-formed text uses them as a matter of course: "/"
# (paths, URLs, "ja/tai", fractions: chat answers and help pages), "\\" (Windows paths), "-" and the
# dashes "–" "—" (Finnish and Estonian set off clauses with a spaced en dash; bullet lists), and
# the opening quotes "«" "‹" (so French or Danish quotations count once, by their closing mark).
SEPARATOR_CHARS = frozenset(
    "|"  # "Etusivu | Uutiset | Urheilu"
    "\u00a6"  # ¦ broken bar
    ">"  # breadcrumbs "Koti > Palvelut > Hinnasto"
    "\u00bb"  # » breadcrumbs (WordPress/Yoast's default), "Lue lisää »"
    "\u203a"  # › breadcrumbs
    "\u00b7"  # · footers "Ehdot · Tietosuoja"
    "\u2022"  # • "Etusivu • Uutiset"
    "\u00a9"  # © "© 2023 Yritys"
)


GOPHER_QUALITY_COLUMNS = (
    "n_words", "word_chars", "n_tokens", "n_hash", "n_ellipsis", "n_lines", "n_bullet_lines",
    "n_ellipsis_lines", "n_alpha_words", "n_stop_words", "n_separators", "n_garbled_words",
    "n_distinct_words",
)  # fmt: skip
# ... followed by one column per top n ("top_<n>gram_chars": count * len(" ".join(ngram)) of the
# most frequent token n-gram, ties to the first seen) and per dup n ("dup_<n>gram_chars":
# datatrove's find_all_duplicate). Every fraction divides by n_chars = len(text).
GOPHER_REPETITION_COLUMNS = (
    "n_paras", "n_dup_paras", "dup_para_chars", "n_lines", "n_dup_lines", "dup_line_chars", "n_chars", "n_words",
)  # fmt: skip
C4_COLUMNS = (
    "lorem_ipsum", "curly_bracket", "long_word", "no_terminal_punct", "ellipsis",
    "few_words", "javascript", "policy", "sentences",
)  # fmt: skip
FINEWEB_QUALITY_COLUMNS = (
    "n_lines", "n_punct_lines", "n_short_lines", "dup_line_chars", "n_chars", "n_newlines", "n_words",
)  # fmt: skip

_KIND_GOPHER_QUALITY, _KIND_GOPHER_REPETITION, _KIND_C4, _KIND_FINEWEB_QUALITY = 1, 2, 3, 4


def _encode_lists(lists: list) -> tuple[bytes, np.ndarray]:
    """The `lists` buffer and `list_counts` of lm_textstats. An item holding a newline can never
    match inside one line, so it is left out (callers pass char sets as separate lists)."""
    items: list[bytes] = []
    counts = []
    for lst in lists:
        keep = [s for s in lst if "\n" not in s]
        items += [s.encode("utf-8", errors="surrogatepass") + b"\n" for s in keep]
        counts.append(len(keep))
    return b"".join(items), np.asarray(counts, dtype=np.uint32)


def _textstats(kind: int, texts: Any, lists: list, params: list[int], n_cols: int, threads: int, want_text: bool = False):
    threads = _threads(threads)
    chunks = _text_chunks(texts, errors="surrogatepass")
    n = sum(len(c) for c in chunks)
    out = np.zeros((n, n_cols), dtype=np.int64)
    kept: list[str | None] | None = [None] * n if want_text else None
    lists_buf, counts = _encode_lists(lists)
    par = np.asarray(params, dtype=np.int64)
    lists_ptr = ffi.from_buffer("uint8_t[]", lists_buf) if lists_buf else ffi.NULL
    counts_ptr = ffi.cast("uint32_t *", counts.ctypes.data) if counts.size else ffi.NULL
    par_ptr = ffi.cast("int64_t *", par.ctypes.data) if par.size else ffi.NULL
    row = 0
    null_rows = []
    for chunk in chunks:
        m = len(chunk)
        if m == 0:
            continue
        off_ptr, data_ptr = _buffers(chunk)
        text_len = text_buf = None
        if want_text:
            offs = np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=m + 1, offset=chunk.offset * 8)
            text_len = np.empty(m, dtype=np.int64)
            text_buf = np.empty(max(int(offs[-1] - offs[0]), 1), dtype=np.uint8)
        code = lib.lm_textstats(
            kind, off_ptr, data_ptr, m, lists_ptr, len(lists_buf), counts_ptr, len(counts), par_ptr, len(par),
            threads, ffi.cast("int64_t *", out.ctypes.data) + row * n_cols, n_cols,
            ffi.cast("int64_t *", text_len.ctypes.data) if want_text else ffi.NULL,
            ffi.cast("uint8_t *", text_buf.ctypes.data) if want_text else ffi.NULL,
        )  # fmt: skip
        _check(code, "lm_textstats")
        if want_text:
            for i in np.flatnonzero(text_len >= 0).tolist():
                start = int(offs[i] - offs[0])
                raw = text_buf[start : start + int(text_len[i])].tobytes()
                try:
                    kept[row + i] = raw.decode("utf-8", errors="surrogatepass")
                except UnicodeDecodeError:  # invalid UTF-8 from a foreign Arrow array
                    kept[row + i] = raw.decode("utf-8", errors="replace")
        if chunk.null_count:
            null_rows += (row + np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False))).tolist()
        row += m
    if null_rows:  # a null slot may cover bytes: give it the empty document's statistics
        empty = _textstats(kind, [""], lists, params, n_cols, 1, want_text)
        out[null_rows] = (empty[0] if want_text else empty)[0]
        for r in null_rows:
            if kept is not None:
                kept[r] = None
    return (out, kept) if want_text else out


def _char_list(chars) -> list[str]:
    return [ch for ch in "".join(chars) if ch != "\n"]


def gopher_quality_stats(
    texts: Any, *, stop_words=(), bullet_chars=None, closing_chars=None, separator_chars=None, threads: int = 0
) -> np.ndarray:
    """int64 (n, 13) in GOPHER_QUALITY_COLUMNS order (n_distinct_words: distinct `str.lower()` word tokens). `stop_words` must already be normalised
    (`str.lower()`); an empty list gives n_stop_words = 0 (else the number of distinct ones). Bullets, closing characters
    and separators default to BULLET_CHARS, CLOSING_CHARS and SEPARATOR_CHARS (an empty set: n_separators = 0)."""
    lists = [
        _char_list(BULLET_CHARS if bullet_chars is None else bullet_chars),
        _char_list(CLOSING_CHARS if closing_chars is None else closing_chars),
        [str(w) for w in stop_words],
        _char_list(SEPARATOR_CHARS if separator_chars is None else separator_chars),
    ]
    return _textstats(_KIND_GOPHER_QUALITY, texts, lists, [], len(GOPHER_QUALITY_COLUMNS), threads)


def gopher_repetition_stats(texts: Any, *, top_ns=(2, 3, 4), dup_ns=(5, 6, 7, 8, 9, 10), threads: int = 0) -> np.ndarray:
    """int64 (n, 8 + len(top_ns) + len(dup_ns)): GOPHER_REPETITION_COLUMNS (n_words: word tokens), then
    count * len(" ".join(ngram)) of the most frequent token n-gram per top n, then the
    characters of repeated token n-grams per dup n (find_all_duplicate). Fractions divide by n_chars."""
    top = [_check_int("top n", x, 0, 2**31) for x in top_ns]
    dup = [_check_int("dup n", x, 0, 2**31) for x in dup_ns]
    n_cols = len(GOPHER_REPETITION_COLUMNS) + len(top) + len(dup)
    return _textstats(_KIND_GOPHER_REPETITION, texts, [], [len(top), *top, *dup], n_cols, threads)


def _floor_limit(x, none_value: int) -> int:
    if x is None:
        return none_value
    return max(min(math.floor(x), 2**62), -(2**62))


def c4_stats(
    texts: Any,
    *,
    terminal_punctuation=None,
    closing_chars=None,
    javascript_substrings=(),
    policy_substrings=(),
    max_word_length=1000,
    remove_no_terminal_punct_lines: bool = True,
    remove_ellipsis_lines: bool = True,
    min_words_per_line=5,
    drop_lorem_ipsum: bool = True,
    drop_curly_bracket: bool = True,
    kept_text: bool = True,
    threads: int = 0,
):
    """int64 (n, 9) in C4_COLUMNS order, and (with kept_text) a list with, for each document
    whose lines were removed, its kept text (else None). Substrings must be lowercased already.
    lorem_ipsum / curly_bracket are 0 unless that whole-document rule fired (on a line the earlier
    rules kept, datatrove's order); then they hold the count in the whole text and the other
    columns are 0."""
    terminal = list(TERMINAL_PUNCTUATION if terminal_punctuation is None else terminal_punctuation)
    lists = [
        terminal,
        _char_list(terminal),
        _char_list(CLOSING_CHARS if closing_chars is None else closing_chars),
        list(javascript_substrings),
        list(policy_substrings),
    ]
    params = [
        _floor_limit(max_word_length, 2**62),
        int(bool(remove_no_terminal_punct_lines)),
        int(bool(remove_ellipsis_lines)),
        -_floor_limit(None if min_words_per_line is None else -min_words_per_line, 0),  # ceil
        int(bool(drop_lorem_ipsum)),
        int(bool(drop_curly_bracket)),
    ]
    return _textstats(_KIND_C4, texts, lists, params, len(C4_COLUMNS), threads, want_text=kept_text)


def fineweb_quality_stats(texts: Any, *, terminal_punctuation=None, closing_chars=None, short_line_length=30, threads: int = 0) -> np.ndarray:
    """int64 (n, 7) in FINEWEB_QUALITY_COLUMNS order."""
    terminal = list(TERMINAL_PUNCTUATION if terminal_punctuation is None else terminal_punctuation)
    lists = [terminal, _char_list(CLOSING_CHARS if closing_chars is None else closing_chars)]
    params = [_floor_limit(short_line_length, 2**62)]
    return _textstats(_KIND_FINEWEB_QUALITY, texts, lists, params, len(FINEWEB_QUALITY_COLUMNS), threads)
