"""Every setting of langmill, one default each, and the one YAML reader.

- Corpus settings are typed sections (dataclasses below): each field has its one default and a
  comment; a CLI flag sets one field (`--lid-threshold` -> `CorpusSettings.lid.threshold`).
- The quality filters' thresholds are data: `configs/quality.yaml`, with each language's own values
  in `configs/languages/<code>.yaml` merged over them (`load_quality_config`).
- The checks of translations: `configs/qc.yaml` (`load_qc_config`; `QC_OFF` switches all off).
A user's `--config FILE` is YAML shaped like `--print-config`'s output; it may change any of these.
Every file is checked before a run starts (`langmill.settings_schema`, rules at the end of this
file): unknown keys (with a did-you-mean), types and ranges, one ConfigError line naming file and key.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml

from langmill.languages import canonical_lang
from langmill.settings_schema import (  # noqa: F401 - ConfigError and deep_merge are imported from here by the rest of langmill
    ANY, AT_LEAST_1, NUMBER, PROBABILITY, REGEX, ConfigError, Rule, Schema, check_settings, dataclass_template, deep_merge,
)

CONFIG_DIR = Path(str(files("langmill") / "configs"))
QC_OFF = str(CONFIG_DIR / "qc_off.yaml")


def read_yaml(path) -> dict:
    """A YAML file that must hold a mapping; any problem is a one-line ConfigError."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections")
    return data


@lru_cache(maxsize=None)
def _packaged(name: str) -> dict:
    return read_yaml(CONFIG_DIR / name)


def packaged_yaml(name: str) -> dict:
    """A fresh copy of a YAML file shipped in langmill/configs/ (read once per process)."""
    return copy.deepcopy(_packaged(name))


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


# --- corpus: typed sections --------------------------------------------------------------------------


@dataclass
class NormalizeSettings:
    fix_mojibake: bool = True  # repair UTF-8 read as Latin-1/cp1252 ("TÃ¤mÃ¤" -> "Tämä")


FOREIGN_LINE_MODES = ("keep", "drop", "mark")  # lid.foreign_lines


@dataclass
class LidSettings:
    model: str | None = None  # a fastText LID model (GlotLID, OpenLID, ...); None: the embedded lid.176.ftz (--lid-model)
    threshold: float = 0.65  # minimum probability of the target language (--lid-threshold)
    max_chars: int = 20_000  # characters of each document that are classified
    # drop by default: on Finnish web-like text, kept English/Swedish 13.7 % -> 2.4 % of characters, no Finnish lost, for 2-3x the LID time (bench/line_lid.py)
    foreign_lines: str = "drop"  # lines in other languages: drop, mark (their share in foreign_share) or keep (not classified)
    line_threshold: float = 0.65  # a line is another language's when fastText gives that language at least this probability
    line_min_chars: int = 20  # lines with fewer letters (URLs not counted) are not classified: they go with the document
    # fasttext, heliport or auto: the better one for the language in bench/lid_backends.md (DEFAULT_BACKEND in
    # langmill/lid_backends.py), fastText when lid.model is set (--lid-backend)
    backend: str = "auto"
    line_backend: str = "auto"  # the backend of line-level LID; auto: the document backend
    # heliport's score is its confidence (runner-up's HeLI score minus the winner's, 0-7), not a probability:
    # 0.4 is the 2nd percentile of the right language's score on Leipzig + UD sentences (bench/lid_backends.md)
    heliport_threshold: float = 0.4
    # a line is another language's when heliport gives it at least this confidence: 0.27 % of right-language sentences removed
    heliport_line_threshold: float = 0.5


@dataclass
class PiiSettings:
    email: bool = True  # replace e-mail addresses with <EMAIL>
    ip: bool = True  # replace IPv4/IPv6 addresses with <IP_ADDRESS>


@dataclass
class DedupSettings:
    ngram: int = 5  # words per shingle, after lower-casing and removing punctuation
    num_perm: int = 112  # MinHash permutations
    bands: int = 14  # LSH bands x rows <= num_perm; 14 x 8 finds ~92% of pairs at Jaccard 0.8, ~100% at 0.9
    rows: int = 8
    seed: int = 1
    min_words: int = 5  # shorter documents take part in exact dedup only


def _slurm_defaults() -> dict:
    return {"partition": None, "time": "24:00:00", "cpus_per_task": 1, "mem_per_cpu_gb": 2, "qos": "normal", "sbatch_args": {}, "venv_path": None,
            "stages": {}}


@dataclass
class ExecutorSettings:
    """Options of datatrove's Slurm and Ray executors (--executor slurm|ray); `slurm.partition` is required for Slurm.
    `stages` maps a stage name to options of its own (e.g. `clusters: {mem_per_cpu_gb: 16}`: the one
    task that holds every document with a duplicate)."""

    slurm: dict = field(default_factory=_slurm_defaults)
    ray: dict = field(default_factory=lambda: {"cpus_per_task": 1, "mem_per_cpu_gb": 2, "stages": {}})


QUALITY_SECTIONS = tuple(_packaged("quality.yaml"))  # gopher_quality, gopher_repetition, c4, fineweb_quality

_SECTIONS = {"normalize": NormalizeSettings, "lid": LidSettings, "pii": PiiSettings, "dedup": DedupSettings, "executor": ExecutorSettings}


@dataclass
class CorpusSettings:
    """All settings of a `langmill corpus` run; `quality` holds the four quality filters' sections."""

    normalize: NormalizeSettings = field(default_factory=NormalizeSettings)
    lid: LidSettings = field(default_factory=LidSettings)
    pii: PiiSettings = field(default_factory=PiiSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    quality: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The settings as --print-config shows them and --config takes them."""
        return {name: asdict(getattr(self, name)) for name in _SECTIONS} | copy.deepcopy(self.quality)


def load_config(lang: str, override_path: str | None = None, profile: dict | None = None) -> tuple[CorpusSettings, bool]:
    """The settings for `lang` (defaults, the language's quality file, a profile's settings shaped
    like a --config file (langmill.profiles), then the --config file), and whether langmill has
    quality settings of its own for the language."""
    quality, known_language = load_quality_config(lang)
    defaults = CorpusSettings(quality=quality).to_dict()
    language_lid = language_lid_thresholds(lang)
    if language_lid:
        defaults = deep_merge(defaults, {"lid": language_lid})
    if profile:
        defaults = _merge_settings(defaults, check_settings(profile, corpus_schema(), "profile", base=defaults))
    override = read_yaml(override_path) if override_path else {}
    merged = _merge_settings(defaults, check_settings(override, corpus_schema(), override_path or "config", base=defaults))
    sections = {name: cls(**merged[name]) for name, cls in _SECTIONS.items()}
    return CorpusSettings(**sections, quality={name: merged[name] for name in QUALITY_SECTIONS}), known_language


def _merge_settings(base: dict, over: dict) -> dict:
    """`over` deep-merged into `base`, except that a section's `by_length` in `over` replaces the base's
    buckets whole: per-length thresholds are a set (a profile's or a file's `by_length: {}` clears them)."""
    base = copy.deepcopy(base)
    for name, section in over.items():
        if isinstance(section, dict) and "by_length" in section and isinstance(base.get(name), dict):
            base[name]["by_length"] = {}
    return deep_merge(base, over)


def check_option(option: str, key: str, value) -> None:
    """A command-line value that sets one corpus setting (--lid-threshold sets lid.threshold),
    checked as the same key in a --config file would be."""
    section, name = key.split(".")
    check_settings({section: {name: value}}, corpus_schema(), option)


def load_executor_config(path: str | None) -> dict:
    """The executor section of an --executor-config file (translate, qc); the file is checked as a
    corpus --config file, so `langmill corpus --print-config` output is one."""
    if not path:
        return {}
    return check_settings(read_yaml(path), corpus_schema(), path).get("executor") or {}


# --- quality filters ---------------------------------------------------------------------------------


def default_quality_config() -> dict:
    """The sections of quality.yaml (a fresh copy)."""
    return packaged_yaml("quality.yaml")


# What gopher_quality's alpha ratio divides by: word tokens (langmill: punctuation and Markdown markers
# such as "-", "*", "|" left out) or every token (Gopher, FineWeb: their tokenizers' punctuation included).
ALPHA_RATIO_OF = ("words", "tokens")

# Settings of a section that a `by_length` bucket cannot change: switches, word lists, definitions.
NOT_BY_LENGTH = {"enabled", "by_length", "stop_words", "separator_chars", "terminal_punctuation", "short_line_length",
                 "line_punct_exclude_zero", "alpha_ratio_of"}


def quality_template() -> dict:
    """quality.yaml as a settings template: each section's `by_length` takes word counts (integers
    >= 1) mapping to that section's thresholds."""
    template = default_quality_config()
    for section in template.values():
        if "by_length" in section:
            section["by_length"] = {1: {k: v for k, v in section.items() if k not in NOT_BY_LENGTH}}
    return template


def language_file(lang: str) -> Path | None:
    """The language's own quality file, if any; any spelling of the language finds it ("fi", "FI",
    "fin", "fi-FI", "fin_Latn")."""
    path = CONFIG_DIR / "languages" / f"{canonical_lang(lang)}.yaml"
    return path if lang and path.is_file() else None


# The only LID settings a language file may hold: its document thresholds, on each backend's scale
# (calibrated like FineWeb-2's per-language LID thresholds); everything else about LID is the run's.
LANGUAGE_LID_KEYS = ("threshold", "heliport_threshold")


def language_lid_thresholds(lang: str) -> dict:
    """The `lid` thresholds the language's file sets ({} when none): defaults that --config and
    --lid-threshold still override."""
    path = language_file(lang)
    lid = (_packaged(f"languages/{path.name}").get("lid") or {}) if path is not None else {}
    unknown = sorted(set(lid) - set(LANGUAGE_LID_KEYS))
    if unknown:  # a packaging mistake, not a user's: fail loudly
        raise ConfigError(f"languages/{path.name}: lid may only set {', '.join(LANGUAGE_LID_KEYS)}, not {', '.join(unknown)}")
    return dict(lid)


def load_quality_config(lang: str, override: dict | None = None) -> tuple[dict, bool]:
    """The merged quality sections for `lang`, and whether the language has its own file.

    Order: quality.yaml, then languages/<lang>.yaml, then `override` (shaped like the file:
    {"c4": {"min_sentences": 2}, ...}). An unknown language gets the defaults, which are
    language-agnostic (empty stop-word list, so the stop-word rule is off)."""
    merged = default_quality_config()
    path = language_file(lang)
    if path is not None:
        lang_data = _packaged(f"languages/{path.name}")
        merged = deep_merge(merged, {k: v for k, v in lang_data.items() if k in QUALITY_SECTIONS})
    if override:
        quality = Schema(quality_template(), QUALITY_RULES, QUALITY_FREE, (_alpha_ratio_of,))
        merged = deep_merge(merged, check_settings(override, quality, "quality settings", base=merged))
    return merged, path is not None


# --- checks of translations --------------------------------------------------------------------------


def load_qc_config(override: dict | str | None = None) -> dict:
    """`configs/qc.yaml` with `override` (a dict, or the path of a YAML file) merged into it.
    `load_qc_config(QC_OFF)` switches every check off."""
    base = packaged_yaml("qc.yaml")
    if override is None:
        return base
    path = override if isinstance(override, str) else None
    over = read_yaml(override) if path else override
    return deep_merge(base, check_settings(over, qc_schema(), path or "qc config", base=base))


# --- checks of generated instruction/answer pairs ----------------------------------------------------


def load_synth_config(override: dict | str | None = None) -> dict:
    """`configs/synth.yaml` with `override` (a dict, or the path of a YAML file) merged into it."""
    base = packaged_yaml("synth.yaml")
    if override is None:
        return base
    path = override if isinstance(override, str) else None
    over = read_yaml(override) if path else override
    return deep_merge(base, check_settings(over, Schema(base, SYNTH_RULES, {"refusal.phrases", "context_reference.phrases"}, (_dedup_bands_fit,)), path or "synth config", base=base))


# --- what each setting may be (langmill.settings_schema) ---------------------------------------------
# Known keys and types come from the defaults above, so a new setting is checked as soon as it has a
# default. Here are the ranges defaults cannot say; a number without a rule must be >= 0, and one
# named *threshold* is a probability. min_x <= max_x is checked in every section.

CORPUS_RULES = {
    "lid.max_chars": AT_LEAST_1, "lid.heliport_threshold": NUMBER, "lid.heliport_line_threshold": NUMBER,  # confidences, 0-7
    "dedup.ngram": AT_LEAST_1, "dedup.num_perm": AT_LEAST_1, "dedup.rows": AT_LEAST_1,
    "dedup.bands": Rule("int", 1, 254),  # a band is a byte in the dedup index, 255 marks the whole-text hash
    "executor.*.cpus_per_task": AT_LEAST_1, "executor.ray.mem_per_cpu_gb": NUMBER,
}
QUALITY_RULES = {
    "gopher_quality.min_mean_word_length": NUMBER, "gopher_quality.max_mean_word_length": NUMBER,
    "gopher_quality.max_bullet_lines_ratio": PROBABILITY, "gopher_quality.max_ellipsis_lines_ratio": PROBABILITY,
    "gopher_quality.min_alpha_words_ratio": PROBABILITY, "gopher_quality.max_separator_ratio": PROBABILITY,
    "gopher_quality.max_garbled_word_ratio": PROBABILITY, "gopher_quality.min_distinct_word_ratio": PROBABILITY,
    # by_length buckets: the section's own ranges (the first matching pattern wins)
    "*.by_length.*.min_mean_word_length": NUMBER, "*.by_length.*.max_mean_word_length": NUMBER,
    "*.by_length.*.min_doc_words": Rule(), "*.by_length.*.max_doc_words": Rule(), "*.by_length.*.min_stop_words": Rule(),
    "gopher_repetition.by_length.*.max_top_ngram_char_frac.*": NUMBER,
    "*.by_length.*.*": PROBABILITY, "gopher_repetition.by_length.*.*.*": PROBABILITY,
    # a top n-gram's overlapping occurrences can cover more than len(text) ("ha ha ha"): FineWeb-2 uses limits above 1
    "gopher_repetition.max_top_ngram_char_frac.*": NUMBER,
    "gopher_repetition.*": PROBABILITY, "gopher_repetition.*.*": PROBABILITY,  # fractions of lines, paragraphs, characters
    "c4.max_word_length": AT_LEAST_1,
    "fineweb_quality.min_line_punct_ratio": PROBABILITY, "fineweb_quality.max_short_line_ratio": PROBABILITY,
    "fineweb_quality.max_dup_line_char_ratio": PROBABILITY,
}
QUALITY_FREE = {"gopher_repetition.max_top_ngram_char_frac", "gopher_repetition.max_dup_ngram_char_frac",  # n-gram size -> fraction
                "*.by_length", "gopher_repetition.by_length.*.max_top_ngram_char_frac", "gopher_repetition.by_length.*.max_dup_ngram_char_frac"}
SYNTH_RULES = {"repetition.min_compression_ratio": PROBABILITY, "instruction.min_words": AT_LEAST_1, "support.min_overlap": PROBABILITY,
               "dedup.ngram": AT_LEAST_1, "dedup.num_perm": AT_LEAST_1, "dedup.bands": AT_LEAST_1, "dedup.rows": AT_LEAST_1,
               "support.prefix_chars": AT_LEAST_1}
QC_RULES = {"non_alnum_share.max": PROBABILITY, "non_alnum_share.margin": PROBABILITY, "prompt_artifacts.patterns": REGEX}


def _foreign_line_mode(merged: dict) -> list[str]:
    mode = merged["lid"]["foreign_lines"]
    return [] if mode in FOREIGN_LINE_MODES else [f"lid.foreign_lines must be one of {', '.join(FOREIGN_LINE_MODES)}, not {mode!r}"]


def _lid_backends(merged: dict) -> list[str]:
    from langmill.lid_backends import LID_BACKEND_CHOICES

    return [f"lid.{key} must be one of {', '.join(LID_BACKEND_CHOICES)}, not {merged['lid'][key]!r}"
            for key in ("backend", "line_backend") if merged["lid"][key] not in LID_BACKEND_CHOICES]


def _alpha_ratio_of(merged: dict) -> list[str]:
    value = merged["gopher_quality"]["alpha_ratio_of"]
    return [] if value in ALPHA_RATIO_OF else [f"gopher_quality.alpha_ratio_of must be one of {', '.join(ALPHA_RATIO_OF)}, not {value!r}"]


def _dedup_bands_fit(merged: dict) -> list[str]:
    bands, rows, num_perm = (merged["dedup"][k] for k in ("bands", "rows", "num_perm"))
    if bands * rows <= num_perm:
        return []
    return [f"dedup.bands x dedup.rows ({bands} x {rows} = {bands * rows}) must be <= dedup.num_perm ({num_perm})"]


def _executor_options(kind: str) -> dict:
    """Every option of datatrove's executor of this kind that langmill does not set itself (any value)."""
    import inspect

    from datatrove.executor import RayPipelineExecutor, SlurmPipelineExecutor

    cls = {"slurm": SlurmPipelineExecutor, "ray": RayPipelineExecutor}[kind]
    own = {"self", "pipeline", "tasks", "workers", "logging_dir", "depends", "job_name"}
    return {name: ANY for name in inspect.signature(cls.__init__).parameters if name not in own}


@lru_cache(maxsize=None)
def corpus_schema() -> Schema:
    """What a corpus --config file may hold: the typed sections, then the quality sections."""
    sections = {name: dataclass_template(cls) for name, cls in _SECTIONS.items()}
    sections["executor"] = {kind: _executor_options(kind) | options for kind, options in sections["executor"].items()}
    return Schema(sections | quality_template(), CORPUS_RULES | QUALITY_RULES,
                  QUALITY_FREE | {"executor.slurm.sbatch_args", "executor.slurm.stages", "executor.ray.stages"}, (_dedup_bands_fit, _foreign_line_mode, _lid_backends, _alpha_ratio_of))


@lru_cache(maxsize=None)
def qc_schema() -> Schema:
    """qc.yaml's keys, and `enabled` in every section but structure (whose checks are switched one by one)."""
    defaults = packaged_yaml("qc.yaml")
    for name, section in defaults.items():
        if name != "structure":
            section.setdefault("enabled", True)
    return Schema(defaults, QC_RULES, {"length_ratio.languages"})
