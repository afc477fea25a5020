"""`langmill calibrate`: quality and language-ID thresholds for a language, from clean reference text.

The method (issue 14), in the order `calibrate` runs it:

1. Measure. The reference is read with langmill's readers, normalised as `corpus` normalises, and
   passed through the corpus language-ID step (which may drop foreign lines); every rule's statistic
   is then counted by the filters' own Rust kernel (`langmill.native.textstats`) on the text that
   filter would see (FineWeb's on the text C4 leaves). `measure` divides the counts exactly as
   `langmill.filters.quality` does, and the final check runs the real filters, so the two cannot drift.
2. Stop words: the lowercased word tokens above 0.8 % of all tokens, then 0.3 %, then 0.2 %, until
   at least 8 (FineWeb-2's derivation); tokens without a letter (numbers) are not candidates.
3. LID threshold: FineWeb-2's formula, the median minus one standard deviation of the reference
   documents' target-language scores, clipped to [0.3, 0.9] (a heliport confidence only to >= 0);
   loosened like any rule below when it drops more than its share.
4. Budget: `budget` is the share of reference documents the whole pipeline (LID + quality filters)
   may drop. Documents LID puts in another language are counted apart (no threshold keeps them; a
   large share means the model does not know the language or the reference is not clean); those no
   threshold keeps (no words) are paid first. C4 goes first: when its line rules leave more documents
   without a sentence than an equal share, it is turned off (FineWeb-2 runs without it). The rest is
   split equally across the rules. A rule whose packaged default already drops no more than its
   share keeps the default and hands the rest of its share to the others (redone until no rule
   changes side); the others get the strictest threshold that drops at most their share. The real
   filters then run on the reference with these settings, and one factor on every share is bisected
   to the largest whose expected joint drop (7.) fits the budget: rules overlap, so equal shares
   alone leave budget unspent, and the filters' order can exceed a share.
5. Never stricter than the packaged default (configs/quality.yaml, the language-neutral file): the
   reference shows where well-formed text ends, not where junk begins, so it may loosen a rule but
   has no evidence to tighten one. This also keeps rules whose reference distribution is a point
   mass (no '#' in clean prose gives a 0 quantile) at their published value.
6. Length: LID, the document-length rules and C4's whole-document switches are calibrated first;
   every other rule is calibrated on the documents those keep, so short documents dropped anyway
   spend no other rule's share. The top-n-gram fractions are where length matters: measured on UD
   + LibreOffice Finnish (2,504 documents), the top 2-gram's share of characters has median 0.145
   under 20 words, 0.071 at 20-40, 0.042 at 40-80 and 0.02 above 150, because one 2-gram of a
   short text is a large part of it; duplicate 5-grams and lines grow with length instead (95th
   percentile of dup-5-gram 0 under 40 words, 0.18 at 150-300). A reference of short documents
   therefore loosens the n-gram rules for long ones; the filters take one threshold per rule, so
   the cure is the reference's min_doc_words (calibrated first) or a reference of documents as
   long as the corpus's, not per-length thresholds, which would need new settings in every filter.
7. Order statistics: a threshold at the reference's k-th most extreme value drops (k + 1) / (n + 1)
   of new documents on average, not k / n; the budget is checked against that expectation.

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
from langmill.config import LidSettings, default_quality_config, dump_config, load_quality_config
from langmill.evalstats import wilson_interval
from langmill.native.textstats import BULLET_CHARS, CLOSING_CHARS, TOKEN_INFIXES

DEFAULT_BUDGET = 0.03
MIN_TAIL_DOCS = 40  # reference documents a dropped tail needs for a usable estimate
STOP_WORD_SHARES = (0.008, 0.003, 0.002)
MIN_STOP_WORDS_LISTED = 8
LID_CLIP = (0.3, 0.9)


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
        Rule(g, "min_alpha_words_ratio", "min"), Rule(g, "min_stop_words", "min", integer=True),
        *(Rule(r, f"max_dup_{unit}_{kind}", "max") for unit in ("line", "para") for kind in ("frac", "char_frac")),
        *(Rule(r, f"max_top_ngram_char_frac.{n}", "max") for n in sorted(config[r]["max_top_ngram_char_frac"] or {}, key=int)),
        *(Rule(r, f"max_dup_ngram_char_frac.{n}", "max") for n in sorted(config[r]["max_dup_ngram_char_frac"] or {}, key=int)),
        Rule(c, "drop_lorem_ipsum", "flag", first=True), Rule(c, "drop_curly_bracket", "flag", first=True),
        Rule(c, "min_sentences", "min", integer=True),
        Rule(f, "min_line_punct_ratio", "min"), Rule(f, "max_short_line_ratio", "max"),
        Rule(f, "max_dup_line_char_ratio", "max"), Rule(f, "max_newline_word_ratio", "max"),
    ]  # fmt: skip
    return [rule for rule in rules if config[rule.section].get("enabled", True)]


LID_RULE = Rule("lid", "threshold", "min", first=True)


def get_setting(config: dict, rule: Rule):
    key, _, n = rule.key.partition(".")
    value = config[rule.section][key]
    return (value or {}).get(int(n), (value or {}).get(str(n))) if n else value


def set_setting(config: dict, rule: Rule, value) -> None:
    key, _, n = rule.key.partition(".")
    if n:
        config[rule.section][key] = {**(config[rule.section][key] or {}), int(n): value}
    else:
        config[rule.section][key] = value


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
    from langmill.filters.normalize import normalize_batch

    return [t for t in normalize_batch(list(texts), fix_mojibake=fix_mojibake) if t]


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
    q = native.gopher_quality_stats(lid_texts, stop_words=stop, bullet_chars=BULLET_CHARS, closing_chars=CLOSING_CHARS).astype(float)
    n, word_chars, n_tok, n_hash, n_ell, n_lines, n_bullet, n_ell_lines, n_alpha, n_stop = q.T
    values = {
        "gopher_quality.min_doc_words": n, "gopher_quality.max_doc_words": n,
        "gopher_quality.min_mean_word_length": _ratio(word_chars, n), "gopher_quality.max_mean_word_length": _ratio(word_chars, n),
        "gopher_quality.max_hash_word_ratio": _ratio(n_hash, n_tok), "gopher_quality.max_ellipsis_word_ratio": _ratio(n_ell, n_tok),
        "gopher_quality.max_bullet_lines_ratio": _ratio(n_bullet, n_lines), "gopher_quality.max_ellipsis_lines_ratio": _ratio(n_ell_lines, n_lines),
        "gopher_quality.min_alpha_words_ratio": _ratio(n_alpha, n_tok),
        "gopher_quality.min_stop_words": n_stop if stop else np.full(len(n), np.nan),
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
        values[f"gopher_repetition.max_top_ngram_char_frac.{nn}"] = _ratio(rep[:, 7 + j], n_chars)
    for j, nn in enumerate(dup_ns):
        values[f"gopher_repetition.max_dup_ngram_char_frac.{nn}"] = _ratio(rep[:, 7 + len(top_ns) + j], n_chars)
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


def derive_stop_words(texts: list[str]) -> tuple[list[str], float]:
    """(stop words, the token share that selected them): tokens with a letter above 0.8 % of all
    tokens, else above 0.3 %, else above 0.2 %, stopping at the first share that gives at least 8."""
    counts = token_counts(texts)
    total = sum(counts.values())
    words: list[str] = []
    share = STOP_WORD_SHARES[0]
    for share in STOP_WORD_SHARES:
        words = [w for w, k in counts.most_common() if k > share * total and any(ch.isalpha() for ch in w)]
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


def tail_threshold(values: np.ndarray, kind: str, k: int, integer: bool = False):
    """The strictest threshold that drops at most `k` of `values`, rounded outward to 3 decimals
    (None when no value applies)."""
    v = np.sort(values[~np.isnan(values)])
    if kind == "flag":  # a switch that would drop more than k is turned off
        return bool((v > 0.5).sum() <= k)
    if not len(v):
        return None
    if kind == "max":
        t = v[max(len(v) - 1 - k, 0)] if k < len(v) else v[-1]
        return int(t) if integer else math.ceil(t * 1000 - 1e-9) / 1000 if math.isfinite(t) else None
    t = v[min(k, len(v) - 1)] if k < len(v) else v[0]
    return int(t) if integer else math.floor(t * 1000 + 1e-9) / 1000


def more_permissive(kind: str, a, b):
    """The looser of two thresholds of a rule (None: off, the loosest)."""
    if kind == "flag":
        return bool(a and b)
    if a is None or b is None:
        return None
    return max(a, b) if kind == "max" else min(a, b)


@dataclass
class RuleResult:
    rule: Rule
    threshold: object
    default: object
    dropped: int  # reference documents it drops, among those the earlier-calibrated rules keep
    calibrated: bool  # set from the reference tail (else: the packaged default)
    share: float

    def interval(self, n: int) -> tuple[float, float]:
        return wilson_interval(self.dropped, n)


def allocate(meas: Measurements, rules: list[Rule], defaults: dict, budget: float, eligible: np.ndarray, n: int) -> dict[str, RuleResult]:
    """Step 4 for one group of rules on the `eligible` documents: equal shares of `budget` (a share
    of `n` documents), the rules that keep their default handing back what they do not use."""
    vals = {r.name: np.where(eligible, meas.values[r.name], np.nan) for r in rules}
    at_default = {r.name: int(drops(vals[r.name], r.kind, defaults[r.name]).sum()) for r in rules}
    fixed: set[str] = set()
    while True:
        free = [r for r in rules if r.name not in fixed]
        left = max(budget - sum(at_default[name] for name in fixed) / n, 0.0)
        share = left / len(free) if free else 0.0
        newly = [r.name for r in free if at_default[r.name] <= math.floor(share * n + 1e-9)]
        if not newly:
            break
        fixed |= set(newly)
    out = {}
    for r in rules:
        if r.name in fixed:
            t, calibrated = defaults[r.name], False
        else:
            t = more_permissive(r.kind, tail_threshold(vals[r.name], r.kind, math.floor(share * n + 1e-9), r.integer), defaults[r.name])
            if r.section == "lid" and t is not None:  # thresholds are >= 0 (a heliport confidence can be below)
                t = max(t, 0.0)
            calibrated = t != defaults[r.name]
        out[r.name] = RuleResult(r, t, defaults[r.name], int(drops(vals[r.name], r.kind, t).sum()), calibrated, share if calibrated else 0.0)
    return out


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
    always_dropped: int  # dropped whatever the thresholds (no words, lorem ipsum, ...)
    joint_dropped: int  # by the real filters with these settings
    rounds: int
    lid: LidSettings = field(default_factory=LidSettings)
    c4_emptied: int = 0  # documents C4's line rules left without a sentence (C4 is off when too many)

    @property
    def joint_rate(self) -> float:
        return self.joint_dropped / self.n

    @property
    def expected_rate(self) -> float:
        """On new text like the reference (order statistics: see `calibrate`)."""
        return expected_rate(self.joint_dropped, self.results, self.n)

    def small_tails(self) -> list[tuple[RuleResult, int]]:
        """(rule, reference documents needed) for each calibrated rule with under MIN_TAIL_DOCS
        documents in its dropped tail."""
        return [(r, math.ceil(MIN_TAIL_DOCS / max(r.share, 1e-9))) for r in self.results
                if r.calibrated and r.rule.kind != "flag" and not switched_off(r.rule, r.threshold) and r.dropped < MIN_TAIL_DOCS]

    def switched_off(self) -> list[RuleResult]:
        """Rules the reference loosened until no document can fail them."""
        return [r for r in self.results if r.calibrated and r.rule.kind != "flag" and switched_off(r.rule, r.threshold)]


def expected_rate(dropped: int, results, n: int) -> float:
    """The false drop expected on new text like the reference: `dropped` of `n` reference documents,
    plus one for each threshold set at an extreme of the reference (see `calibrate`)."""
    fitted = sum(1 for r in results if r.calibrated and r.rule.kind != "flag" and not switched_off(r.rule, r.threshold))
    return (dropped + fitted) / (n + 1)


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


def calibrate(texts: list[str], lang: str, budget: float = DEFAULT_BUDGET, lid: LidSettings | None = None, max_rounds: int = 10,
              keep_measurements: bool = False):
    """Thresholds for `lang` from reference `texts` (raw; normalised here) within `budget`: a
    Calibration (with `keep_measurements`, and the Measurements it was made from)."""
    from langmill.languages import canonical_lang

    lang = canonical_lang(lang)
    lid = copy.deepcopy(lid or LidSettings())
    texts = normalised(texts)
    if not texts:
        raise ValueError("no text in the reference")
    base, _ = load_quality_config(lang)  # the language's non-threshold settings (punctuation, substrings)
    neutral = default_quality_config()  # the bound of step 5
    stop_words, share = derive_stop_words(texts)
    base["gopher_quality"]["stop_words"] = stop_words
    lid_dropped, lid_score, lid_texts = run_lid(texts, lang, lid)
    meas = measure(texts, lid_dropped, lid_score, lid_texts, base)
    c4_rule = Rule("c4", "enabled", "flag")
    c4_result, c4_emptied = None, 0
    if base["c4"].get("enabled", True):
        # C4 removes lines (no final punctuation, under min_words_per_line words, ...), and a document
        # left with no sentence is dropped at any threshold: a one-line post without a final stop, a
        # help page of short lines. More of those than an equal share of the budget: C4 is turned off
        # (as FineWeb-2 runs it) and everything is measured again.
        emptied = int((meas.always & ~lid_dropped).sum() - (measure_without_c4(meas, base) & ~lid_dropped).sum())
        keep_c4 = bool(emptied <= budget * (~lid_dropped).sum() / (len(_rules(base)) + 1))
        if not keep_c4:
            base["c4"]["enabled"] = False
            meas = measure(texts, lid_dropped, lid_score, lid_texts, base)
        c4_result = RuleResult(c4_rule, keep_c4, True, emptied if keep_c4 else 0, not keep_c4, 0.0)
        c4_emptied = emptied
    # Documents LID puts in another language are not the language as far as the corpus can tell: a
    # threshold cannot keep them, so they are counted apart (a large share: the model does not know
    # the language, or the reference is not clean) and the budget is a share of the others.
    ref = ~lid_dropped
    n = int(ref.sum())
    if not n:
        raise ValueError(f"the language-ID step puts every reference document in another language than {lang}")
    meas.values[LID_RULE.name] = np.where(ref, lid_score, np.nan)
    lid_key = lid_threshold_key(lang, lid)
    formula = lid_formula(lid_score[ref], probability=lid_key == "threshold")
    rules = _rules(base)
    defaults = {r.name: get_setting(neutral, r) for r in rules} | {LID_RULE.name: formula}
    always = meas.always & ref
    budget_left = budget - always.sum() / n
    lid_cache: dict = {}

    def attempt(factor: float):
        """Thresholds with every share scaled by `factor`, and how many documents the real filters drop."""
        first = [LID_RULE] + [r for r in rules if r.first]
        later = [r for r in rules if not r.first]
        total = max(budget_left * factor, 0.0)
        results = allocate(meas, first, defaults, total * len(first) / (len(first) + len(later)), ref & ~always, n)
        kept = ref & ~always
        for res in results.values():
            kept &= ~drops(meas.values[res.rule.name], res.rule.kind, res.threshold)
        used = (ref & ~always & ~kept).sum() / n
        results |= allocate(meas, later, defaults, max(total - used, 0.0), kept, n)
        config = copy.deepcopy(base)
        for res in results.values():
            if res.rule.section != "lid":
                set_setting(config, res.rule, res.threshold)
        lid_now = replace(lid, **{lid_key: results[LID_RULE.name].threshold})
        reasons = simulate(meas, lang, lid_now, config, lid_cache)
        return results, config, lid_now, sum(r is not None for r, in_ref in zip(reasons, ref) if in_ref)

    # Equal shares first (factor 1). Rules overlap (the n-gram rules fire on the same repetitive
    # documents), so the union usually stays under the budget, and a share can be exceeded by the
    # real filters' own order: bisect on one factor for every share, keeping the largest that fits.
    # What must fit is the false drop expected on new text, not on the reference: a threshold set at
    # the reference's k-th most extreme value drops (k + 1) / (n + 1) of new documents on average,
    # not k / n (order statistics), so each rule set from the reference adds about 1 / (n + 1).
    # Measured: without this, UD + UDHR + LibreOffice fi halves of 373 documents dropped 2.9 % of the
    # calibration half and 7.2 % of the other.
    best, lo, hi = None, 0.0, None  # lo: the largest factor known to fit, hi: the smallest known not to
    top = 1.0 / budget_left if budget_left > 0 else 1.0  # the factor at which one rule's share is everything
    factor, rounds = 1.0, 0
    while rounds < max_rounds:
        rounds += 1
        found = attempt(factor)
        if expected_rate(found[3], found[0].values(), n) <= budget + 1e-9:
            best, lo = found, factor
        else:
            hi = factor
        if hi is None and factor < top:
            factor = min(factor * 2, top)
        elif hi is not None and hi - lo > 0.02:
            factor = (lo + hi) / 2
        else:
            break
    results, config, lid_now, joint = best or attempt(0.0)
    if c4_result is not None:
        results = {c4_rule.name: c4_result} | results
    cal = Calibration(lang, n, int(lid_dropped.sum()), budget, config, results[LID_RULE.name].threshold, formula, stop_words, share,
                      list(results.values()), int(always.sum()), joint, rounds, lid_now, c4_emptied)
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
        section = data.setdefault(res.rule.section, {})
        key, _, nn = res.rule.key.partition(".")
        if nn:
            section.setdefault(key, {})[int(nn)] = res.threshold
        else:
            section[key] = res.threshold
    data["gopher_quality"]["stop_words"] = list(cal.stop_words)
    ordered = {"lid": data["lid"]}
    for section in cal.config:  # quality.yaml's order; a disabled filter has only `enabled: false`
        if section in data:
            ordered[section] = {"enabled": True, **data[section]}
    return ordered


def header(cal: Calibration, inputs: list[tuple[str, int]], version: str, today: str) -> str:
    lines = [
        f"# langmill calibrate: quality and language-ID settings for {cal.lang}, from clean reference text.",
        f"# Use: langmill corpus INPUT... --lang {cal.lang} --config THIS_FILE",
        f"# Made {today} by langmill {version} (langmill/calibrate.py) from {cal.n:,} reference documents:",
        *(f"#   {path} ({size:,} bytes)" for path, size in inputs),
        f"# Budget: at most {cal.budget:.1%} of the reference dropped by LID + quality filters; dropped with",
        f"# these settings: {cal.joint_dropped} ({cal.joint_rate:.2%}). Each threshold is the strictest that drops at most",
        "# its share of the budget, never stricter than configs/quality.yaml; rules after LID and",
        "# document length are calibrated on the documents those keep. Stop words: tokens above",
        f"# {cal.stop_word_share:.1%} of the reference's tokens. LID threshold: median - 1 std of the reference's",
        f"# scores, clipped (FineWeb-2): {cal.lid_formula}; loosened to fit the budget: {cal.lid_threshold}.",
    ]
    return "\n".join(lines) + "\n"


def write_settings(cal: Calibration, path: str, inputs: list[tuple[str, int]], version: str, today: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(header(cal, inputs, version, today))
        f.write(dump_config(settings_data(cal)))


def _fmt(value) -> str:
    if value is None or value is False:
        return "off"
    if value is True:
        return "on"
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(cal: Calibration) -> list[str]:
    """The terminal report: rule, threshold (default), false drop with its 95 % Wilson interval."""
    n = cal.n
    lines = [f"{'rule':46} {'threshold':>10} {'default':>9}  false drop on the reference [95% CI]"]
    fixed_lo, fixed_hi = wilson_interval(cal.always_dropped, n)
    lines.append(f"{'(dropped at any threshold: no words, C4 left no sentence)':67}  {cal.always_dropped:>4}  {cal.always_dropped / n:6.2%} [{fixed_lo:.2%}, {fixed_hi:.2%}]")
    for res in cal.results:
        lo, hi = res.interval(n)
        mark = "*" if res.calibrated else " "
        lines.append(f"{res.rule.name:46} {_fmt(res.threshold):>10}{mark}{_fmt(res.default):>9}  {res.dropped:>4}  {res.dropped / n:6.2%} [{lo:.2%}, {hi:.2%}]")
    lo, hi = wilson_interval(cal.joint_dropped, n)
    lines.append(f"{'joint (the real filters, all rules)':67}  {cal.joint_dropped:>4}  {cal.joint_rate:6.2%} [{lo:.2%}, {hi:.2%}]  budget {cal.budget:.1%}")
    lines.append(f"{'joint expected on new text like the reference (+1 per rule set from it)':73}  {cal.expected_rate:6.2%}")
    lines.append("* set from the reference (C4: turned off); the other rules keep their default, whose drops fit their share.")
    if any(r.rule.name == "c4.enabled" and r.calibrated for r in cal.results):
        lines.append(f"C4 is off: its line rules left no sentence in {cal.c4_emptied} reference documents ({cal.c4_emptied / n:.1%}).")
    return lines
