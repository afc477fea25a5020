"""The settings of a corpus run: pipeline.yaml + quality.yaml + languages/<lang>.yaml + --config."""

from importlib.resources import files
from pathlib import Path

import yaml

from langmill.filters.quality_config import deep_merge, load_quality_config

CONFIG_DIR = files("langmill") / "configs"


class ConfigError(Exception):
    """A config file that cannot be used; the message is one line that names it."""


def read_yaml(path) -> dict:
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


def load_config(lang: str, override_path: str | None = None) -> tuple[dict, bool]:
    """Return the merged settings for `lang` and whether langmill has settings of its own for it."""
    override = read_yaml(override_path) if override_path else {}
    base = read_yaml(CONFIG_DIR / "pipeline.yaml")
    unknown = set(override) - set(base) - {"gopher_quality", "gopher_repetition", "c4", "fineweb_quality"}
    if unknown:
        raise ConfigError(f"{override_path}: unknown section(s) {', '.join(sorted(unknown))}")
    quality, known_language = load_quality_config(lang, override)
    return deep_merge(deep_merge(base, {k: v for k, v in override.items() if k in base}), quality), known_language


def dump_config(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
