"""Heuristic quality filters: Gopher quality, Gopher repetition, C4 and FineWeb.

Build a filter for a language with `Cls.for_language("fi")` (langmill's settings for it: stop words,
word lengths, ...; keyword arguments override single thresholds), or as `Cls(config=<section dict>)`,
where missing keys fall back to `configs/quality.yaml`, the language-neutral defaults (so `Cls()` has
no stop-word rule); unknown keys raise ValueError. The class names are datatrove's, the arguments
are not: these take langmill's sections (`langmill corpus --print-config`). The rules
follow Gopher (Rae et al. 2021), C4 (Raffel et al. 2020) and FineWeb / FineWeb-2 (Penedo et al.
2024, 2025); per-language settings live in `configs/languages/<code>.yaml`. All counts use the
word/line/paragraph/sentence definitions of `langmill.native.textstats`.

`check` returns None to keep a document or a detail string "<rule>=<value><op><threshold>".

The statistics are computed by the Rust core (`langmill.native.*_stats`, src/textstats/), one
call per batch of `batch_size` documents (datatrove's `filter_batch`); the thresholds are compared
here. The plain Python implementation these must agree with is `tests/reference_quality.py`.
"""

from __future__ import annotations

from collections import Counter

from datatrove.data import Document
from loguru import logger

from langmill import native
from langmill.filters.base import CorpusFilter
from langmill.config import NOT_BY_LENGTH, default_quality_config, deep_merge, load_quality_config
from langmill.native.textstats import BULLET_CHARS, CLOSING_CHARS

DEFAULT_BATCH_SIZE = 256


def _int_ngram_keys(config: dict) -> dict:
    """The n-gram threshold mappings with int keys (YAML gives ints, JSON strings)."""
    for key in ("max_top_ngram_char_frac", "max_dup_ngram_char_frac"):
        if key in config:
            config[key] = {int(n): v for n, v in (config[key] or {}).items()}
    return config


def _fmt(x: float) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _too_high(name: str, value: float, limit) -> str | None:
    if limit is not None and value > limit:
        return f"{name}={_fmt(value)}>{limit}"
    return None


def _too_low(name: str, value: float, limit) -> str | None:
    if limit is not None and value < limit:
        return f"{name}={_fmt(value)}<{limit}"
    return None


class _QualityFilter(CorpusFilter):
    """Fills the config from quality.yaml's section `reason` and rejects unknown keys.

    `batch_size` documents go to Rust in one call (`filter_batch`); `threads` is the number of
    Rust threads per call (0 = all cores; use 1 when every core already runs its own task)."""

    def __init__(self, config: dict | None = None, exclusion_writer=None, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0):
        super().__init__(config=config, exclusion_writer=exclusion_writer)
        defaults = default_quality_config()[self.reason]
        unknown = sorted(set(self.config) - set(defaults))
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown config keys {unknown}")
        self.config = _int_ngram_keys({**defaults, **self.config})
        self._by_length = self._length_buckets()
        self.enabled = bool(self.config.get("enabled", True))
        self.batch_size = max(int(batch_size), 1)
        self.threads = threads

    def _length_buckets(self) -> list[tuple[int, dict]]:
        """`by_length` as (max words, the section's settings for documents of at most that many word
        tokens), shortest first: a statistic like the top 2-gram's share falls with length (one 2-gram
        is a large part of a 20-word text), so short documents may need their own thresholds."""
        buckets = []
        for max_words, over in sorted((self.config.get("by_length") or {}).items(), key=lambda kv: int(kv[0])):
            bad = sorted(set(over or {}) - (set(self.config) - NOT_BY_LENGTH))
            if bad:
                raise ValueError(f"{type(self).__name__}: by_length.{max_words}: {bad} cannot be set per length")
            buckets.append((int(max_words), _int_ngram_keys(deep_merge(self.config, over or {}))))
        return buckets

    def thresholds(self, n_words: int) -> tuple[dict, str]:
        """(the settings for a document of `n_words` word tokens, the detail's suffix naming its bucket)."""
        for max_words, config in self._by_length:
            if n_words <= max_words:
                return config, f" (<={max_words} words)"
        return self.config, ""

    @classmethod
    def for_language(cls, lang: str, exclusion_writer=None, **settings):
        """The filter with langmill's settings for `lang` (any spelling: "fi", "fin", "fin_Latn"),
        `settings` overriding single ones (`GopherQualityFilter.for_language("fi", min_doc_words=30)`).
        A language without settings of its own gets the language-neutral defaults, with a warning."""
        config, known = load_quality_config(lang, {cls.reason: settings})
        if not known:
            logger.warning(f"{cls.__name__}: no quality settings for {lang!r}; using language-neutral defaults (no stop-word rule)")
        return cls(config=config[cls.reason], exclusion_writer=exclusion_writer)

    def check(self, doc: Document) -> str | None:
        if not self.enabled:
            return None
        return self._check_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        if not self.enabled:
            return [True] * len(batch)
        out: list[bool | tuple[bool, str]] = []
        for doc, detail in zip(batch, self._check_batch(batch)):
            if detail is None:
                out.append(True)
            else:
                doc.metadata["reason"] = self.reason
                doc.metadata["detail"] = detail
                out.append((False, self.reason))
        return out

    def _check_batch(self, docs: list[Document]) -> list[str | None]:  # pragma: no cover - abstract
        raise NotImplementedError


class GopherQualityFilter(_QualityFilter):
    """Gopher's quality rules: document length and mean word length (word tokens), '#' and
    ellipsis per token, bullet and ellipsis lines (blank lines count, as in datatrove), share of
    words with a letter (`alpha_ratio_of: words`, langmill's default: of word tokens, so Markdown
    markers and punctuation do not count against a document; `tokens`: of every token, as Gopher
    and FineWeb count), and a minimum of distinct stop words that uses the language's own stop
    words (FineWeb-2; an empty list turns the rule off). Last, langmill's own rules (not Gopher's):
    a maximum share of separator tokens (`separator_chars`, "|" "»" "©" ...), which navigation
    menus, breadcrumbs and footers are made of, a maximum share of garbled words (OCR noise:
    "koi5ra", "ko~ira"), and a minimum share of distinct words (lowercased; keyword lists and
    spam repeat a few words). `by_length` gives shorter documents their own thresholds. Tokens and garbled
    words: langmill.native.textstats."""

    name = "🥇 Gopher quality (langmill)"
    reason = "gopher_quality"

    def __init__(self, config: dict | None = None, exclusion_writer=None, **kwargs):
        super().__init__(config=config, exclusion_writer=exclusion_writer, **kwargs)
        stop_words = list(self.config.get("stop_words") or [])
        bad = [w for w in stop_words if not isinstance(w, str)]
        if bad:  # YAML reads unquoted on/no/yes/off as booleans
            raise ValueError(f"stop_words must be strings, got {bad!r} (quote them in the YAML)")
        self.stop_words = frozenset(w.lower() for w in stop_words)
        self._stop_list = sorted(self.stop_words)
        self._separators = "".join(self.config.get("separator_chars") or [])

    def _check_batch(self, docs: list[Document]) -> list[str | None]:
        stats = native.gopher_quality_stats(
            [d.text for d in docs], stop_words=self._stop_list, bullet_chars=BULLET_CHARS,
            closing_chars=CLOSING_CHARS, separator_chars=self._separators, threads=self.threads,
        ).tolist()  # fmt: skip
        return [self._decide(row) for row in stats]

    def _decide(self, row: list[int]) -> str | None:
        c, bucket = self.thresholds(row[0])
        detail = self._rule_detail(row, c)
        return detail + bucket if detail and row[0] else detail

    def _rule_detail(self, row: list[int], c: dict) -> str | None:
        n, word_chars, n_tok, n_hash, n_ellipsis, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop, n_sep, n_garbled, n_distinct = row
        if (d := _too_low("doc_words", n, c["min_doc_words"])) or n == 0:
            return d or "doc_words=0"
        if d := _too_high("doc_words", n, c["max_doc_words"]):
            return d
        mean_len = word_chars / n
        if d := _too_low("mean_word_length", mean_len, c["min_mean_word_length"]):
            return d
        if d := _too_high("mean_word_length", mean_len, c["max_mean_word_length"]):
            return d
        if d := _too_high("hash_word_ratio", n_hash / n_tok, c["max_hash_word_ratio"]):
            return d
        if d := _too_high("ellipsis_word_ratio", n_ellipsis / n_tok, c["max_ellipsis_word_ratio"]):
            return d
        if n_lines:
            if d := _too_high("bullet_lines_ratio", n_bullet / n_lines, c["max_bullet_lines_ratio"]):
                return d
            if d := _too_high("ellipsis_lines_ratio", n_ell_lines / n_lines, c["max_ellipsis_lines_ratio"]):
                return d
        if d := _too_low("alpha_words_ratio", n_alpha / (n if c["alpha_ratio_of"] == "words" else n_tok), c["min_alpha_words_ratio"]):
            return d
        if self.stop_words:
            if d := _too_low("stop_words", n_stop, c["min_stop_words"]):
                return d
        if d := _too_high("separator_ratio", n_sep / n_tok, c["max_separator_ratio"]):
            return d
        if d := _too_high("garbled_word_ratio", n_garbled / n, c["max_garbled_word_ratio"]):
            return d
        if d := _too_low("distinct_word_ratio", n_distinct / n, c["min_distinct_word_ratio"]):
            return d
        return None


class GopherRepetitionFilter(_QualityFilter):
    """Gopher's repetition rules: duplicate lines/paragraphs (share and characters), the top
    word 2-4-gram's character share, and the character share of repeated 5-10-grams.

    datatrove's definitions (langmill.native.textstats): paragraphs re.split(r"\n{2,}", text.strip()),
    lines re.split("\n+", text), every character fraction over len(text). Top n-gram: count
    times len(" ".join(ngram)) of the most frequent token n-gram (overlapping occurrences all
    counted, ties to the first seen, counted even when it occurs once). Duplicate n-grams:
    characters of token n-grams equal to an earlier one, the scan jumping n tokens after each."""

    name = "👯 Gopher repetition (langmill)"
    reason = "gopher_repetition"

    def __init__(self, config: dict | None = None, exclusion_writer=None, **kwargs):
        super().__init__(config=config, exclusion_writer=exclusion_writer, **kwargs)
        # the n of every n-gram rule, in the main settings or a by_length bucket
        configs = [self.config] + [config for _, config in self._by_length]
        self._top_ns = sorted({n for c in configs for n in c["max_top_ngram_char_frac"]})
        self._dup_ns = sorted({n for c in configs for n in c["max_dup_ngram_char_frac"]})

    def _check_batch(self, docs: list[Document]) -> list[str | None]:
        stats = native.gopher_repetition_stats(
            [d.text for d in docs], top_ns=self._top_ns, dup_ns=self._dup_ns, threads=self.threads
        ).tolist()
        return [self._decide(row) for row in stats]

    def _decide(self, row: list[int]) -> str | None:
        n_paras, n_dup_paras, dup_para_chars, n_lines, n_dup_lines, dup_line_chars, n_chars, n_words = row[:8]
        if not n_chars:
            return "empty=0"
        c, bucket = self.thresholds(n_words)
        detail = self._rule_detail(row, c)
        return detail + bucket if detail else None

    def _rule_detail(self, row: list[int], c: dict) -> str | None:
        n_paras, n_dup_paras, dup_para_chars, n_lines, n_dup_lines, dup_line_chars, n_chars = row[:7]
        for unit, n_parts, n_dup, chars_dup in (
            ("para", n_paras, n_dup_paras, dup_para_chars),
            ("line", n_lines, n_dup_lines, dup_line_chars),
        ):
            if d := _too_high(f"dup_{unit}_frac", n_dup / n_parts, c[f"max_dup_{unit}_frac"]):
                return d
            if d := _too_high(f"dup_{unit}_char_frac", chars_dup / n_chars, c[f"max_dup_{unit}_char_frac"]):
                return d
        k = 8
        for kind, ns in (("top", self._top_ns), ("dup", self._dup_ns)):
            limits = c[f"max_{kind}_ngram_char_frac"]
            for n in ns:
                frac = row[k] / n_chars
                k += 1
                if d := _too_high(f"{kind}_{n}gram_char_frac", frac, limits.get(n)):
                    return d
        return None


_C4_RULES = ("long_word", "no_terminal_punct", "ellipsis", "few_words", "javascript", "policy")


class C4Filter(_QualityFilter):
    """C4's rules, in datatrove's order, line by line (first matching rule wins): remove a line
    with a word longer than max_word_length, without terminal punctuation, ending in an ellipsis,
    with fewer than min_words_per_line words; drop the whole document if the line contains
    'lorem ipsum' (any case); remove it if it holds a javascript substring; drop the document if
    it contains '{'; remove it if it holds a policy substring. So 'lorem ipsum' and '{' only
    count in lines the earlier rules kept (the detail gives the count in the whole text). doc.metadata["c4_lines_removed"] gets the number of removed non-blank lines.
    The doc is dropped if the kept text has fewer than min_sentences sentences (its text left
    as it was); otherwise, if lines were removed, the kept text replaces doc.text (kept lines
    unchanged, blank-line paragraph breaks kept, runs of blank lines collapsed to one empty
    line, none at either end)."""

    name = "⛰ C4 quality (langmill)"
    reason = "c4"

    def __init__(self, config: dict | None = None, exclusion_writer=None, **kwargs):
        super().__init__(config=config, exclusion_writer=exclusion_writer, **kwargs)
        c = self.config
        self.terminal = tuple(c["terminal_punctuation"])
        self.js = tuple(s.lower() for s in c["javascript_substrings"] or [])
        self.policy = tuple(s.lower() for s in list(c["policy_substrings"] or []) + list(c["extra_policy_substrings"] or []))

    def _check_batch(self, docs: list[Document]) -> list[str | None]:
        c = self.config
        stats, kept_texts = native.c4_stats(
            [d.text for d in docs],
            terminal_punctuation=self.terminal,
            closing_chars=CLOSING_CHARS,
            javascript_substrings=self.js,
            policy_substrings=self.policy,
            max_word_length=c["max_word_length"],
            remove_no_terminal_punct_lines=c["remove_no_terminal_punct_lines"],
            remove_ellipsis_lines=c["remove_ellipsis_lines"],
            min_words_per_line=c["min_words_per_line"],
            drop_lorem_ipsum=c["drop_lorem_ipsum"],
            drop_curly_bracket=c["drop_curly_bracket"],
            threads=self.threads,
        )
        return [self._decide(doc, row, new_text) for doc, row, new_text in zip(docs, stats.tolist(), kept_texts)]

    def _decide(self, doc: Document, row: list[int], new_text: str | None) -> str | None:
        c = self.config
        lorem, curly, *removed_counts, n_sent = row
        if c["drop_lorem_ipsum"] and lorem:
            doc.metadata["c4_lines_removed"] = 0
            return f"lorem_ipsum={lorem}"
        if c["drop_curly_bracket"] and curly:
            doc.metadata["c4_lines_removed"] = 0
            return f"curly_bracket={curly}"
        removed = Counter({rule: k for rule, k in zip(_C4_RULES, removed_counts) if k})
        n_removed = sum(removed_counts)
        doc.metadata["c4_lines_removed"] = n_removed
        if d := _too_low("sentences", n_sent, c["min_sentences"]):
            if removed:
                d += " (removed lines: " + ", ".join(f"{k}={v}" for k, v in sorted(removed.items())) + ")"
            return d  # a dropped doc keeps its original text, for excluded/
        if n_removed:
            doc.text = new_text
            self.stat_update("lines_removed", value=n_removed)
        return None


class FineWebQualityFilter(_QualityFilter):
    """FineWeb's rules: share of lines ending in terminal punctuation, share of short lines,
    characters in duplicated lines, and newlines per word."""

    name = "🍷 FineWeb quality (langmill)"
    reason = "fineweb_quality"

    def _check_batch(self, docs: list[Document]) -> list[str | None]:
        c = self.config
        stats = native.fineweb_quality_stats(
            [d.text for d in docs], terminal_punctuation=c["terminal_punctuation"], closing_chars=CLOSING_CHARS,
            short_line_length=c["short_line_length"], threads=self.threads,
        ).tolist()  # fmt: skip
        return [self._decide(row) for row in stats]

    def _decide(self, row: list[int]) -> str | None:
        c = self.config
        n_lines, n_punct, n_short, dup_chars, n_chars, n_newlines, n_words = row
        if not n_lines:
            return "empty=0"
        punct = n_punct / n_lines
        if not (c["line_punct_exclude_zero"] and punct == 0):
            if d := _too_low("line_punct_ratio", punct, c["min_line_punct_ratio"]):
                return d
        short = n_short / n_lines
        if d := _too_high("short_line_ratio", short, c["max_short_line_ratio"]):
            return d
        if d := _too_high("dup_line_char_ratio", dup_chars / max(n_chars, 1), c["max_dup_line_char_ratio"]):
            return d
        ratio = n_newlines / n_words if n_words else float("inf")
        if d := _too_high("newline_word_ratio", ratio, c["max_newline_word_ratio"]):
            return d
        return None


# The order FineWeb ran them in (C4 edits the text the last filter sees).
QUALITY_FILTERS = (GopherRepetitionFilter, GopherQualityFilter, C4Filter, FineWebQualityFilter)


def build_quality_filters(config: dict, exclusion_writer=None) -> list[CorpusFilter]:
    """The enabled filters, in QUALITY_FILTERS order, from merged sections (see load_quality_config);
    `exclusion_writer(reason)` gives each its writer of dropped documents."""
    return [
        cls(config=config.get(cls.reason, {}), exclusion_writer=exclusion_writer(cls.reason) if exclusion_writer else None)
        for cls in QUALITY_FILTERS
        if config.get(cls.reason, {}).get("enabled", True)
    ]
