"""Settings checked before any work starts: known keys, types and ranges, one line for the problems.

The schema of a settings file is its defaults (a packaged YAML file, or a dataclass's defaults as a
dict, `dataclass_template`): they give the known keys at every depth and the type of each value.
An int is fine where the default is a float, a bool is not a number, a None default takes a string
or null (`Maybe` says otherwise), and a list takes elements of its first element's type (strings
when the default list is empty). `Schema` adds what defaults cannot say:

- `rules`: the range of a value by dotted key, "*" standing for any one key
  ("gopher_repetition.*": a share in [0, 1]). A number without a rule must be >= 0 (every number
  in langmill's settings is a count, a size or a ratio), and one whose name says threshold is a
  probability in [0, 1].
- `free`: mappings whose keys are the user's (language codes, n-gram sizes, sbatch flags), by
  dotted key ("*" for any one key); their values are checked against the default's first value,
  their keys against its keys' type.
- `checks`: functions of the merged settings for rules across keys; min_x <= max_x (and
  min <= max) in every mapping is always checked.

`check_settings(data, schema, source)` is all a loader needs (`load_config`, `load_qc_config`,
`load_prompts`, a future recipe loader): it raises one ConfigError line, "FILE: problem; problem",
each problem naming its dotted key, so a bad file fails before a run creates its output folder.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable


class ConfigError(ValueError):
    """A config file or setting that cannot be used; the message is one line that names it."""


class _Any:
    """A value of any type (options passed through to another library)."""

    def __repr__(self):
        return "ANY"


ANY = _Any()


@dataclass(frozen=True)
class Maybe:
    """A setting that may be null; any other value is checked against `template`."""

    template: Any = ""


@dataclass(frozen=True)
class Rule:
    """The range of a setting: `kind` "int" or "number" (None: the default's type), inclusive
    bounds (None: open), or "regex" for strings that must be regular expressions."""

    kind: str | None = None
    low: float | None = 0
    high: float | None = None


PROBABILITY = Rule("number", 0, 1)
AT_LEAST_1 = Rule("int", 1)
NUMBER = Rule("number", 0)  # a number >= 0 even where the default is a whole number
REGEX = Rule("regex")
_DEFAULT_RULE = Rule()


@dataclass
class Schema:
    defaults: dict
    rules: dict[str, Rule] = field(default_factory=dict)
    free: frozenset[str] | set[str] = frozenset()
    checks: tuple[Callable[[dict], list[str]], ...] = ()


def deep_merge(base: dict, over: dict) -> dict:
    """A new dict: `over` merged into `base` (dicts key by key, recursively; anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataclass_template(cls) -> dict:
    """The defaults of a settings dataclass as a template: a field annotated float with a whole-number
    default takes floats, a None default takes what its annotation says besides None."""
    hints = typing.get_type_hints(cls)
    defaults = asdict(cls())
    template = {}
    for f in fields(cls):
        value, hint = defaults[f.name], hints[f.name]
        if value is None:
            kinds = [t for t in typing.get_args(hint) if t is not type(None)] or [str]
            value = Maybe({int: 0, float: 0.0, str: "", bool: False}.get(kinds[0], ANY) if len(kinds) == 1 else ANY)
        elif hint is float and type(value) is int:
            value = float(value)
        template[f.name] = value
    return template


def check_settings(data, schema: Schema | dict, source: str, base: dict | None = None) -> dict:
    """`data` (a user's mapping) without its empty sections (all settings commented out), or a
    ConfigError unless it fits `schema`; the cross-key checks look at `data` merged over `base`
    (default: the schema's defaults)."""
    if not isinstance(schema, Schema):
        schema = Schema(schema)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must be a mapping of sections, not {_show(data)}")
    data = {key: value for key, value in data.items() if value is not None or not isinstance(schema.defaults.get(key), dict)}
    problems = _check_mapping(data, schema.defaults, (), schema)
    if not problems:
        merged = deep_merge(schema.defaults if base is None else base, data)
        problems = _min_max(merged, ()) + [p for check in schema.checks for p in check(merged)]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return data


# --- keys and values -----------------------------------------------------------------------------


def _name(keys: tuple) -> str:
    return ".".join(map(str, keys))


def _show(value) -> str:
    """A value as the user wrote it in YAML, short."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(keys: tuple, key, known) -> str:
    known = [str(k) for k in known]
    what = "section" if not keys else "setting"
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean {_name(keys + (close[0],))}?" if close else f"known: {', '.join(known)}"
    return f"unknown {what} {_name(keys + (key,))} ({hint})"


def _check_mapping(data: dict, template: dict, keys: tuple, schema: Schema) -> list[str]:
    problems = []
    for key, value in data.items():
        if key not in template:
            problems.append(_unknown(keys, key, template))
        else:
            problems += _check_value(value, template[key], keys + (key,), schema)
    return problems


def _check_free(data: dict, template: dict, keys: tuple, schema: Schema) -> list[str]:
    """A mapping whose keys are the user's: keys like the default's keys, values like its first value."""
    problems = []
    int_keys = any(isinstance(k, int) and not isinstance(k, bool) for k in template)
    value_template = next(iter(template.values()), ANY)
    for key, value in data.items():
        if int_keys and (not isinstance(key, int) or isinstance(key, bool) or key < 1):
            problems.append(f"{_name(keys)} keys must be integers >= 1, not {_show(key)}")
        elif not int_keys and not isinstance(key, str):
            problems.append(f"{_name(keys)} keys must be strings, not {_show(key)} (quote it in the YAML)")
        else:
            problems += _check_value(value, value_template, keys + (key,), schema)
    return problems


def _matches(pattern: str, keys: tuple) -> bool:
    parts = pattern.split(".")
    return len(parts) == len(keys) and all(p in ("*", str(k)) for p, k in zip(parts, keys))


def _is_free(schema: Schema, keys: tuple) -> bool:
    return any(_matches(pattern, keys) for pattern in schema.free)


def _rule(schema: Schema, keys: tuple) -> Rule:
    for pattern, rule in schema.rules.items():
        if _matches(pattern, keys):
            return rule
    return PROBABILITY if "threshold" in str(keys[-1]) else _DEFAULT_RULE


def _check_value(value, template, keys: tuple, schema: Schema, name: str | None = None) -> list[str]:
    name = name or _name(keys)
    if template is ANY:
        return []
    if template is None or isinstance(template, Maybe):
        if value is None:
            return []
        template = "" if template is None else template.template
        if template is ANY:
            return []
    if isinstance(template, dict):
        if not isinstance(value, dict):
            return [f"{name} must be a mapping of settings, not {_show(value)}"]
        if _is_free(schema, keys):
            return _check_free(value, template, keys, schema)
        return _check_mapping(value, template, keys, schema)
    if isinstance(template, list):
        element = template[0] if template else ""
        if not isinstance(value, list):
            return [f"{name} must be a list of {_plural(element)}, not {_show(value)}"]
        return [p for i, v in enumerate(value) for p in _check_value(v, element, keys, schema, f"{name}[{i}]")]
    return _check_scalar(value, template, name, _rule(schema, keys))


def _plural(template) -> str:
    if isinstance(template, bool):
        return "true/false values"
    if isinstance(template, (int, float)):
        return "numbers"
    return "mappings" if isinstance(template, dict) else "strings"


def _check_scalar(value, template, name: str, rule: Rule) -> list[str]:
    if isinstance(template, bool):
        return [] if isinstance(value, bool) else [f"{name} must be true or false, not {_show(value)}"]
    if isinstance(template, (int, float)):
        return _check_number(value, template, name, rule)
    if not isinstance(value, str):
        quote = " (quote it in the YAML)" if isinstance(value, (bool, int, float)) else ""
        return [f"{name} must be a string, not {_show(value)}{quote}"]
    if rule.kind == "regex":
        try:
            re.compile(value)
        except re.error as err:
            return [f"{name} is not a regular expression ({err}): {_show(value)}"]
    return []


def _check_number(value, template, name: str, rule: Rule) -> list[str]:
    kind = rule.kind or ("int" if type(template) is int else "number")
    ok_type = int if kind == "int" else (int, float)
    in_range = (
        isinstance(value, ok_type) and not isinstance(value, bool)
        and (rule.low is None or value >= rule.low) and (rule.high is None or value <= rule.high)
    )
    if in_range:
        return []
    noun = "an integer" if kind == "int" else "a number"
    if rule.low is not None and rule.high is not None:
        expected = f"{noun} between {rule.low:g} and {rule.high:g}"
    elif rule.low is not None:
        expected = f"{noun} >= {rule.low:g}"
    else:
        expected = noun if rule.high is None else f"{noun} <= {rule.high:g}"
    return [f"{name} must be {expected}, not {_show(value)}"]


def _min_max(merged: dict, keys: tuple) -> list[str]:
    """min_x <= max_x and min <= max in every mapping of the merged settings."""
    problems = []
    for key, value in merged.items():
        if isinstance(value, dict):
            problems += _min_max(value, keys + (key,))
        elif isinstance(key, str) and (key == "min" or key.startswith("min_")):
            top = "max" + key[3:]
            high = merged.get(top)
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, high))
            if numbers and value > high:
                problems.append(f"{_name(keys + (key,))} ({value:g}) must be <= {_name(keys + (top,))} ({high:g})")
    return problems
