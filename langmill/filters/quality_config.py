"""Load the quality filters' configuration: `configs/quality.yaml` deep-merged with a language file."""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULTS_PATH = CONFIG_DIR / "quality.yaml"
LANGUAGES_DIR = CONFIG_DIR / "languages"
QUALITY_SECTIONS = ("gopher_quality", "gopher_repetition", "c4", "fineweb_quality")

_LANG_CODE = re.compile(r"^[a-z]{2,3}$")


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


@lru_cache(maxsize=None)
def _read_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def default_quality_config() -> dict:
    """The four sections of quality.yaml (a fresh copy)."""
    data = _read_yaml(DEFAULTS_PATH)
    return {s: copy.deepcopy(data[s]) for s in QUALITY_SECTIONS}


def language_file(lang: str) -> Path | None:
    """The language's own file, if any. "fi", "FI", "fi-FI" and "fi_FI" all map to fi.yaml."""
    code = re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]
    if not _LANG_CODE.match(code):
        return None
    path = LANGUAGES_DIR / f"{code}.yaml"
    return path if path.is_file() else None


def load_quality_config(lang: str, override: dict | None = None) -> tuple[dict, bool]:
    """The merged quality sections for `lang`, and whether the language has its own file.

    Order: quality.yaml, then languages/<lang>.yaml, then `override` (shaped like the file:
    {"c4": {"min_sentences": 2}, ...}). An unknown language gets the defaults, which are
    language-agnostic (empty stop-word list, so the stop-word rule is off)."""
    merged = default_quality_config()
    path = language_file(lang)
    if path is not None:
        lang_data = _read_yaml(path)
        merged = deep_merge(merged, {k: v for k, v in lang_data.items() if k in QUALITY_SECTIONS})
    if override:
        merged = deep_merge(merged, override)
    return merged, path is not None
