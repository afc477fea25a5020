"""Pure-Python reference of the quality filters: the plain, obviously-correct implementation.

This is the implementation `langmill/filters/quality.py` had before its statistics moved to Rust
(`src/textstats/`), kept verbatim as `Reference*Filter`, plus `*_stats` functions that compute
the integer columns of `langmill.native.*_stats` the same plain way. `tests/test_textstats.py`
checks the Rust statistics against these and the Rust-backed filters' decisions against the
reference filters. The definitions are those of `langmill.native.textstats`, implemented in
`tests/reference_text.py`.
"""

from __future__ import annotations

from collections import Counter

from datatrove.data import Document

from langmill.filters.base import CorpusFilter
from langmill.config import deep_merge, default_quality_config
from langmill.native.textstats import ELLIPSES, GARBLING_CHARS, SEPARATOR_CHARS, TERMINAL_PUNCTUATION
from reference_text import (
    count_sentences,
    doc_lines,
    ends_with_bare_ellipsis,
    ends_with_ellipsis,
    ends_with_terminal,
    is_blank,
    is_bullet_line,
    is_word_token,
    non_blank_lines,
    repetition_lines,
    repetition_paragraphs,
    tokens,
    words,
)
from langmill.filters.quality import _too_high, _too_low  # detail strings, not statistics


class _QualityFilter(CorpusFilter):
    """Fills the config from quality.yaml's section `reason` and rejects unknown keys."""

    def __init__(self, config: dict | None = None, exclusion_writer=None):
        super().__init__(config=config, exclusion_writer=exclusion_writer)
        defaults = default_quality_config()[self.reason]
        unknown = sorted(set(self.config) - set(defaults))
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown config keys {unknown}")
        self.config = {**defaults, **self.config}
        self.enabled = bool(self.config.get("enabled", True))

    def settings_for(self, n_words: int) -> tuple[dict, str]:
        """The by_length bucket with the smallest max words >= n_words (merged over the section), or the section."""
        for max_words in sorted(int(k) for k in self.config.get("by_length") or {}):
            if n_words <= max_words:
                over = {int(k): v for k, v in self.config["by_length"].items()}[max_words]
                return deep_merge(self.config, over), f" (<={max_words} words)"
        return self.config, ""

    def check(self, doc: Document) -> str | None:
        if not self.enabled:
            return None
        return self._check(doc)

    def _check(self, doc: Document) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError


class ReferenceGopherQualityFilter(_QualityFilter):
    """Plain-Python GopherQualityFilter: the rules as documented on langmill.filters.quality.GopherQualityFilter."""

    name = "🥇 Gopher quality (langmill)"
    reason = "gopher_quality"

    def __init__(self, config: dict | None = None, exclusion_writer=None):
        super().__init__(config=config, exclusion_writer=exclusion_writer)
        stop_words = list(self.config.get("stop_words") or [])
        bad = [w for w in stop_words if not isinstance(w, str)]
        if bad:  # YAML reads unquoted on/no/yes/off as booleans
            raise ValueError(f"stop_words must be strings, got {bad!r} (quote them in the YAML)")
        self.stop_words = frozenset(w.lower() for w in stop_words)

    def _check(self, doc: Document) -> str | None:
        n = sum(is_word_token(t) for t in tokens(doc.text))
        c, bucket = self.settings_for(n)
        detail = self._rules(doc.text, c)
        return detail + bucket if detail and n else detail

    def _rules(self, text: str, c: dict) -> str | None:
        toks = tokens(text)
        ws = [t for t in toks if is_word_token(t)]
        n = len(ws)
        if (d := _too_low("doc_words", n, c["min_doc_words"])) or n == 0:
            return d or "doc_words=0"
        if d := _too_high("doc_words", n, c["max_doc_words"]):
            return d
        mean_len = sum(len(w) for w in ws) / n
        if d := _too_low("mean_word_length", mean_len, c["min_mean_word_length"]):
            return d
        if d := _too_high("mean_word_length", mean_len, c["max_mean_word_length"]):
            return d
        n_tok = len(toks)
        if d := _too_high("hash_word_ratio", text.count("#") / n_tok, c["max_hash_word_ratio"]):
            return d
        n_ellipsis = sum(text.count(e) for e in ELLIPSES)
        if d := _too_high("ellipsis_word_ratio", n_ellipsis / n_tok, c["max_ellipsis_word_ratio"]):
            return d
        lines = doc_lines(text)
        if lines:
            bullets = sum(is_bullet_line(ln) for ln in lines) / len(lines)
            if d := _too_high("bullet_lines_ratio", bullets, c["max_bullet_lines_ratio"]):
                return d
            ell = sum(ends_with_bare_ellipsis(ln) for ln in lines) / len(lines)
            if d := _too_high("ellipsis_lines_ratio", ell, c["max_ellipsis_lines_ratio"]):
                return d
        alpha = sum(any(ch.isalpha() for ch in t) for t in toks) / (n if c["alpha_ratio_of"] == "words" else n_tok)
        if d := _too_low("alpha_words_ratio", alpha, c["min_alpha_words_ratio"]):
            return d
        if self.stop_words:
            n_stop = len(self.stop_words & {t.lower() for t in ws})
            if d := _too_low("stop_words", n_stop, c["min_stop_words"]):
                return d
        seps = count_separators(text, c["separator_chars"]) / n_tok
        if d := _too_high("separator_ratio", seps, c["max_separator_ratio"]):
            return d
        garbled = sum(is_garbled(t) for t in ws if any(ch.isalpha() for ch in t)) / n
        if d := _too_high("garbled_word_ratio", garbled, c["max_garbled_word_ratio"]):
            return d
        if d := _too_low("distinct_word_ratio", len({w.lower() for w in ws}) / n, c["min_distinct_word_ratio"]):
            return d
        return None


def is_garbled(token: str) -> bool:
    """ASCII digits between two letters, or a GARBLING_CHARS or private-use code point inside."""
    if any(ch in GARBLING_CHARS or 0xE000 <= ord(ch) <= 0xF8FF for ch in token):
        return True
    for i, ch in enumerate(token):
        if ch.isalpha() and i + 1 < len(token) and token[i + 1] in "0123456789":
            j = i + 1
            while j < len(token) and token[j] in "0123456789":
                j += 1
            if j < len(token) and token[j].isalpha():
                return True
    return False


def count_separators(text: str, separator_chars) -> int:
    """Tokens made only of separator characters, not first or last on their line (an empty set: 0)."""
    chars = set("".join(separator_chars or []))
    if not chars:
        return 0
    return sum(all(ch in chars for ch in t) for line in text.split("\n") for t in tokens(line)[1:-1])


def _dup_stats(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, their characters): every occurrence after the first counts."""
    seen: set[str] = set()
    n_dup = chars_dup = 0
    for it in items:
        if it in seen:
            n_dup += 1
            chars_dup += len(it)
        else:
            seen.add(it)
    return n_dup, chars_dup


def top_ngram_chars(toks: list[str], n: int) -> int:
    """datatrove's find_top_duplicate on `" ".join` n-grams of tokens: count x length of the most
    frequent n-gram, ties to the one seen first (Counter.most_common); 0 when there is none."""
    if n <= 0 or len(toks) < n:
        return 0
    counts = Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    gram, cnt = counts.most_common(1)[0]
    return cnt * (sum(len(t) for t in gram) + n - 1)


def dup_ngram_chars(toks: list[str], n: int) -> int:
    """datatrove's find_all_duplicate: characters of repeated n-grams, skipping n after each."""
    if n <= 0:
        return 0
    seen: set[tuple[str, ...]] = set()
    chars = i = 0
    while i < len(toks) - n + 1:
        gram = tuple(toks[i : i + n])
        if gram in seen:
            chars += sum(len(t) for t in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


class ReferenceGopherRepetitionFilter(_QualityFilter):
    """Plain-Python GopherRepetitionFilter: the rules as documented on langmill.filters.quality.GopherRepetitionFilter."""

    name = "👯 Gopher repetition (langmill)"
    reason = "gopher_repetition"

    def _check(self, doc: Document) -> str | None:
        text = doc.text
        if not text:
            return "empty=0"
        c, bucket = self.settings_for(sum(is_word_token(t) for t in tokens(text)))
        detail = self._rules(text, c)
        return detail + bucket if detail else None

    def _rules(self, text: str, c: dict) -> str | None:
        n_chars = len(text)
        for unit, parts in (("para", repetition_paragraphs(text)), ("line", repetition_lines(text))):
            n_dup, chars_dup = _dup_stats(parts)
            if d := _too_high(f"dup_{unit}_frac", n_dup / len(parts), c[f"max_dup_{unit}_frac"]):
                return d
            if d := _too_high(f"dup_{unit}_char_frac", chars_dup / n_chars, c[f"max_dup_{unit}_char_frac"]):
                return d
        toks = tokens(text)
        for n, limit in sorted((int(k), v) for k, v in (c["max_top_ngram_char_frac"] or {}).items()):
            if d := _too_high(f"top_{n}gram_char_frac", top_ngram_chars(toks, n) / n_chars, limit):
                return d
        for n, limit in sorted((int(k), v) for k, v in (c["max_dup_ngram_char_frac"] or {}).items()):
            if d := _too_high(f"dup_{n}gram_char_frac", dup_ngram_chars(toks, n) / n_chars, limit):
                return d
        return None


class ReferenceC4Filter(_QualityFilter):
    """Plain-Python C4Filter: the rules as documented on langmill.filters.quality.C4Filter."""

    name = "⛰ C4 quality (langmill)"
    reason = "c4"

    def __init__(self, config: dict | None = None, exclusion_writer=None):
        super().__init__(config=config, exclusion_writer=exclusion_writer)
        c = self.config
        self.terminal = tuple(c["terminal_punctuation"])
        self.js = tuple(s.lower() for s in c["javascript_substrings"] or [])
        self.policy = tuple(s.lower() for s in list(c["policy_substrings"] or []) + list(c["extra_policy_substrings"] or []))

    def _line_rule(self, line: str) -> str | None:
        c = self.config
        ws = words(line)
        if c["max_word_length"] is not None and any(len(w) > c["max_word_length"] for w in ws):
            return "long_word"
        if c["remove_no_terminal_punct_lines"] and not ends_with_terminal(line, self.terminal):
            return "no_terminal_punct"
        if c["remove_ellipsis_lines"] and ends_with_ellipsis(line):
            return "ellipsis"
        if c["min_words_per_line"] is not None and len(ws) < c["min_words_per_line"]:
            return "few_words"
        low = line.lower()
        if c["drop_lorem_ipsum"] and "lorem ipsum" in low:
            return "lorem_ipsum"
        if any(s in low for s in self.js):
            return "javascript"
        if c["drop_curly_bracket"] and "{" in line:
            return "curly_bracket"
        if any(s in low for s in self.policy):
            return "policy"
        return None

    def _check(self, doc: Document) -> str | None:
        c = self.config
        text = doc.text
        kept: list[str] = []
        removed: Counter[str] = Counter()
        for line in text.split("\n"):
            if is_blank(line):
                if kept and kept[-1] != "":
                    kept.append("")
                continue
            rule = self._line_rule(line)
            if rule == "lorem_ipsum":
                doc.metadata["c4_lines_removed"] = 0
                return f"lorem_ipsum={text.lower().count('lorem ipsum')}"
            if rule == "curly_bracket":
                doc.metadata["c4_lines_removed"] = 0
                return f"curly_bracket={text.count('{')}"
            if rule is None:
                kept.append(line)
            else:
                removed[rule] += 1
        while kept and kept[-1] == "":
            kept.pop()
        n_removed = sum(removed.values())
        doc.metadata["c4_lines_removed"] = n_removed
        new_text = "\n".join(kept) if n_removed else text
        n_sent = count_sentences(new_text, self.terminal)
        if d := _too_low("sentences", n_sent, c["min_sentences"]):
            if removed:
                d += " (removed lines: " + ", ".join(f"{k}={v}" for k, v in sorted(removed.items())) + ")"
            return d  # a dropped doc keeps its original text, for excluded/
        doc.text = new_text
        if n_removed:
            self.stat_update("lines_removed", value=n_removed)
        return None


class ReferenceFineWebQualityFilter(_QualityFilter):
    """Plain-Python FineWebQualityFilter: the rules as documented on langmill.filters.quality.FineWebQualityFilter."""

    name = "🍷 FineWeb quality (langmill)"
    reason = "fineweb_quality"

    def _check(self, doc: Document) -> str | None:
        c = self.config
        text = doc.text
        lines = non_blank_lines(text)
        if not lines:
            return "empty=0"
        punct = sum(ends_with_terminal(ln, c["terminal_punctuation"]) for ln in lines) / len(lines)
        if not (c["line_punct_exclude_zero"] and punct == 0):
            if d := _too_low("line_punct_ratio", punct, c["min_line_punct_ratio"]):
                return d
        short = sum(len(ln) <= c["short_line_length"] for ln in lines) / len(lines)
        if d := _too_high("short_line_ratio", short, c["max_short_line_ratio"]):
            return d
        _, chars_dup = _dup_stats(lines)
        n_chars = len(text.replace("\n", ""))
        if d := _too_high("dup_line_char_ratio", chars_dup / max(n_chars, 1), c["max_dup_line_char_ratio"]):
            return d
        n_words = len(words(text))
        ratio = text.count("\n") / n_words if n_words else float("inf")
        if d := _too_high("newline_word_ratio", ratio, c["max_newline_word_ratio"]):
            return d
        return None


# --------------------------------------------------------------------------- statistics


def gopher_quality_stats(text: str, stop_words=frozenset(), separator_chars=SEPARATOR_CHARS) -> list[int]:
    """native.GOPHER_QUALITY_COLUMNS."""
    toks = tokens(text)
    ws = [t for t in toks if is_word_token(t)]
    lines = doc_lines(text)
    return [
        len(ws),
        sum(len(w) for w in ws),
        len(toks),
        text.count("#"),
        sum(text.count(e) for e in ELLIPSES),
        len(lines),
        sum(is_bullet_line(ln) for ln in lines),
        sum(ends_with_bare_ellipsis(ln) for ln in lines),
        sum(any(ch.isalpha() for ch in t) for t in toks),
        len(stop_words & {w.lower() for w in ws}) if stop_words else 0,
        count_separators(text, separator_chars),
        sum(is_garbled(t) for t in toks if any(ch.isalpha() for ch in t)),
        len({w.lower() for w in ws}),
    ]


def gopher_repetition_stats(text: str, top_ns=(2, 3, 4), dup_ns=(5, 6, 7, 8, 9, 10)) -> list[int]:
    """native.GOPHER_REPETITION_COLUMNS, then the top and dup n-gram numerators."""
    paras = repetition_paragraphs(text)
    lines = repetition_lines(text)
    n_dup_para, dup_para_chars = _dup_stats(paras)
    n_dup_line, dup_line_chars = _dup_stats(lines)
    toks = tokens(text)
    return [
        len(paras), n_dup_para, dup_para_chars,
        len(lines), n_dup_line, dup_line_chars,
        len(text),
        sum(is_word_token(t) for t in toks),
        *[top_ngram_chars(toks, n) for n in top_ns],
        *[dup_ngram_chars(toks, n) for n in dup_ns],
    ]  # fmt: skip


def c4_stats(text: str, config: dict) -> tuple[list[int], str | None]:
    """(native.C4_COLUMNS, kept text or None when no line was removed) for a full c4 config."""
    c = config
    flt = ReferenceC4Filter(config=c)
    kept: list[str] = []
    removed = Counter()
    for line in text.split("\n"):
        if is_blank(line):
            if kept and kept[-1] != "":
                kept.append("")
            continue
        rule = flt._line_rule(line)
        if rule == "lorem_ipsum":
            return [text.lower().count("lorem ipsum")] + [0] * 8, None
        if rule == "curly_bracket":
            return [0, text.count("{")] + [0] * 7, None
        if rule is None:
            kept.append(line)
        else:
            removed[rule] += 1
    while kept and kept[-1] == "":
        kept.pop()
    n_removed = sum(removed.values())
    new_text = "\n".join(kept) if n_removed else text
    rules = ["long_word", "no_terminal_punct", "ellipsis", "few_words", "javascript", "policy"]
    row = [0, 0, *[removed[r] for r in rules], count_sentences(new_text, flt.terminal)]
    return row, (new_text if n_removed else None)


def fineweb_quality_stats(text: str, terminal=TERMINAL_PUNCTUATION, short_line_length: int = 30) -> list[int]:
    """native.FINEWEB_QUALITY_COLUMNS."""
    lines = non_blank_lines(text)
    return [
        len(lines),
        sum(ends_with_terminal(ln, terminal) for ln in lines),
        sum(len(ln) <= short_line_length for ln in lines),
        _dup_stats(lines)[1],
        len(text.replace("\n", "")),
        text.count("\n"),
        len(words(text)),
    ]

