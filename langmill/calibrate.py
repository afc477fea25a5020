"""`langmill calibrate`: quality and language-ID thresholds for a language, from clean reference text.

The method (issue 14), in the order `calibrate` runs it:

1. Measure. The reference is read with langmill's readers, normalised as `corpus` normalises, and
   passed through the corpus language-ID step (which may drop foreign lines); every rule's statistic
   is then counted by the filters' own Rust kernel (`langmill.native.textstats`) on the text that
   filter would see (FineWeb's on the text C4 leaves). `measure` divides the counts exactly as
   `langmill.filters.quality` does, and the final check runs the real filters, so the two cannot drift.
2. Stop words: the language's own list when langmill has one (configs/languages/); else the
   lowercased word tokens above 0.8 % of all tokens, then 0.3 %, then 0.2 %, until at least 8
   (FineWeb-2's derivation), a token's share being the median of its shares in the inputs (so a
   small input's own vocabulary, "artikla" in the UDHR, is not one); tokens without a letter are not
   candidates. The min_stop_words rule is calibrated on the list that is written.
3. LID threshold: FineWeb-2's formula, the median minus one standard deviation of the reference
   documents' target-language scores, clipped to [0.3, 0.9] (a heliport confidence only to >= 0),
   on the scale of the backend `corpus` will use (--lid-backend); loosened like any rule below, but
   never under the clip's floor (documents scoring below it are paid first). `--keep-lid` keeps the
   corpus's threshold (the language file's, see configs/languages/) and pays for what it drops first.
4. Budget: `budget` is the share of the reference the whole pipeline (LID + quality filters) may
   drop, each REFERENCE input weighing the same (a document weighs 1 / (inputs x documents of its
   input); `balance=False`: each document the same), so that a large input of one genre (help pages,
   say) does not set every threshold alone. Documents LID puts in another language are counted
   apart (no threshold keeps them; many means the model does not know the language or the reference
   is not clean); documents no threshold keeps (no words) are paid first. Every rule starts at its
   published value (5.) and is loosened step by step (`loosen`): a step keeps the dropped documents
   nearest one rule's threshold; only steps that keep a document no other rule drops are made, the
   rule that drops the most documents alone first, so the rules end at about the same share
   (water-filling) and rules that fire on the same documents (the n-gram rules on one repetitive
   page, the two word-length bounds) share one part of the budget instead of each paying for it.
   When every frontier document is dropped by two rules or more, the move that keeps one document
   from all its rules at once is made. The loop stops when the expected joint drop (7.) fits; what
   the last step leaves over sets rules back to their published value (turned-off ones first), and
   what is still left tightens the loosened rules back one document at a time, in turns
   (`tighten_one`). With `per_input` (`--per-input`, `Budget`) the drop must fit for every input on
   its own, not for their mean, and a step only counts what it saves in inputs still over it. The
   real filters then run on the reference with these settings and give the joint drop reported.
   C4 (off by default) counts when a settings file turns it on: when its line rules leave more than
   half the budget without a sentence, it is turned off again (FineWeb-2 runs without it).
5. Never stricter than the published values (Gopher, C4, FineWeb: `PUBLISHED`): the reference shows
   where well-formed text ends, not where junk begins, so it may loosen a rule but has no evidence
   to tighten one. langmill's own rules, which no paper publishes (`OWN_START`: the separator
   ratio), start from a strict value and are loosened as far as the reference needs. This also keeps rules whose reference distribution is a point mass (no '#' in
   clean prose gives a 0 quantile) at their published value.
6. Length: some statistics depend on document length: measured on UD + LibreOffice Finnish (2,504
   documents), the top 2-gram's share of characters has median 0.145 under 20 words, 0.071 at
   20-40, 0.042 at 40-80 and 0.02 above 150, because one 2-gram of a short text is a large part of
   it; the number of distinct stop words grows with length instead. These rules (BY_LENGTH) get one
   threshold per length bucket (LENGTH_EDGES: up to 40 word tokens, 41-100, longer), written as the
   section's `by_length`; each bucket is a rule of its own in step 4, so short help pages loosen
   the short bucket without loosening it for long pages, and a long keyword list needs as many stop
   words as long prose has (OWN_START).
7. Order statistics: a threshold placed at the reference's most extreme kept value drops one
   reference document's worth more of new text than of the reference ((k + 1) / (n + 1), not k / n);
   one placed just inside the dropped tail drops no more. A loosened threshold goes halfway between
   the last kept and the first dropped value (the widest margin on both sides), which costs half
   the weight of the nearest kept document; at the extreme (nothing beyond) the whole weight. Rules
   of one family share their tail documents and pay once. Measured (fi/eu/et, calibrated on the even
   half of UD + UDHR + LibreOffice help + Leipzig, run on the odd half): see the report in
   scripts/calibrate_languages.py's output and the numbers in configs/languages/<lang>.yaml.

`calibrate(texts, lang, ...)` returns a `Calibration`; `write_settings` writes the `--config` file.
"""

from __future__ import annotations

import copy
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from datatrove.data import Document

from langmill import native
from langmill.config import LidSettings, deep_merge, default_quality_config, dump_config, load_quality_config
from langmill.evalstats import wilson_interval
from langmill.native.textstats import BULLET_CHARS, CLOSING_CHARS, TOKEN_INFIXES

DEFAULT_BUDGET = 0.03
MIN_TAIL_DOCS = 40  # reference documents a dropped tail needs for a usable estimate
STOP_WORD_SHARES = (0.008, 0.003, 0.002)
MIN_STOP_WORDS_LISTED = 8
LID_CLIP = (0.3, 0.9)

# Step 5's bound: the published thresholds (Gopher: Rae et al. 2021, Table A1; C4: Raffel et al.
# 2020; FineWeb: Penedo et al. 2024), which configs/quality.yaml held before it was calibrated
# itself. Kept here so that calibrating again, the language-neutral defaults included, starts from
# the same place and gives the same values.
PUBLISHED = {
    "gopher_quality": {"min_doc_words": 50, "max_doc_words": 100_000, "min_mean_word_length": 3, "max_mean_word_length": 10,
                       "max_hash_word_ratio": 0.1, "max_ellipsis_word_ratio": 0.1, "max_bullet_lines_ratio": 0.9,
                       "max_ellipsis_lines_ratio": 0.3, "min_alpha_words_ratio": 0.8, "min_stop_words": 2},
    "gopher_repetition": {"max_dup_line_frac": 0.3, "max_dup_para_frac": 0.3, "max_dup_line_char_frac": 0.2, "max_dup_para_char_frac": 0.2,
                          "max_top_ngram_char_frac": {2: 0.2, 3: 0.18, 4: 0.16},
                          "max_dup_ngram_char_frac": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}},
    "c4": {"min_sentences": 3, "drop_lorem_ipsum": True, "drop_curly_bracket": True},
    "fineweb_quality": {"min_line_punct_ratio": 0.12, "max_short_line_ratio": 0.67, "max_dup_line_char_ratio": 0.01,
                        "max_newline_word_ratio": 0.3},
}  # fmt: skip

# langmill's own rules start strict, and calibrate loosens them as far as the reference needs
# (measured on bench/quality.py's Finnish sets: the calibration halves and its junk):
# - a 5 % share of separator tokens is a menu line in every twenty tokens, far above running text
#   ("|" "»" "©" are rare in prose);
# - a 10 % share of garbled words ("koi5ra", "ko~ira"): OCR noise with a quarter of its characters
#   confused has 8-31 % (1st-99th percentile, 11 % at the 5th), Finnish prose 0 and chat answers at
#   most 2.6 % (99th); Estonian web writing that types õ/ä as 6/2 ("s6idustiil", "k2pas", UD EWT)
#   reaches 4.5-8.5 % of a document's words, and is kept;
# - stop words by length (step 6): a document of over 100 words with fewer than 6 distinct stop
#   words is a keyword list, not prose (prose over 100 words: 1st percentile 3-9; keyword spam:
#   median 3); 41-100 words: 4; up to 40: Gopher's 2;
# - distinct words by length: keyword spam of 41-100 words has 7-33 % of its words distinct, of
#   over 100 words 4-16 % (1st-95th percentile); prose and chat 1st percentile 39-86 % and 8-85 %
#   (MT-Bench answers that repeat themselves are the low end). Start: 50 % up to 40 words, 40 %
#   at 41-100, 30 % above.
OWN_START = {"gopher_quality": {"max_separator_ratio": 0.05, "max_garbled_word_ratio": 0.1, "min_stop_words": 6,
                                "min_distinct_word_ratio": 0.3,
                                "by_length": {40: {"min_stop_words": 2, "min_distinct_word_ratio": 0.5},
                                              100: {"min_stop_words": 4, "min_distinct_word_ratio": 0.4}}}}

# Step 6: rules whose statistic depends on document length get a threshold per length bucket:
# documents of at most 40 word tokens, of 41-100, and the section's own value for longer ones.
LENGTH_EDGES = (40, 100)
BY_LENGTH = {"gopher_quality": ("min_stop_words", "min_distinct_word_ratio"), "gopher_repetition": ("max_top_ngram_char_frac",)}


def published_bound() -> dict:
    """The quality sections with the published thresholds and OWN_START (step 5's bound)."""
    config = default_quality_config()
    for section in config.values():
        if "by_length" in section:  # calibrated buckets are not a bound: they start from the section's value
            section["by_length"] = {}
    for section, values in (*PUBLISHED.items(), *OWN_START.items()):
        config[section].update(copy.deepcopy(values))
    return config


@dataclass(frozen=True)
class Rule:
    """One threshold: `section.key` (an n-gram rule's key is "max_top_ngram_char_frac.2"); a "max"
    rule drops values above it, a "min" rule values below. `first` rules are calibrated before the
    others, which only see the documents the first ones keep."""

    section: str
    key: str
    kind: str  # "max", "min", or "flag": a switch (on drops the documents it fires on)
    integer: bool = False
    first: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def _rules(config: dict) -> list[Rule]:
    """Every threshold of the enabled filters in `config` (merged quality sections)."""
    g, r, c, f = "gopher_quality", "gopher_repetition", "c4", "fineweb_quality"
    rules = [
        Rule(g, "min_doc_words", "min", integer=True, first=True), Rule(g, "max_doc_words", "max", integer=True, first=True),
        Rule(g, "min_mean_word_length", "min"), Rule(g, "max_mean_word_length", "max"),
        Rule(g, "max_hash_word_ratio", "max"), Rule(g, "max_ellipsis_word_ratio", "max"),
        Rule(g, "max_bullet_lines_ratio", "max"), Rule(g, "max_ellipsis_lines_ratio", "max"),
        Rule(g, "min_alpha_words_ratio", "min"),
        *_by_length(Rule(g, "min_stop_words", "min", integer=True)), Rule(g, "max_separator_ratio", "max"),
        Rule(g, "max_garbled_word_ratio", "max"), *_by_length(Rule(g, "min_distinct_word_ratio", "min")),
        *(Rule(r, f"max_dup_{unit}_{kind}", "max") for unit in ("line", "para") for kind in ("frac", "char_frac")),
        *(q for n in sorted(config[r]["max_top_ngram_char_frac"] or {}, key=int) for q in _by_length(Rule(r, f"max_top_ngram_char_frac.{n}", "max"))),
        *(Rule(r, f"max_dup_ngram_char_frac.{n}", "max") for n in sorted(config[r]["max_dup_ngram_char_frac"] or {}, key=int)),
        Rule(c, "drop_lorem_ipsum", "flag", first=True), Rule(c, "drop_curly_bracket", "flag", first=True),
        Rule(c, "min_sentences", "min", integer=True),
        Rule(f, "min_line_punct_ratio", "min"), Rule(f, "max_short_line_ratio", "max"),
        Rule(f, "max_dup_line_char_ratio", "max"), Rule(f, "max_newline_word_ratio", "max"),
    ]  # fmt: skip
    return [rule for rule in rules if config[rule.section].get("enabled", True)]


LID_RULE = Rule("lid", "threshold", "min", first=True)


def _by_length(rule: Rule) -> list[Rule]:
    """The rule for each length bucket (LENGTH_EDGES), shortest first, then the rule itself (longer documents)."""
    return [replace(rule, key=f"by_length.{edge}.{rule.key}") for edge in LENGTH_EDGES] + [rule]


def split_by_length(values: dict[str, np.ndarray], n_words: np.ndarray) -> None:
    """Step 6: each BY_LENGTH statistic becomes one per bucket, NaN (does not apply) outside it."""
    lows = (0, *LENGTH_EDGES)
    for name in [k for k in values if k.split(".")[1] in BY_LENGTH.get(k.split(".")[0], ())]:
        v = values[name]
        section, key = name.split(".", 1)
        for lo, hi in zip(lows, LENGTH_EDGES):
            values[f"{section}.by_length.{hi}.{key}"] = np.where((n_words > lo) & (n_words <= hi), v, np.nan)
        values[name] = np.where(n_words > LENGTH_EDGES[-1], v, np.nan)


def _split_key(key: str) -> tuple[int | None, str]:
    """("by_length.40.min_stop_words") -> (40, "min_stop_words"); a key without a bucket -> (None, key)."""
    if key.startswith("by_length."):
        _, words, rest = key.split(".", 2)
        return int(words), rest
    return None, key


def get_setting(config: dict, rule: Rule):
    bucket, key = _split_key(rule.key)
    section = config[rule.section]
    if bucket is not None:  # a bucket's own value, else the section's
        over = {int(k): v for k, v in (section.get("by_length") or {}).items()}.get(bucket) or {}
        section = deep_merge(section, over)
    key, _, n = key.partition(".")
    value = section[key]
    return (value or {}).get(int(n), (value or {}).get(str(n))) if n else value


def set_setting(config: dict, rule: Rule, value) -> None:
    bucket, key = _split_key(rule.key)
    section = config.setdefault(rule.section, {})
    if bucket is not None:
        section["by_length"] = {int(k): v for k, v in (section.get("by_length") or {}).items()}
        section = section["by_length"].setdefault(bucket, {})
    key, _, n = key.partition(".")
    if n:
        section[key] = {**(section.get(key) or {}), int(n): value}
    else:
        section[key] = value


# --- 1. measuring ------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN (the rule does not apply) where den is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


@dataclass
class Measurements:
    """What the pipeline sees of each reference document: `lid_dropped` (LID drops it at any
    threshold: another language predicted), `lid_score` (the target's probability), `values` (rule
    name -> the statistic per document, NaN where the rule does not apply) and `always` (documents
    some filter drops whatever its thresholds: no words, empty)."""

    n: int
    lid_dropped: np.ndarray
    lid_score: np.ndarray
    values: dict[str, np.ndarray]
    always: np.ndarray
    texts: list[str] = field(repr=False, default_factory=list)  # normalised
    lid_texts: list[str] = field(repr=False, default_factory=list)  # after LID's foreign-line removal


def normalised(texts: list[str], fix_mojibake: bool = True) -> list[str]:
    """The reference as `corpus` normalises it, documents empty afterwards left out."""
    return normalised_groups(texts, [0] * len(texts), fix_mojibake)[0]


def normalised_groups(texts: list[str], groups: list[int], fix_mojibake: bool = True) -> tuple[list[str], np.ndarray]:
    """`normalised`, with the input each remaining document came from."""
    from langmill.filters.normalize import normalize_batch

    pairs = [(t, g) for t, g in zip(normalize_batch(list(texts), fix_mojibake=fix_mojibake), groups) if t]
    return [t for t, _ in pairs], np.array([g for _, g in pairs], dtype=int)


def lid_threshold_key(lang: str, lid: LidSettings) -> str:
    """The LidSettings field that holds the document threshold of the backend `corpus` will use for
    `lang` (each backend's scores have their own scale)."""
    try:
        from langmill.lid_backends import resolve_backends
    except ImportError:  # a langmill with fastText only
        return "threshold"
    backend, _ = resolve_backends(lang, lid.backend, lid.line_backend, lid.model)
    return "heliport_threshold" if backend == "heliport" else "threshold"


def language_filter(lang: str, lid: LidSettings, threshold: float | None = None):
    """The corpus pipeline's LID step with these settings (`threshold`: the document threshold)."""
    from langmill.filters.lid import LanguageFilter

    if threshold is not None:
        lid = replace(lid, **{lid_threshold_key(lang, lid): threshold})
    if hasattr(LanguageFilter, "from_settings"):
        return LanguageFilter.from_settings(lang, lid)
    return LanguageFilter(lang, threshold=lid.threshold, model_path=lid.model, max_chars=lid.max_chars, foreign_lines=lid.foreign_lines,
                          line_threshold=lid.line_threshold, line_min_chars=lid.line_min_chars)


def run_lid(texts: list[str], lang: str, lid: LidSettings) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(dropped at threshold 0, the target's score, the text the quality filters get) per document."""
    from langmill.filters.lid import TARGET_RANK

    step = language_filter(lang, lid, threshold=0.0)
    dropped, scores, kept = [], [], []
    for text in texts:
        doc = Document(text=text, id="ref")
        ranked = dict(step.ranked(text, TARGET_RANK))
        dropped.append(step.check(doc) is not None)
        scores.append(ranked.get(step.target, 0.0))
        kept.append(doc.text)
    return np.array(dropped, dtype=bool), np.array(scores, dtype=float), kept


def measure(texts: list[str], lid_dropped, lid_score, lid_texts: list[str], config: dict) -> Measurements:
    """Every rule's statistic on the LID step's output, from the filters' own kernels."""
    g, r, c, f = (config[s] for s in ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality"))
    stop = sorted({w.lower() for w in g["stop_words"] or []})
    q = native.gopher_quality_stats(lid_texts, stop_words=stop, bullet_chars=BULLET_CHARS, closing_chars=CLOSING_CHARS,
                                    separator_chars="".join(g["separator_chars"] or [])).astype(float)
    n, word_chars, n_tok, n_hash, n_ell, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop, n_sep, n_garbled, n_distinct = q.T
    values = {
        "gopher_quality.min_doc_words": n, "gopher_quality.max_doc_words": n,
        "gopher_quality.min_mean_word_length": _ratio(word_chars, n), "gopher_quality.max_mean_word_length": _ratio(word_chars, n),
        "gopher_quality.max_hash_word_ratio": _ratio(n_hash, n_tok), "gopher_quality.max_ellipsis_word_ratio": _ratio(n_ell, n_tok),
        "gopher_quality.max_bullet_lines_ratio": _ratio(n_bullet, n_lines), "gopher_quality.max_ellipsis_lines_ratio": _ratio(n_ell_lines, n_lines),
        "gopher_quality.min_alpha_words_ratio": _ratio(n_alpha, n if g["alpha_ratio_of"] == "words" else n_tok),
        "gopher_quality.min_stop_words": n_stop if stop else np.full(len(n), np.nan),
        "gopher_quality.max_separator_ratio": _ratio(n_sep, n_tok), "gopher_quality.max_garbled_word_ratio": _ratio(n_garbled, n),
        "gopher_quality.min_distinct_word_ratio": _ratio(n_distinct, n),
    }  # fmt: skip
    always = n == 0
    top_ns = sorted(int(k) for k in r["max_top_ngram_char_frac"] or {})
    dup_ns = sorted(int(k) for k in r["max_dup_ngram_char_frac"] or {})
    rep = native.gopher_repetition_stats(lid_texts, top_ns=top_ns, dup_ns=dup_ns).astype(float)
    n_chars = rep[:, 6]
    for i, unit in ((0, "para"), (3, "line")):
        values[f"gopher_repetition.max_dup_{unit}_frac"] = _ratio(rep[:, i + 1], rep[:, i])
        values[f"gopher_repetition.max_dup_{unit}_char_frac"] = _ratio(rep[:, i + 2], n_chars)
    for j, nn in enumerate(top_ns):
        values[f"gopher_repetition.max_top_ngram_char_frac.{nn}"] = _ratio(rep[:, 8 + j], n_chars)
    for j, nn in enumerate(dup_ns):
        values[f"gopher_repetition.max_dup_ngram_char_frac.{nn}"] = _ratio(rep[:, 8 + len(top_ns) + j], n_chars)
    split_by_length(values, n)
    fineweb_texts = lid_texts
    if c.get("enabled", True):
        def c4(drop: bool):
            return native.c4_stats(
                lid_texts, terminal_punctuation=c["terminal_punctuation"], closing_chars=CLOSING_CHARS,
                javascript_substrings=[s.lower() for s in c["javascript_substrings"] or []],
                policy_substrings=[s.lower() for s in list(c["policy_substrings"] or []) + list(c["extra_policy_substrings"] or [])],
                max_word_length=c["max_word_length"], remove_no_terminal_punct_lines=c["remove_no_terminal_punct_lines"],
                remove_ellipsis_lines=c["remove_ellipsis_lines"], min_words_per_line=c["min_words_per_line"],
                drop_lorem_ipsum=drop, drop_curly_bracket=drop, kept_text=not drop,
            )  # fmt: skip

        flags = c4(True)  # where the whole-document rules fire; the sentences and kept text without them
        values["c4.drop_lorem_ipsum"] = (flags[:, 0] > 0).astype(float)
        values["c4.drop_curly_bracket"] = (flags[:, 1] > 0).astype(float)
        stats, kept = c4(False)
        values["c4.min_sentences"] = stats[:, 8].astype(float)
        fineweb_texts = [new if new is not None else old for old, new in zip(lid_texts, kept)]
    fw = native.fineweb_quality_stats(fineweb_texts, terminal_punctuation=f["terminal_punctuation"], closing_chars=CLOSING_CHARS,
                                      short_line_length=f["short_line_length"]).astype(float)
    lines, punct, short, dup_chars, chars, newlines, words = fw.T
    punct_ratio = _ratio(punct, lines)
    if f["line_punct_exclude_zero"]:
        punct_ratio[punct_ratio == 0] = np.nan
    values |= {
        "fineweb_quality.min_line_punct_ratio": punct_ratio, "fineweb_quality.max_short_line_ratio": _ratio(short, lines),
        "fineweb_quality.max_dup_line_char_ratio": np.where(lines > 0, dup_chars / np.maximum(chars, 1), np.nan),
        "fineweb_quality.max_newline_word_ratio": np.where(words > 0, _ratio(newlines, words), np.where(lines > 0, np.inf, np.nan)),
    }  # fmt: skip
    always |= n_chars == 0
    if c.get("enabled", True):  # C4's line rules left no sentence: dropped at any min_sentences (by FineWeb at 0)
        always |= (values["c4.min_sentences"] == 0) & (n > 0)
    return Measurements(len(lid_texts), np.asarray(lid_dropped), np.asarray(lid_score), values, always, texts, lid_texts)


def measure_without_c4(meas: Measurements, config: dict) -> np.ndarray:
    """`always` as it would be without C4."""
    off = copy.deepcopy(config)
    off["c4"]["enabled"] = False
    return measure(meas.texts, meas.lid_dropped, meas.lid_score, meas.lid_texts, off).always


# --- 2. stop words, 3. the LID formula ---------------------------------------------------------------

_INFIX_SPLIT = str.maketrans({ch: " " for ch in TOKEN_INFIXES})


def _word_token(chunk: str) -> str:
    """A whitespace chunk without its leading and trailing non-word characters (textstats' tokens)."""
    i, j = 0, len(chunk)
    while i < j and unicodedata.category(chunk[i])[0] not in "LMN":
        i += 1
    while j > i and unicodedata.category(chunk[j - 1])[0] not in "LMN":
        j -= 1
    return chunk[i:j].lower()


def token_counts(texts: list[str]) -> Counter:
    """Lowercased word tokens of the reference, as textstats cuts them (whitespace, edge punctuation,
    TOKEN_INFIXES); the filter matches stop words against the kernel's own tokens."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for chunk in text.translate(_INFIX_SPLIT).split() if (w := _word_token(chunk)))
    return counts


def derive_stop_words(texts: list[str], weights: np.ndarray | None = None, groups: np.ndarray | None = None) -> tuple[list[str], float]:
    """(stop words, the token share that selected them): tokens with a letter above 0.8 % of all
    tokens, else above 0.3 %, else above 0.2 %, stopping at the first share that gives at least 8.
    With `groups` a token's share is the median of its shares in the inputs (each weighs the same);
    documents of weight 0 (another language) are left out."""
    keep = [i for i in range(len(texts)) if weights is None or weights[i] > 0]
    by_input: dict[int, Counter] = {}
    for i in keep:
        by_input.setdefault(int(groups[i]) if groups is not None else 0, Counter()).update(token_counts([texts[i]]))
    per_input = [{w: k / (sum(counts.values()) or 1) for w, k in counts.items()} for counts in by_input.values()]
    # The median over inputs: a word must be common in at least half of them, so that a small input's
    # own vocabulary ("artikla" in the UDHR) does not become a stop word of the language.
    shares = Counter({w: float(np.median([s.get(w, 0.0) for s in per_input])) for w in set().union(*per_input)})
    words: list[str] = []
    share = STOP_WORD_SHARES[0]
    for share in STOP_WORD_SHARES:
        words = [w for w, k in shares.most_common() if k > share and any(ch.isalpha() for ch in w)]
        if len(words) >= MIN_STOP_WORDS_LISTED:
            break
    return words, share


def lid_formula(scores: np.ndarray, probability: bool = True) -> float:
    """FineWeb-2's LID threshold: median - 1 std of the reference scores, clipped to [0.3, 0.9] for a
    probability (fastText); a heliport confidence (0-7) is only kept >= 0."""
    lo, hi = LID_CLIP if probability else (0.0, math.inf)
    value = float(np.median(scores) - np.std(scores)) if len(scores) else lo
    return round(min(max(value, lo), hi), 3)


# --- 4. thresholds within the budget -----------------------------------------------------------------


def drops(values: np.ndarray, kind: str, threshold) -> np.ndarray:
    """Which documents a rule drops at `threshold` (None: the rule is off; NaN values never drop)."""
    if threshold is None or threshold is False:
        return np.zeros(len(values), dtype=bool)
    if kind == "flag":
        return values > 0.5
    with np.errstate(invalid="ignore"):
        return values > threshold if kind == "max" else values < threshold


def _round_out(value: float, kind: str, integer: bool):
    """The strictest threshold (3 decimals) that does not drop `value`."""
    if integer:
        return int(value)
    if not math.isfinite(value):
        return None  # only "off" keeps an infinite value
    return round(math.ceil(value * 1000 - 1e-6) / 1000 if kind == "max" else math.floor(value * 1000 + 1e-6) / 1000, 3)


def rescue_threshold(values: np.ndarray, kind: str, integer: bool, dropped: np.ndarray, upto: float):
    """The threshold after keeping every dropped document up to `upto` (a value of a dropped one):
    halfway between `upto` and the next dropped value (see 7.), or at `upto` when none is left."""
    sign = 1 if kind == "max" else -1
    rest = values[dropped & (sign * values > sign * upto)]
    strict = _round_out(upto, kind, integer)
    if not len(rest):
        return strict
    nxt = rest.min() if kind == "max" else rest.max()
    if integer:  # a max drops > t: t = nxt - 1 keeps nxt dropped; a min drops < t: t = nxt + 1
        return int(strict + (nxt - sign - strict) // 2) if kind == "max" else int(strict - (strict - nxt - 1) // 2)
    if not math.isfinite(nxt):
        return strict
    # the loosest 3-decimal threshold that still drops `nxt`, then the middle of the gap
    loose = (math.ceil(nxt * 1000 - 1e-6) - 1) / 1000 if kind == "max" else (math.floor(nxt * 1000 + 1e-6) + 1) / 1000
    middle = round(math.floor((strict + loose) / 2 * 1000 + 1e-6) / 1000 if kind == "max" else math.ceil((strict + loose) / 2 * 1000 - 1e-6) / 1000, 3)
    return max(middle, strict) if kind == "max" else min(middle, strict)


@dataclass
class RuleResult:
    rule: Rule
    threshold: object
    default: object
    dropped: int  # reference documents it drops on its own (before the other rules)
    calibrated: bool  # set from the reference (else: the packaged default)
    rate: float = 0.0  # the weighted share of the reference it drops on its own
    n_eff: float = 0.0  # the reference's effective size (Kish) for the interval

    def interval(self, n: int | None = None) -> tuple[float, float]:
        size = max(int(round(self.n_eff or n or 0)), 1)
        return wilson_interval(min(int(round(self.rate * size)), size), size)


# Rules whose tails hold the same kind of document: one tail for step 7's correction.
FAMILIES = {
    "gopher_quality.min_doc_words": "length", "gopher_quality.max_doc_words": "long",
    "gopher_quality.min_mean_word_length": "word length", "gopher_quality.max_mean_word_length": "word length",
    "gopher_quality.max_hash_word_ratio": "symbols", "gopher_quality.max_ellipsis_word_ratio": "ellipsis",
    "gopher_quality.max_ellipsis_lines_ratio": "ellipsis", "gopher_quality.max_bullet_lines_ratio": "lists",
    "fineweb_quality.max_short_line_ratio": "lists", "fineweb_quality.max_newline_word_ratio": "lists",
    "fineweb_quality.min_line_punct_ratio": "lists",
}


def family(rule: Rule) -> str:
    if rule.section == "gopher_repetition" or rule.key == "max_dup_line_char_ratio":
        return "ngram" if "ngram" in rule.key else "duplicate lines"
    return FAMILIES.get(rule.name, rule.name)


@dataclass
class Budget:
    """What `loosen` must fit: the expected drop on new text (the weighted joint drop + step 7's
    correction; `weights`: the mean over the inputs when they are balanced) at most `limit`, or
    with `groups` (the input of each document) every input's own expected drop at most `limit`
    (`--per-input`: "at least 95 % kept in every genre"), step 7 counted per input too: the kept
    document nearest a loosened threshold weighs 1 / (its input's documents) there."""

    weights: np.ndarray
    limit: float
    groups: np.ndarray | None = None
    # per input: documents of each input that no threshold keeps (LID puts them in another language),
    # paid first; an input they alone fill is left out of the per-input budget (`infeasible`)
    lost: np.ndarray | None = None

    def __post_init__(self):
        if self.groups is not None:
            live = self.weights > 0
            lost = np.zeros(len(self.weights), dtype=bool) if self.lost is None else self.lost
            self.own = np.zeros(len(self.weights))  # each input's documents sum to 1, the lost ones included
            self.fixed: dict[int, float] = {}
            self.infeasible: list[int] = []
            self.present = []
            for g in (int(g) for g in np.unique(self.groups[live | lost])):
                mine = self.groups == g
                size = int((mine & (live | lost)).sum())
                self.own[mine & live] = 1.0 / size
                self.fixed[g] = float((mine & lost).sum()) / size
                (self.infeasible if self.fixed[g] >= self.limit else self.present).append(g)

    def by_input(self, joint: np.ndarray, extra: dict) -> np.ndarray:
        """Each input's expected drop (per input only): its documents dropped (those LID puts in another
        language included) + its step-7 correction."""
        return np.array([self.own[joint & (self.groups == g)].sum() + self.fixed[g] + extra.get(g, 0.0) for g in self.present] or [0.0])

    def expected(self, joint: np.ndarray, values, rules, start, t, dropped) -> float:
        if self.groups is None:
            return float(self.weights[joint].sum()) + correction(values, rules, start, t, dropped, self.weights)
        return float(self.by_input(joint, correction(values, rules, start, t, dropped, self.own, self.groups)).max())

    def steering(self, joint: np.ndarray, values, rules, start, t, dropped) -> np.ndarray:
        """The weights a step's saving is counted in: per input, only the inputs still over the limit."""
        if self.groups is None:
            return self.weights
        rates = self.by_input(joint, correction(values, rules, start, t, dropped, self.own, self.groups))
        over = [g for g, rate in zip(self.present, rates) if rate > self.limit + 1e-12]
        return np.where(np.isin(self.groups, over), self.own, 0.0)


def loosen(values: dict[str, np.ndarray], rules: list[Rule], start: dict, weights: np.ndarray, always: np.ndarray, budget: float | Budget) -> dict:
    """Step 4: thresholds from `start` (the bound), loosened step by step until the expected joint
    drop (the weights of the documents some rule drops, + step 7's correction) fits `budget`. A step
    keeps the dropped documents nearest one rule's threshold. Only steps that keep a document no
    other rule drops count (a step that saves nothing is never made, so rules that fire on the same
    documents keep them dropped together: the n-gram rules share one repetitive page), and among
    them the rule that drops the most documents alone moves first (water-filling: the rules end at
    about the same share, so none is turned off while another keeps a long tail). When no such step
    is left, every frontier document is dropped by two rules or more: the move that keeps one
    document from all its rules at once, at the least loosening per document saved, is made. What
    the last step leaves of the budget sets loosened rules back to their published value, rules
    turned off first. Last, each rule still turned off is tried back at its published value with the
    others loosened further to pay for it: a rule is off only when nothing else can pay for it."""
    budget = budget if isinstance(budget, Budget) else Budget(weights, budget)
    t = _fill(values, rules, start, dict(start), weights, always, budget, frozen=set())
    restored: set[str] = set()
    for r in rules:
        if r.kind != "flag" and t[r.name] != start[r.name] and switched_off(r, t[r.name]):
            trial = _fill(values, rules, start, t | {r.name: start[r.name]}, weights, always, budget, frozen=restored | {r.name})
            off = sum(switched_off(q, trial[q.name]) for q in rules if q.kind != "flag")
            if off < sum(switched_off(q, t[q.name]) for q in rules if q.kind != "flag") and _expected(values, rules, start, trial, weights, always, budget) <= budget.limit + 1e-12:
                t, restored = trial, restored | {r.name}
    return t


def _expected(values, rules, start, t, weights, always, budget: Budget) -> float:
    dropped = {r.name: drops(values[r.name], r.kind, t[r.name]) for r in rules}
    joint = always | (sum((d.astype(int) for d in dropped.values()), np.zeros(len(weights), dtype=int)) > 0)
    return budget.expected(joint, values, rules, start, t, dropped)


def _fill(values, rules: list[Rule], start: dict, t: dict, weights, always, budget: Budget, frozen: set) -> dict:
    """`loosen`'s steps from thresholds `t`, the rules in `frozen` left as they are."""
    t = dict(t)
    dropped = {r.name: drops(values[r.name], r.kind, t[r.name]) for r in rules}

    def count():
        return sum((d.astype(int) for d in dropped.values()), np.zeros(len(weights), dtype=int))

    def joint_of(dr):
        return always | (sum((d.astype(int) for d in dr.values()), np.zeros(len(weights), dtype=int)) > 0)

    def expected(th, dr):
        return budget.expected(joint_of(dr), values, rules, start, th, dr)

    def move(r: Rule, upto: float):
        new = rescue_threshold(values[r.name], r.kind, r.integer, dropped[r.name], upto)
        return new, drops(values[r.name], r.kind, new)

    while expected(t, dropped) > budget.limit + 1e-12:
        counts = count()
        free = ~always & (counts == 1)
        w = budget.steering(joint_of(dropped), values, rules, start, t, dropped)
        best = None  # (drop by this rule alone, saved, changes)
        for r in rules:
            if not dropped[r.name].any() or r.name in frozen:
                continue
            if r.kind == "flag":  # a switch that drops reference documents can only be turned off
                new, nd = False, np.zeros(len(weights), dtype=bool)
            else:
                v = values[r.name][dropped[r.name]]
                new, nd = move(r, v.min() if r.kind == "max" else v.max())
            kept = dropped[r.name] & ~nd
            alone = float(w[dropped[r.name] & free].sum())
            saved = float(w[kept & free].sum())
            if saved > 0 and (best is None or (alone, saved) > best[:2]):
                best = (alone, saved, {r.name: (new, nd)})
        if best is None:  # every frontier document is dropped by two rules or more
            best = _joint_move(rules, values, dropped, weights, always, counts, move, frozen, steer=w)
        if best is None:
            break  # nothing left to loosen
        for name, (new, nd) in best[2].items():
            t[name], dropped[name] = new, nd
    # The last steps can overshoot (a step keeps every document up to the next value): the budget
    # left over goes back to rules loosened on the way, each set back to its published value if
    # the joint drop still fits: first rules that were turned off (they catch nothing), then the
    # cheapest.
    while True:
        now = expected(t, dropped)
        trials = []
        for r in rules:
            if t[r.name] != start[r.name] and r.name not in frozen:
                back = dict(dropped) | {r.name: drops(values[r.name], r.kind, start[r.name])}
                cost = expected(t | {r.name: start[r.name]}, back) - now
                if now + cost <= budget.limit + 1e-12:
                    trials.append((not switched_off(r, t[r.name]), cost, r.name, back))
        if not trials:
            break
        *_, name, dropped = min(trials, key=lambda x: x[:3])
        t[name] = start[name]
    # What is still left (the whole loosening could not be undone for any rule) tightens the loosened
    # rules back one document at a time, in turns, while the budget holds: the slack is spread over
    # the rules instead of left unused (with --per-input most inputs end well under the budget). A
    # rule the reference switched off stays off: back on at the edge of a region the reference
    # leaves empty (no line ending in punctuation, say), it would drop new text there unseen.
    tightened = True
    while tightened:
        tightened = False
        for r in rules:
            if r.kind == "flag" or r.name in frozen or t[r.name] == start[r.name] or switched_off(r, t[r.name]):
                continue
            new = tighten_one(values[r.name], r, t[r.name], start[r.name], dropped[r.name])
            if new is None:
                continue
            back = dict(dropped) | {r.name: drops(values[r.name], r.kind, new)}
            if expected(t | {r.name: new}, back) <= budget.limit + 1e-12:
                t[r.name], dropped = new, back
                tightened = True
    return t


def tighten_one(values: np.ndarray, rule: Rule, threshold, start, dropped: np.ndarray):
    """The threshold that drops the kept document nearest the loosened side (the most extreme value
    `start` would drop), halfway to the next kept value (or `start` when that is the last): None
    when `start` drops no kept document."""
    sign = 1 if rule.kind == "max" else -1
    finite = ~np.isnan(values) & np.isfinite(values)
    beyond = finite & ~dropped & drops(values, rule.kind, start)  # kept now, dropped at start
    if not beyond.any():
        return None
    x = float(values[beyond].max() if sign > 0 else values[beyond].min())
    rest = values[finite & ~dropped & (sign * values < sign * x) & drops(values, rule.kind, start)]
    if not len(rest):
        return start
    nxt = float(rest.max() if sign > 0 else rest.min())
    if rule.integer:  # a max drops > t: t in [nxt, x - 1]; a min drops < t: t in [x + 1, nxt]
        return int((nxt + x - 1) // 2) if sign > 0 else int(-((-(nxt + x + 1)) // 2))
    middle = round((nxt + x) / 2, 3)
    lo, hi = (nxt, x) if sign > 0 else (x, nxt)
    if not lo <= middle < hi if sign > 0 else not lo < middle <= hi:  # 3 decimals too coarse: next to the kept value
        middle = _round_out(nxt, rule.kind, False)
    if sign > 0 and (middle is None or middle >= x) or sign < 0 and (middle is None or middle <= x):
        return None  # the two values are too close to part at 3 decimals
    return middle


def _joint_move(rules, values, dropped, weights, always, counts, move, frozen=frozenset(), steer=None):
    """The move that keeps one document from all the rules that drop it, at the least loosening
    (the rules' own drop given up) per unit of joint drop saved (counted in `steer`'s weights)."""
    steer = weights if steer is None else steer
    best = None
    for i in np.flatnonzero(~always & (counts > 0)):
        if any(dropped[name][i] for name in frozen):
            continue  # a rule that may not move drops it
        changes, cost = {}, 0.0
        for r in rules:
            if dropped[r.name][i]:
                new, nd = (False, np.zeros(len(weights), dtype=bool)) if r.kind == "flag" else move(r, values[r.name][i])
                changes[r.name] = (new, nd)
                cost += float(weights[dropped[r.name] & ~nd].sum())
        after = sum((changes[name][1] if name in changes else d).astype(int) for name, d in dropped.items())
        saved = float(steer[(counts > 0) & (after == 0) & ~always].sum())
        if saved > 0 and cost > 0 and (best is None or saved / cost > best[0]):
            best = (saved / cost, saved, changes)
    return best


def correction(values, rules: list[Rule], start: dict, thresholds: dict, dropped: dict, weights: np.ndarray, groups=None):
    """Step 7: the expected drop on new text beyond the reference's, for the rules moved from their
    published value: the weight of the kept reference document nearest the threshold, in full when
    the threshold sits on it (no reference document beyond), half when it sits halfway to the next
    dropped one; once per family of rules (their tails are the same documents). With `groups`:
    {input: its correction}, each family's document counted in its own input."""
    extra: dict = {}
    for r in rules:
        th = thresholds[r.name]
        if r.kind == "flag" or th == start[r.name] or switched_off(r, th):
            continue
        v = values[r.name]
        kept = ~np.isnan(v) & np.isfinite(v) & (weights > 0) & ~dropped[r.name]
        if kept.any():
            i = np.flatnonzero(kept)[np.argmax(v[kept]) if r.kind == "max" else np.argmin(v[kept])]
            share = 0.5 if dropped[r.name].any() else 1.0
            key = (family(r), int(groups[i])) if groups is not None else family(r)
            extra[key] = max(extra.get(key, 0.0), share * float(weights[i]))
    if groups is None:
        return sum(extra.values())
    per_input: dict[int, float] = {}
    for (_, g), value in extra.items():
        per_input[g] = per_input.get(g, 0.0) + value
    return per_input


def input_weights(ref: np.ndarray, groups: np.ndarray, balance: bool, shares: list[float] | None = None) -> np.ndarray:
    """Each reference document's weight in the false-drop rate: 1 / (inputs x documents of its
    input) when balanced (each input weighs the same), 1 / documents otherwise; 0 outside `ref`."""
    w = np.zeros(len(ref))
    if not balance:
        w[ref] = 1.0 / max(int(ref.sum()), 1)
        return w
    present = [g for g in np.unique(groups[ref])]
    for g in present:
        mine = ref & (groups == g)
        w[mine] = (shares[g] if shares else 1.0 / len(present)) / mine.sum()
    return w / w.sum()


@dataclass
class Calibration:
    """What `calibrate` found: the settings to write and the evidence for them."""

    lang: str
    n: int  # reference documents in the language (LID does not predict another language for them)
    other_language: int  # reference documents LID puts in another language: outside the budget
    budget: float
    config: dict  # the merged quality sections with the calibrated thresholds
    lid_threshold: float
    lid_formula: float
    stop_words: list[str]
    stop_word_share: float
    results: list[RuleResult]
    always_dropped: int  # dropped whatever the thresholds (no words, C4 left no sentence)
    joint_dropped: int  # by the real filters with these settings
    joint_rate: float  # their weighted share (each input weighs the same when balanced)
    n_eff: float  # the reference's effective size under these weights (Kish)
    extreme_correction: float  # step 7
    per_input: list[tuple[str, int, int]] = field(default_factory=list)  # (input, documents, dropped)
    balanced: bool = True
    lid: LidSettings = field(default_factory=LidSettings)
    c4_emptied: int = 0  # documents C4's line rules left without a sentence (C4 is off when too many)
    every_input: bool = False  # the budget held for each input on its own (--per-input)
    beyond_budget: list[str] = field(default_factory=list)  # inputs LID alone drops more of than the budget (--per-input)

    @property
    def expected_rate(self) -> float:
        """On new text like the reference (step 7)."""
        return self.joint_rate + self.extreme_correction

    def small_tails(self) -> list[tuple[RuleResult, int]]:
        """(rule, reference documents needed) for each calibrated rule with under MIN_TAIL_DOCS
        documents in its dropped tail."""
        return [(r, math.ceil(MIN_TAIL_DOCS / max(r.rate, 1.0 / max(self.n, 1)))) for r in self.results
                if r.calibrated and r.rule.kind != "flag" and not switched_off(r.rule, r.threshold) and r.dropped < MIN_TAIL_DOCS]

    def switched_off(self) -> list[RuleResult]:
        """Rules the reference loosened until no document can fail them."""
        return [r for r in self.results if r.calibrated and r.rule.kind != "flag" and switched_off(r.rule, r.threshold)]


def switched_off(rule: Rule, threshold) -> bool:
    """Whether no document can fail the rule at this threshold: a minimum of 0 (every statistic is
    >= 0), or a maximum of 1 for a share that cannot exceed 1."""
    if threshold is None:
        return True
    if rule.kind == "min":
        return threshold <= 0
    can_exceed_one = "top_ngram" in rule.key or rule.key in ("max_newline_word_ratio", "max_doc_words", "max_mean_word_length")
    return rule.kind == "max" and not can_exceed_one and threshold >= 1


def simulate(meas: Measurements, lang: str, lid: LidSettings, config: dict, lid_cache: dict | None = None) -> list[str | None]:
    """The reason the corpus pipeline drops each reference document (None: kept), running the real
    LID step and quality filters with these settings (`lid_cache`: LID's results by settings)."""
    from langmill.filters.quality import build_quality_filters

    key = repr(lid)
    cache = {} if lid_cache is None else lid_cache
    if key not in cache:
        step = language_filter(lang, lid)
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(meas.texts)]
        cache[key] = ([d.text for d in docs], [step.check(d) is None for d in docs])
    texts, passed = cache[key]
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    reasons: list[str | None] = [None if ok else "lid" for ok in passed]
    for filt in build_quality_filters(config):
        alive = [i for i, r in enumerate(reasons) if r is None]
        for start in range(0, len(alive), 512):
            batch = alive[start : start + 512]
            for i, verdict in zip(batch, filt.filter_batch([docs[i] for i in batch])):
                if verdict is not True:
                    reasons[i] = filt.reason
    return reasons


def simulate_quality(meas: Measurements, config: dict) -> list[str | None]:
    """`simulate` without language ID (the language-neutral defaults)."""
    from langmill.filters.quality import build_quality_filters

    docs = [Document(text=t, id=str(i)) for i, t in enumerate(meas.lid_texts)]
    reasons: list[str | None] = [None] * len(docs)
    for filt in build_quality_filters(config):
        alive = [i for i, r in enumerate(reasons) if r is None]
        for i, verdict in zip(alive, filt.filter_batch([docs[i] for i in alive])):
            if verdict is not True:
                reasons[i] = filt.reason
    return reasons


def calibrate(texts: list[str], lang: str | None, budget: float = DEFAULT_BUDGET, lid: LidSettings | None = None,
              keep_measurements: bool = False, groups: list[int] | None = None, input_names: list[str] | None = None,
              balance: bool = True, group_shares: list[float] | None = None, per_input: bool = False, keep_lid: bool = False):
    """Thresholds for `lang` from reference `texts` (raw; normalised here) within `budget`: a
    Calibration (with `keep_measurements`, and the Measurements it was made from). `groups`: the
    input (index into `input_names`) each text came from; with `balance` each input weighs the same
    (or `group_shares[g]` in all); `per_input`: the budget holds for each input on its own (`Budget`);
    `keep_lid`: the LID threshold stays `lid`'s (the documents below it are paid first), only the
    quality rules are calibrated.
    `lang` None: language-neutral defaults from a multilingual
    reference (no language ID, no stop words: both are per language)."""
    from langmill.languages import canonical_lang

    lang = canonical_lang(lang) if lang else None
    lid = copy.deepcopy(lid or LidSettings())
    groups_in = list(groups) if groups is not None else [0] * len(texts)
    names = list(input_names) if input_names is not None else [f"input {g}" for g in sorted(set(groups_in))]
    texts, group_arr = normalised_groups(texts, groups_in)
    if not texts:
        raise ValueError("no text in the reference")
    base, _ = load_quality_config(lang or "")  # the language's non-threshold settings (punctuation, substrings)
    neutral = published_bound()  # the bound of step 5
    if lang:
        lid_dropped, lid_score, lid_texts = run_lid(texts, lang, lid)
    else:
        lid_dropped, lid_score, lid_texts = np.zeros(len(texts), dtype=bool), np.full(len(texts), np.nan), list(texts)
    ref = ~lid_dropped
    n = int(ref.sum())
    if not n:
        raise ValueError(f"the language-ID step puts every reference document in another language than {lang}")
    weights = input_weights(ref, group_arr, balance, group_shares)
    if base["gopher_quality"]["stop_words"]:  # the language's own (curated) list: the rule is calibrated on it
        stop_words, share = list(base["gopher_quality"]["stop_words"]), 0.0
    elif lang:
        stop_words, share = derive_stop_words(texts, weights=weights, groups=group_arr if balance else None)
    else:
        stop_words, share = [], 0.0
    base["gopher_quality"]["stop_words"] = stop_words
    meas = measure(texts, lid_dropped, lid_score, lid_texts, base)
    c4_rule = Rule("c4", "enabled", "flag")
    c4_result, c4_emptied = None, 0
    if base["c4"].get("enabled", True):
        # C4 removes lines (no final punctuation, under min_words_per_line words, ...), and a document
        # left with no sentence is dropped at any threshold: a one-line post without a final stop, a
        # help page of short lines. Emptying more than half the budget: C4 is turned off (as
        # FineWeb-2 runs it) and everything is measured again.
        emptied_docs = (meas.always & ref) & ~(measure_without_c4(meas, base) & ref)
        c4_emptied = int(emptied_docs.sum())
        keep_c4 = bool(weights[emptied_docs].sum() <= budget / 2)
        if not keep_c4:
            base["c4"]["enabled"] = False
            meas = measure(texts, lid_dropped, lid_score, lid_texts, base)
        c4_result = RuleResult(c4_rule, keep_c4, True, c4_emptied if keep_c4 else 0, not keep_c4, float(weights[emptied_docs].sum()) if keep_c4 else 0.0)
    meas.values[LID_RULE.name] = np.where(ref, lid_score, np.nan)
    lid_key = lid_threshold_key(lang, lid) if lang else "threshold"
    formula = lid_formula(lid_score[ref], probability=lid_key == "threshold") if lang else lid.threshold
    rules = ([LID_RULE] if lang and not keep_lid else []) + _rules(base)
    defaults = {r.name: get_setting(neutral, r) for r in rules if r.section != "lid"} | {LID_RULE.name: formula}
    values = {r.name: np.where(ref, meas.values[r.name], np.nan) for r in rules}
    always = meas.always & ref
    # FineWeb-2's floor (a probability under 0.3 is not evidence for the language): below it is paid first
    lid_floor = LID_CLIP[0] if lid_key == "threshold" else 0.0
    if lang and keep_lid:  # the LID threshold stays the corpus's: what it drops is paid before any rule
        always |= ref & (lid_score < getattr(lid, lid_key))
        defaults[LID_RULE.name] = getattr(lid, lid_key)
    elif lang:
        always |= ref & (lid_score < lid_floor)
    target = Budget(weights, budget, group_arr if per_input else None, lid_dropped if per_input else None)
    thresholds = loosen(values, rules, defaults, weights, always, target)
    thresholds.setdefault(LID_RULE.name, defaults[LID_RULE.name])
    if thresholds[LID_RULE.name] is not None:  # never under the floor (a rounded-down value could go below)
        thresholds[LID_RULE.name] = max(thresholds[LID_RULE.name], lid_floor if lang and not keep_lid else 0.0)
    config = copy.deepcopy(base)
    for r in rules:
        if r.section != "lid":
            set_setting(config, r, thresholds[r.name])
    lid_now = replace(lid, **{lid_key: thresholds[LID_RULE.name] if thresholds[LID_RULE.name] is not None else 0.0})
    reasons = simulate(meas, lang, lid_now, config) if lang else simulate_quality(meas, config)
    dropped = np.array([r is not None for r in reasons]) & ref
    n_eff = float(weights.sum() ** 2 / max((weights**2).sum(), 1e-12))
    results = {}
    for r in rules:
        d = drops(values[r.name], r.kind, thresholds[r.name])
        results[r.name] = RuleResult(r, thresholds[r.name], defaults[r.name], int(d.sum()), thresholds[r.name] != defaults[r.name],
                                     float(weights[d].sum()), n_eff)
    dropped_by = {name: drops(values[name], res.rule.kind, res.threshold) for name, res in results.items()}
    extra = correction(values, rules, defaults, thresholds, dropped_by, weights)
    if c4_result is not None:
        results = {c4_rule.name: c4_result} | results
    # per input: with --per-input the documents LID puts in another language count too (they are paid)
    counted, lost = (ref | lid_dropped, lid_dropped) if per_input else (ref, np.zeros(len(ref), dtype=bool))
    per_input_drops = [(names[g] if g < len(names) else str(g), int((counted & (group_arr == g)).sum()),
                        int(((dropped | lost) & (group_arr == g)).sum())) for g in sorted(set(group_arr.tolist()))]
    cal = Calibration(lang, n, int(lid_dropped.sum()), budget, config, getattr(lid_now, lid_key), formula, stop_words, share,
                      list(results.values()), int(always.sum()), int(dropped.sum()), float(weights[dropped].sum()), n_eff, extra,
                      per_input_drops, balance, lid_now, c4_emptied, per_input,
                      [names[g] if g < len(names) else str(g) for g in getattr(target, "infeasible", [])])
    return (cal, meas) if keep_measurements else cal


# --- the settings file and the table -----------------------------------------------------------------


def settings_data(cal: Calibration) -> dict:
    """The `--config` sections: lid and the four quality sections, thresholds only (plus stop words)."""
    key = lid_threshold_key(cal.lang, cal.lid)
    data: dict = {"lid": {key: cal.lid_threshold}}
    if cal.lid.model:
        data["lid"]["model"] = cal.lid.model
    if hasattr(cal.lid, "backend"):  # the threshold is on this backend's scale: pin it
        from langmill.lid_backends import resolve_backends

        data["lid"]["backend"] = resolve_backends(cal.lang, cal.lid.backend, cal.lid.line_backend, cal.lid.model)[0]
    for res in cal.results:
        if res.rule.section == "lid":
            continue
        set_setting(data, res.rule, res.threshold)
    data["gopher_quality"]["stop_words"] = list(cal.stop_words)
    ordered = {"lid": data["lid"]}
    for section in cal.config:  # quality.yaml's order; a disabled filter has only `enabled: false`
        if section in data:
            ordered[section] = {"enabled": True, **data[section]}
    return ordered


def header(cal: Calibration, inputs: list[tuple[str, int]], version: str, today: str, command: str | None = None) -> str:
    weighting = "each input weighs the same" if cal.balanced else "each document weighs the same"
    if cal.every_input:
        weighting = "the budget holding for every input on its own"
    lines = [
        f"# langmill calibrate: quality and language-ID settings for {cal.lang}, from clean reference text.",
        f"# Use: langmill corpus INPUT... --lang {cal.lang} --config THIS_FILE",
        f"# Made {today} by langmill {version} (langmill/calibrate.py) from {cal.n:,} reference documents:",
        *(f"#   {path} ({size:,} bytes)" for path, size in inputs),
        *([f"# Command: {command}"] if command else []),
        f"# Budget: at most {cal.budget:.1%} of the reference dropped by LID + quality filters ({weighting});",
        f"# dropped with these settings: {cal.joint_dropped} documents, {cal.joint_rate:.2%} weighted, {cal.expected_rate:.2%} expected on new text.",
        *(f"#   {name}: {dropped} of {size:,} dropped" for name, size, dropped in cal.per_input if len(cal.per_input) > 1),
        "# Thresholds start at the published values (never stricter; langmill's own rules and the stop words of",
        "# longer documents start strict) and are loosened where the reference needs it, the rule that drops the",
        "# most documents alone first; top n-grams and stop words have a threshold per length (by_length). Stop words:",
        f"# tokens above {cal.stop_word_share:.1%} of the reference's tokens. LID threshold: median - 1 std of the reference's",
        f"# scores, clipped (FineWeb-2): {cal.lid_formula}; after loosening: {cal.lid_threshold}.",
    ]
    return "\n".join(lines) + "\n"


def write_settings(cal: Calibration, path: str, inputs: list[tuple[str, int]], version: str, today: str, command: str | None = None) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(header(cal, inputs, version, today, command))
        f.write(dump_config(settings_data(cal)))


def _fmt(value) -> str:
    if value is None or value is False:
        return "off"
    if value is True:
        return "on"
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(cal: Calibration) -> list[str]:
    """The terminal report: rule, threshold (default), false drop with its 95 % Wilson interval
    (weighted shares; the interval on the reference's effective size)."""
    n = cal.n
    size = max(int(round(cal.n_eff)), 1)

    def ci(rate: float) -> str:
        lo, hi = wilson_interval(min(int(round(rate * size)), size), size)
        return f"[{lo:.2%}, {hi:.2%}]"

    lines = [f"{'rule':58} {'threshold':>10} {'default':>9}  docs  false drop on the reference [95% CI]"]
    lines.append(f"{'(dropped at any threshold: no words, C4 left no sentence; LID with --keep-lid)':79}  {cal.always_dropped:>4}")
    for res in cal.results:
        mark = "*" if res.calibrated else " "
        lines.append(f"{res.rule.name:58} {_fmt(res.threshold):>10}{mark}{_fmt(res.default):>9}  {res.dropped:>4}  {res.rate:6.2%} {ci(res.rate)}")
    weighting = "each input weighs the same" if cal.balanced else "each document weighs the same"
    lines.append(f"{'joint (the real filters, all rules; ' + weighting + ')':79}  {cal.joint_dropped:>4}  {cal.joint_rate:6.2%} {ci(cal.joint_rate)}  budget {cal.budget:.1%}")
    for name, docs, dropped in cal.per_input:
        lo, hi = wilson_interval(dropped, max(docs, 1))
        lines.append(f"{'  input ' + name:79}  {dropped:>4}  {dropped / max(docs, 1):6.2%} [{lo:.2%}, {hi:.2%}]  of {docs:,}")
    lines.append(f"{'joint expected on new text like the reference (+ thresholds at its extremes)':91}  {cal.expected_rate:6.2%}")
    lines.append(f"* loosened from the default by the reference; shares weighted over {n:,} documents (effective size {cal.n_eff:,.0f}).")
    if any(r.rule.name == "c4.enabled" and r.calibrated for r in cal.results):
        lines.append(f"C4 is off: its line rules left no sentence in {cal.c4_emptied} reference documents.")
    return lines
