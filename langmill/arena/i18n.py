"""The participants' pages in their language: YAML catalogs of key -> text (locales/*.yaml).

English (en.yaml) is complete; template.yaml is what a translator fills in; fi.yaml is the
example translation. A catalog may leave keys out (they are shown in English); it may not add
unknown keys (but for `criterion_<name>`: the question of a --criteria of one's own) or change a
text's {placeholders} (both are a one-line error naming the key).
"""

from __future__ import annotations

import os
import re
import string

import yaml

LOCALES = os.path.join(os.path.dirname(__file__), "locales")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CatalogError(Exception):
    """A translation file that cannot be used; the message is one line."""


def _read(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(f"{path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()):
        raise CatalogError(f"{path}: not a mapping of key -> text")
    return {k: v for k, v in data.items() if v}


def available() -> list[str]:
    return sorted(n[:-5] for n in os.listdir(LOCALES) if n.endswith(".yaml") and n != "template.yaml")


def catalog(ui_lang: str = "en", path: str | None = None) -> tuple[dict[str, str], list[str]]:
    """(key -> text, keys shown in English) for a shipped language or a file of one's own."""
    english = _read(os.path.join(LOCALES, "en.yaml"))
    if path is None:
        if ui_lang not in available():
            raise CatalogError(f"no interface translation for {ui_lang!r} (shipped: {', '.join(available())}); "
                               f"translate {os.path.join(LOCALES, 'template.yaml')} and pass --ui-file")
        path = os.path.join(LOCALES, f"{ui_lang}.yaml")
    found = _read(path)
    unknown = sorted(k for k in set(found) - set(english) if not k.startswith("criterion_"))  # a criterion of one's own is welcome
    if unknown:
        raise CatalogError(f"{path}: unknown key {unknown[0]!r} (keys are those of template.yaml)")
    for key, text in found.items():
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(english.get(key, ""))):
            raise CatalogError(f"{path}: {key} must keep the placeholders of the English text: {english[key]!r}")
        try:
            fields = [name for _, name, spec, conversion in string.Formatter().parse(text) if name is not None or spec or conversion]
        except ValueError as err:
            raise CatalogError(f"{path}: {key}: {err}") from None
        allowed = set(PLACEHOLDER.findall(english.get(key, "")))
        if any(name not in allowed for name in fields):  # "{done.__class__}" or "{0}" would run in str.format
            raise CatalogError(f"{path}: {key} must keep the placeholders of the English text: {english.get(key, '')!r}")
    return {**english, **found}, sorted(set(english) - set(found))
