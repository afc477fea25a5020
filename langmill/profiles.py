"""Settings profiles: another project's published per-language filter settings, as langmill settings.

`langmill corpus --profile fineweb2` runs FineWeb-2's settings for the language (Penedo et al. 2025;
huggingface/fineweb-2 configs/<xxx_Scrp>.yml, Apache-2.0, kept in configs/fineweb2/fineweb2.json.gz
by scripts/convert_fineweb2.py; see configs/fineweb2/README.md). A profile is a dict shaped like a
--config file; `config.load_config` merges it as: packaged defaults (quality.yaml and
languages/<code>.yaml) < profile < --config file < command-line flags.

FineWeb-2's filtering (fineweb-2-pipeline.py, datatrove's filters) in langmill's rules:

  FineWeb-2 / datatrove                          langmill
  GopherRepetition dup_line_frac                 gopher_repetition.max_dup_line_frac
    top_n_grams, dup_n_grams                     max_top_ngram_char_frac, max_dup_ngram_char_frac
    dup_para_frac, dup_para_char_frac,           1.0: off (datatrove reads 0 as off; these shares
    dup_line_char_frac = 0                       never exceed 1)
  FineWebQuality line_punct_thr (-1: off)        fineweb_quality.min_line_punct_ratio (0.0: off)
    new_line_ratio                               max_newline_word_ratio
    char_duplicates_ratio = 0.1                  max_dup_line_char_ratio
    short_line_thr = 999 (off)                   max_short_line_ratio 1.0 (off)
  GopherQuality min/max_avg_word_length          gopher_quality.min/max_mean_word_length
    max_non_alpha_words_ratio (a minimum share   min_alpha_words_ratio with alpha_ratio_of: tokens
    of tokens holding a letter)                  (punctuation tokens included, as FineWeb-2 counts)
    stopwords, min_stop_words = 2                stop_words, min_stop_words
    datatrove's defaults, kept by FineWeb-2      min/max_doc_words 50/100000, '#' and ellipsis per
                                                 token 0.1, bullet lines 0.9, ellipsis lines 0.3
  no separator, garbled-word or distinct-word     gopher_quality.max_separator_ratio 1.0,
  rule (langmill's own), one threshold per rule  max_garbled_word_ratio 1.0, min_distinct_word_ratio 0
                                                 (off), by_length {} (the language file's not merged)
  no C4 filter                                   c4.enabled false
  language_score (a GlotLID score)               lid.threshold, only with a GlotLID-style model

The filters run in a different order (langmill: Gopher quality before FineWeb quality); with C4 off
no filter edits text, so the order changes which rule a dropped document is charged to, not what is
kept. Where langmill defines a rule differently, DIFFERENCES says how; every run prints it.
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from langmill.config import CONFIG_DIR, ConfigError
from langmill.languages import canonical_lang

PROFILES = ("fineweb2",)
FINEWEB2_FILE = CONFIG_DIR / "fineweb2" / "fineweb2.json.gz"

# What FineWeb-2 did and langmill does not do the same way (printed by every run with the profile);
# {stop} says how many of the language's stop words langmill's tokens can never match.
DIFFERENCES = (
    "words are langmill's tokens (textstats), not FineWeb-2's per-language spaCy/stanza tokenizers; "
    "stop words match lowercased whole tokens (FineWeb-2: case-sensitive tokens){stop}; "
    "the newline ratio divides by words without punctuation tokens (FineWeb-2: with them), so it is a little stricter{punct}"
)
# Only where the line-punctuation rule is on (FineWeb-2's line_punct_thr >= 0).
LINE_PUNCT_DIFFERENCE = ("; a line ends in punctuation when its last mark, after trailing spaces and closing quotes or brackets, "
                         "is in fineweb_quality.terminal_punctuation (datatrove: the raw line end, its own list of marks)")
# Scripts written without spaces: FineWeb-2 segments them into words; langmill's tokens do not, so
# its word-length and n-gram thresholds do not carry over.
UNSPACED_SCRIPTS = {"Hani", "Hans", "Hant", "Jpan", "Hira", "Kana", "Thai", "Laoo", "Khmr", "Mymr", "Tibt", "Bali", "Java"}
GLOTLID_LABEL = re.compile(r"__label__[a-z]{3}_[A-Z][a-z]{3}")  # __label__fin_Latn (GlotLID, OpenLID)


@dataclass
class Profile:
    """A profile's settings for one language, and what a run should say about them."""

    name: str
    language: str  # the profile's own name for the language ("fin_Latn")
    settings: dict  # sections shaped like a --config file
    notes: list[str] = field(default_factory=list)  # one line each: which settings, LID, definitions

    @property
    def label(self) -> str:
        return f"{self.name} ({self.language})"


def load_profile(name: str, lang: str, lid_model: str | None) -> Profile:
    """The profile `name` for `lang` (any spelling); `lid_model` is the fastText LID model the run
    uses (None: lid.176). A profile or language it has no settings for is a one-line ConfigError."""
    if name not in PROFILES:
        raise ConfigError(f"--profile {name}: unknown profile (known: {', '.join(PROFILES)})")
    return fineweb2_profile(lang, lid_model)


# --- FineWeb-2 ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def fineweb2_table() -> dict[str, dict]:
    """FineWeb-2's settings by language-script ("fin_Latn"), under FineWeb-2's field names."""
    with gzip.open(FINEWEB2_FILE, "rt", encoding="utf-8") as f:
        return json.load(f)["languages"]


@lru_cache(maxsize=1)
def _by_language() -> dict[str, list[str]]:
    """langmill's language code -> FineWeb-2's language-scripts of it ("sr" -> srp_Cyrl, srp_Latn)."""
    groups: dict[str, list[str]] = {}
    for name in fineweb2_table():
        groups.setdefault(canonical_lang(name), []).append(name)
    return groups


def fineweb2_language(lang: str) -> str:
    """FineWeb-2's language-script for `lang`: "fi", "FI", "fin" and "fin_Latn" give "fin_Latn".
    A language written in several scripts needs the script ("sr" -> error naming srp_Cyrl, srp_Latn)."""
    code = (lang or "").removeprefix("__label__").strip().replace("-", "_")
    table = fineweb2_table()
    exact = {name.lower(): name for name in table}
    if code.lower() in exact:
        return exact[code.lower()]
    script = code.partition("_")[2].title()
    candidates = _by_language().get(canonical_lang(code), [])
    if len(script) == 4 and script.isalpha():
        candidates = [c for c in candidates if c.endswith("_" + script)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ConfigError(f"--lang {lang}: FineWeb-2 has settings for {len(candidates)} scripts of this language "
                          f"({', '.join(candidates)}); give one as --lang, e.g. --lang {candidates[0]}")
    raise ConfigError(f"--lang {lang}: FineWeb-2 has no settings for this language{_closest(code)}")


def _closest(code: str) -> str:
    names = {name.lower(): name for name in fineweb2_table()}
    names |= {c: v[0] for c, v in _by_language().items()}
    close = difflib.get_close_matches(code.lower(), list(names), n=3, cutoff=0.5)
    found = sorted({names[c] for c in close})
    if found:
        return f" (closest: {', '.join(found)})"
    return " (give an ISO 639 code or a FineWeb-2 language-script such as fin_Latn)"


def fineweb2_settings(fw: dict, lid_threshold: bool) -> dict:
    """FineWeb-2's settings of one language (FineWeb-2's field names) as langmill sections; its LID
    threshold only when `lid_threshold` (it is a GlotLID score)."""
    top = {n: frac for n, frac in fw["top_n_grams"]}  # may exceed 1: a top n-gram's occurrences overlap
    dup = {n: min(frac, 1.0) for n, frac in fw["dup_n_grams"]}  # <= 1 by definition; above 1 = never drops
    dup_line = fw["dup_line_frac"]
    settings = {
        "gopher_repetition": {
            "enabled": True,
            # 0 is datatrove's "off"; a share of lines above 1 never drops: both are 1.0 here.
            "max_dup_line_frac": 1.0 if dup_line <= 0 or dup_line > 1 else dup_line,
            "max_dup_para_frac": 1.0, "max_dup_line_char_frac": 1.0, "max_dup_para_char_frac": 1.0,
            "max_top_ngram_char_frac": top, "max_dup_ngram_char_frac": dup,
            "by_length": {},
        },
        "gopher_quality": {
            "enabled": True, "min_doc_words": 50, "max_doc_words": 100_000,
            "min_mean_word_length": fw["min_avg_word_length"], "max_mean_word_length": fw["max_avg_word_length"],
            "max_hash_word_ratio": 0.1, "max_ellipsis_word_ratio": 0.1,
            "max_bullet_lines_ratio": 0.9, "max_ellipsis_lines_ratio": 0.3,
            "min_alpha_words_ratio": fw["max_non_alpha_words_ratio"],  # FineWeb-2's name, but a minimum
            "min_stop_words": 2, "stop_words": matchable_stop_words(fw["stopwords"]),
            "alpha_ratio_of": "tokens",  # FineWeb-2's share counts punctuation tokens too
            # langmill's own rules: FineWeb-2 has none, so off
            "max_separator_ratio": 1.0, "max_garbled_word_ratio": 1.0, "min_distinct_word_ratio": 0.0,
            "by_length": {},  # one threshold per rule (load_config does not merge a language file's buckets into a profile)
        },
        "c4": {"enabled": False},
        "fineweb_quality": {
            "enabled": True,
            "min_line_punct_ratio": max(fw["line_punct_thr"], 0.0),  # -1 (off) -> 0.0, which never drops
            "line_punct_exclude_zero": False,
            "max_short_line_ratio": 1.0,  # FineWeb-2's short_line_thr 999: off
            "max_dup_line_char_ratio": 0.1,
            "max_newline_word_ratio": fw["new_line_ratio"],
        },
    }
    if lid_threshold:
        settings["lid"] = {"threshold": fw["language_score"]}
    return settings


def matchable_stop_words(words: list[str]) -> list[str]:
    """The stop words that can be one of langmill's word tokens: "ja" stays, "s.", "l'" and "،"
    go (langmill's tokens never hold them, FineWeb-2's tokenizers may). Decided by the same Rust
    statistics the Gopher filter uses: the word alone must be one token that is a stop word."""
    from langmill import native
    from langmill.native.textstats import BULLET_CHARS, CLOSING_CHARS

    if not words:
        return []
    stats = native.gopher_quality_stats(words, stop_words=sorted({w.lower() for w in words}), bullet_chars=BULLET_CHARS,
                                        closing_chars=CLOSING_CHARS, threads=1)
    # columns: n_words 0, n_tokens 2, n_stop_words 9 (native.GOPHER_QUALITY_COLUMNS)
    return [w for w, row in zip(words, stats.tolist()) if row[0] == 1 and row[2] == 1 and row[9] == 1]


@lru_cache(maxsize=4)
def is_glotlid_style(model_path: str | None) -> bool:
    """Whether a fastText LID model labels languages as GlotLID does (__label__fin_Latn). lid.176
    (None) does not; a file that is missing or not a model is left to the model checks (False)."""
    if not model_path:
        return False
    try:
        import fasttext

        labels, _ = fasttext.load_model(model_path).predict("a", k=-1, threshold=-1.0)
    except Exception:  # noqa: BLE001 - reported as one line by cli's model check
        return False
    return bool(labels) and sum(bool(GLOTLID_LABEL.fullmatch(label)) for label in labels) >= 0.9 * len(labels)


def fineweb2_profile(lang: str, lid_model: str | None) -> Profile:
    name = fineweb2_language(lang)
    fw = fineweb2_table()[name]
    glotlid = is_glotlid_style(lid_model)
    settings = fineweb2_settings(fw, lid_threshold=glotlid)
    kept = settings["gopher_quality"]["stop_words"]
    left_out = [w for w in fw["stopwords"] if w not in kept]
    stop = f", so {len(left_out)} of {len(fw['stopwords'])} that are or hold punctuation are left out ({' '.join(left_out)})" if left_out else ""
    if left_out and not kept:
        stop += " and the stop-word rule is off"
    notes = [f"FineWeb-2's settings for {name} (huggingface/fineweb-2 configs/{name}.yml, Apache-2.0): "
             "no C4, no paragraph repetition, no short-line rule, no separator rule, duplicate-line characters 0.1"]
    if glotlid:
        notes.append(f"lid.threshold {fw['language_score']}: FineWeb-2's GlotLID score threshold for {name} (the LID model has GlotLID labels)")
    else:
        notes.append(f"lid.threshold: langmill's, not FineWeb-2's {fw['language_score']}, which is a GlotLID score "
                     "and this LID model is not GlotLID (give --lid-model with a GlotLID model to use it)")
    punct = LINE_PUNCT_DIFFERENCE if fw["line_punct_thr"] >= 0 else ""
    notes.append("rule definitions that differ: " + DIFFERENCES.format(stop=stop, punct=punct))
    if name.partition("_")[2] in UNSPACED_SCRIPTS:
        notes.append(f"{name} is written without spaces between words: FineWeb-2 segmented it into words, langmill does not, "
                     "so its word-length and n-gram thresholds do not carry over")
    return Profile("fineweb2", name, settings, notes)
