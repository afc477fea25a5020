"""Every setting of langmill, one default each, and the one YAML reader.

- Corpus settings are typed sections (dataclasses below): each field has its one default and a
  comment; a CLI flag sets one field (`--lid-threshold` -> `CorpusSettings.lid.threshold`).
- The quality filters' thresholds are data: `configs/quality.yaml`, with each language's own values
  in `configs/languages/<code>.yaml` merged over them (`load_quality_config`).
- The checks of translations: `configs/qc.yaml` (`load_qc_config`; `QC_OFF` switches all off).
A user's `--config FILE` is YAML shaped like `--print-config`'s output; it may change any of these,
and names no setting that does not exist.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml

from langmill.languages import canonical_lang

CONFIG_DIR = Path(str(files("langmill") / "configs"))
QC_OFF = str(CONFIG_DIR / "qc_off.yaml")


class ConfigError(Exception):
    """A config file or setting that cannot be used; the message is one line that names it."""


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


def deep_merge(base: dict, over: dict) -> dict:
    """A new dict: `over` merged into `base`. Dicts merge key by key, recursively; anything else
    (lists included) in `over` replaces the value in `base`. Neither input is modified."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


# --- corpus: typed sections --------------------------------------------------------------------------


@dataclass
class NormalizeSettings:
    fix_mojibake: bool = True  # repair UTF-8 read as Latin-1/cp1252 ("TÃ¤mÃ¤" -> "Tämä")


@dataclass
class LidSettings:
    model: str | None = None  # a fastText LID model (GlotLID, OpenLID, ...); None: the embedded lid.176.ftz (--lid-model)
    threshold: float = 0.65  # minimum probability of the target language (--lid-threshold)
    max_chars: int = 20_000  # characters of each document that are classified


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
    return {"partition": None, "time": "24:00:00", "cpus_per_task": 1, "mem_per_cpu_gb": 2, "qos": "normal", "sbatch_args": {}, "venv_path": None}


@dataclass
class ExecutorSettings:
    """Options of datatrove's Slurm and Ray executors (--executor slurm|ray); `slurm.partition` is required for Slurm."""

    slurm: dict = field(default_factory=_slurm_defaults)
    ray: dict = field(default_factory=lambda: {"cpus_per_task": 1, "mem_per_cpu_gb": 2})


QUALITY_SECTIONS = tuple(_packaged("quality.yaml"))  # gopher_quality, gopher_repetition, c4, fineweb_quality

_SECTIONS = {"normalize": NormalizeSettings, "lid": LidSettings, "pii": PiiSettings, "dedup": DedupSettings, "executor": ExecutorSettings}


def _section(cls, name: str, values: dict, source: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: {name} must be a mapping of settings")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(f'{name}.{k}' for k in unknown)} (known: {', '.join(sorted(known))})")
    base = asdict(cls())
    return cls(**deep_merge(base, values))


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


def load_config(lang: str, override_path: str | None = None) -> tuple[CorpusSettings, bool]:
    """The settings for `lang` (defaults, the language's quality file, then the --config file), and
    whether langmill has quality settings of its own for the language."""
    override = read_yaml(override_path) if override_path else {}
    source = override_path or "config"
    unknown = set(override) - set(_SECTIONS) - set(QUALITY_SECTIONS)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
    sections = {name: _section(cls, name, override.get(name) or {}, source) for name, cls in _SECTIONS.items()}
    quality, known_language = load_quality_config(lang, {k: v for k, v in override.items() if k in QUALITY_SECTIONS})
    return CorpusSettings(**sections, quality=quality), known_language


# --- quality filters ---------------------------------------------------------------------------------


def default_quality_config() -> dict:
    """The sections of quality.yaml (a fresh copy)."""
    return packaged_yaml("quality.yaml")


def language_file(lang: str) -> Path | None:
    """The language's own quality file, if any; any spelling of the language finds it ("fi", "FI",
    "fin", "fi-FI", "fin_Latn")."""
    path = CONFIG_DIR / "languages" / f"{canonical_lang(lang)}.yaml"
    return path if lang and path.is_file() else None


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
        merged = deep_merge(merged, override)
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
    unknown = set(over) - set(base)
    if unknown:
        raise ConfigError(f"{path or 'qc config'}: unknown section(s) {', '.join(sorted(unknown))} (known: {', '.join(base)})")
    return deep_merge(base, over)
