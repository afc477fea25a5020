"""Quality control of a machine translation, one message (or line) against its source.

`check_translation(source, target, lang, config, lid)` returns a `QCResult`: the target text with
leftover prompt artifacts removed where that is safe, and every failed check as a `Failure`
(`reason`, e.g. "length_ratio", and a short `detail`, e.g. "length_ratio=0.21<0.45"). The checks and
their thresholds are described in `langmill/configs/qc.yaml`; `langmill.config.load_qc_config`
reads that file merged with a user's overrides. Plain functions: `translate` calls them on every
segment, `qc` on every message of already translated rows.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

# In the order they are reported: the first failure of a row is its `reason` in excluded/.
REASONS = [
    "structure", "lid", "length_ratio", "compression_ratio", "non_alnum_share", "code_changed",
    "placeholders_changed", "urls_changed", "latex_changed", "markdown_changed", "prompt_artifact", "model_identity",
]

FENCED = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]+`")
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'`]+")
URL_TRAILING = ".,;:!?)]}'\""
PLACEHOLDER = re.compile(
    r"\{\{\s*[A-Za-z_][\w.]*\s*\}\}"            # {{ var }}
    r"|\$\{[A-Za-z_]\w*\}"                       # ${var}
    r"|\$\([A-Za-z_]\w*\)"                       # $(ARG1)
    r"|\{[A-Za-z_][\w.]*\}|\{\d+\}"              # {name} {0}
    r"|%\([A-Za-z_]\w*\)[-+ 0#]*\d*(?:\.\d+)?[sdifrxXeEgGc]"  # %(name)s
    r"|%\d+\$[-+ 0#]*\d*(?:\.\d+)?[sdifuxXeEgGc]"  # %1$s
    r"|%[-+0#]*\d*(?:\.\d+)?(?:l{0,2}|h)[sdiuxXfeEgGc](?![A-Za-z])"  # %s %d %.2f %ld
    r"|%[A-Z][A-Z0-9_]{2,}"                       # %COLUMNNUMBER, %PRODUCTNAMEn (inflected in fi)
    r"|%\d\b"                                     # %1 (Qt, LibreOffice)
)
# $$...$$, \[...\], \(...\) and $...$ (not prices: no space inside the dollars, no digit after).
LATEX = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\w$])\$[^$\s](?:[^$\n]*[^$\s])?\$(?![\w$])", re.DOTALL)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
EMPHASIS = "*_#> \t"




@dataclass
class Failure:
    reason: str
    detail: str


@dataclass
class QCResult:
    """`text`: the target, cleaned; `failures`: every failed check; `metrics`: what was measured
    (`lang`, `lang_score`, `length_ratio`, `compression_ratio`, `non_alnum_share`, `artifacts_removed`)."""

    text: str
    failures: list[Failure] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.failures]


def _on(section: dict) -> bool:
    """Every check can be switched off with `enabled: false` in its section."""
    return section.get("enabled", True)


def length_bounds(config: dict, lang: str) -> tuple[float, float]:
    section = config["length_ratio"]
    own = (section.get("languages") or {}).get(lang) or {}
    return float(own.get("min", section["min"])), float(own.get("max", section["max"]))


def _code_free(text: str) -> str:
    """The prose of a text: fenced code, inline code and URLs removed."""
    return URL.sub(" ", INLINE_CODE.sub(" ", FENCED.sub(" ", text)))


def _clean_url(url: str) -> str:
    """Trailing punctuation is not part of a URL, a closing bracket only when unbalanced."""
    while url and url[-1] in URL_TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _urls(text: str) -> Counter:
    return Counter(_clean_url(u) for u in URL.findall(FENCED.sub(" ", text)))


def _placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(INLINE_CODE.sub(" ", FENCED.sub(" ", text))))


def _latex(text: str) -> Counter:
    # Placeholders first: "$(ARG1) ... "$(ARG2)" is two placeholders, not a formula.
    return Counter(LATEX.findall(PLACEHOLDER.sub(" ", INLINE_CODE.sub(" ", FENCED.sub(" ", text)))))


def _markdown(text: str) -> dict[str, int]:
    fenced = FENCED.findall(text)
    prose = FENCED.sub(" ", text)
    return {"headings": len(HEADING.findall(prose)), "list_items": len(LIST_ITEM.findall(prose)), "fenced_blocks": len(fenced)}


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(zlib.compress(data)) / len(data) if data else 1.0


def non_alnum_share(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(not c.isalnum() for c in chars) / len(chars) if chars else 0.0


def _diff(source: Counter, target: Counter) -> str:
    missing = sorted((source - target).elements())
    extra = sorted((target - source).elements())
    parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + ([f"extra {', '.join(extra[:3])}"] if extra else [])
    return "; ".join(parts)


class _Artifacts:
    """Leftover prompt lines ("Here is the translation:", "Käännös:") found with compiled patterns."""

    def __init__(self, patterns: list[str]):
        alternation = "|".join(f"(?:{p})" for p in patterns)
        self.line = re.compile(rf"^(?:{alternation})\s*:?$", re.IGNORECASE)
        self.prefix = re.compile(rf"^(?:{alternation})\s*:\s*\S", re.IGNORECASE)

    @staticmethod
    def _bare(line: str) -> str:
        return line.strip().strip(EMPHASIS).strip()

    def is_line(self, line: str) -> bool:
        bare = self._bare(line)
        return bool(bare) and bool(self.line.match(bare))

    def has_prefix(self, line: str) -> bool:
        return bool(self.prefix.match(line.strip().lstrip(EMPHASIS)))


_ARTIFACTS_CACHE: dict[tuple, _Artifacts] = {}


def _artifacts(config: dict) -> _Artifacts:
    key = tuple(config["prompt_artifacts"]["patterns"])
    if key not in _ARTIFACTS_CACHE:
        _ARTIFACTS_CACHE[key] = _Artifacts(list(key))
    return _ARTIFACTS_CACHE[key]


def strip_artifacts(source: str, target: str, config: dict) -> tuple[str, int, str | None]:
    """(cleaned target, lines removed, failure detail or None). Whole artifact lines at the start or
    end are removed; one elsewhere, or "Käännös: text" on the first line, is a failure. Lines that
    are in the source too are left alone."""
    art = _artifacts(config)
    in_source = {art._bare(line).lower() for line in source.splitlines() if art.is_line(line)}
    lines = target.split("\n")

    def artifact(line: str) -> bool:
        return art.is_line(line) and art._bare(line).lower() not in in_source

    removed = 0
    while lines and (not lines[0].strip() or artifact(lines[0])):
        removed += bool(lines[0].strip())
        lines.pop(0)
    while lines and (not lines[-1].strip() or artifact(lines[-1])):
        removed += bool(lines[-1].strip())
        lines.pop()
    cleaned = "\n".join(lines) if removed else target
    # Inside fenced code anything goes; look only at prose lines.
    prose_lines = FENCED.sub("", cleaned).split("\n")
    middle = [line.strip() for line in prose_lines if artifact(line)]
    if middle:
        return cleaned, removed, f"prompt_artifact=line {middle[0][:40]!r}"
    first = next((line for line in prose_lines if line.strip()), "")
    if art.has_prefix(first) and not any(art.has_prefix(line) for line in source.splitlines()):
        return cleaned, removed, f"prompt_artifact=prefix {first.strip()[:40]!r}"
    return cleaned, removed, None


def identity_hits(text: str, words: list[str]) -> Counter:
    """How often each of `words` occurs in `text` (case-insensitive, whole words)."""
    hits = Counter()
    for word in words:
        n = len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE))
        if n:
            hits[word] = n
    return hits


def check_translation(source: str, target: str, lang: str, config: dict, lid) -> QCResult:
    """Check `target`, a translation of `source` into `lang`, with the settings of `config` (see
    `langmill.config.load_qc_config`); `lid` is anything with `predict(text) -> (lang, score)`, such as
    `langmill.filters.lid.LanguageFilter(lang)`."""
    if _on(config["prompt_artifacts"]):
        cleaned, removed, artifact_failure = strip_artifacts(source, target, config)
    else:
        cleaned, removed, artifact_failure = target, 0, None
    result = QCResult(text=cleaned, metrics={"artifacts_removed": removed})
    failures: dict[str, str] = {}
    src_prose, tgt_prose = _code_free(source), _code_free(cleaned)
    src_words, tgt_words = len(src_prose.split()), len(tgt_prose.split())

    # Language of the output.
    section = config["lid"]
    if _on(section) and tgt_words >= section["min_words"]:
        predicted, score = lid.predict(tgt_prose)
        result.metrics.update(lang=predicted, lang_score=round(score, 4))
        short = tgt_words < section["short_words"]
        if short and predicted != lang and score >= section["short_threshold"]:
            failures["lid"] = f"lid={predicted}({score:.2f})!={lang}"
        elif not short and (predicted != lang or score < section["threshold"]):
            failures["lid"] = f"lid={predicted}({score:.2f})" + (f"<{section['threshold']}" if predicted == lang else f"!={lang}")

    # Length against the source.
    section = config["length_ratio"]
    if _on(section) and src_words >= section["min_source_words"]:
        ratio = tgt_words / src_words
        low, high = length_bounds(config, lang)
        result.metrics["length_ratio"] = round(ratio, 3)
        if ratio < low:
            failures["length_ratio"] = f"length_ratio={ratio:.2f}<{low}"
        elif ratio > high:
            failures["length_ratio"] = f"length_ratio={ratio:.2f}>{high}"

    # Degenerate repetition.
    section = config["compression_ratio"]
    if _on(section) and len(cleaned.encode("utf-8")) >= section["min_bytes"]:
        ratio = compression_ratio(cleaned)
        result.metrics["compression_ratio"] = round(ratio, 3)
        src_ratio = compression_ratio(source) if len(source.encode("utf-8")) >= section["min_bytes"] else 1.0
        if ratio < section["min"] and ratio < src_ratio - section["margin"]:
            failures["compression_ratio"] = f"compression_ratio={ratio:.2f}<{section['min']}"

    # Symbol soup.
    section = config["non_alnum_share"]
    if _on(section) and sum(not c.isspace() for c in tgt_prose) >= section["min_chars"]:
        share = non_alnum_share(tgt_prose)
        result.metrics["non_alnum_share"] = round(share, 3)
        if share > section["max"] and share > non_alnum_share(src_prose) + section["margin"]:
            failures["non_alnum_share"] = f"non_alnum_share={share:.2f}>{section['max']}"

    # What must pass through unchanged.
    section = config["structure"]
    if section.get("code", True):
        src_blocks = [m.group(0) for m in FENCED.finditer(source)]
        tgt_blocks = [m.group(0) for m in FENCED.finditer(cleaned)]
        if src_blocks != tgt_blocks:
            if len(src_blocks) != len(tgt_blocks):
                failures["code_changed"] = f"code_changed=fenced blocks {len(tgt_blocks)}!={len(src_blocks)}"
            else:
                i = next(i for i, (a, b) in enumerate(zip(src_blocks, tgt_blocks)) if a != b)
                failures["code_changed"] = f"code_changed=fenced block {i + 1} differs"
        else:
            src_inline = Counter(INLINE_CODE.findall(FENCED.sub(" ", source)))
            tgt_inline = Counter(INLINE_CODE.findall(FENCED.sub(" ", cleaned)))
            if src_inline != tgt_inline:
                failures["code_changed"] = f"code_changed=inline code {_diff(src_inline, tgt_inline)}"
    # Spans that must come back as the same multiset.
    for key, extract in (("placeholders", _placeholders), ("urls", _urls), ("latex", _latex)):
        if section.get(key, True):
            src_spans, tgt_spans = extract(source), extract(cleaned)
            if src_spans != tgt_spans:
                failures[f"{key}_changed"] = f"{key}_changed={_diff(src_spans, tgt_spans)}"
    if section.get("markdown", True):
        src_md, tgt_md = _markdown(source), _markdown(cleaned)
        changed = [f"{k} {tgt_md[k]}!={v}" for k, v in src_md.items() if tgt_md[k] != v]
        if changed:
            failures["markdown_changed"] = "markdown_changed=" + ", ".join(changed)

    if artifact_failure:
        failures["prompt_artifact"] = artifact_failure
    words = (config["model_identity"]["words"] or []) if _on(config["model_identity"]) else []
    extra = identity_hits(cleaned, words) - identity_hits(source, words)
    if extra:
        failures["model_identity"] = f"model_identity={', '.join(sorted(extra))}"

    result.failures = [Failure(reason, failures[reason]) for reason in REASONS if reason in failures]
    return result


def fold_metrics(summary: dict, metrics: dict) -> None:
    """Adds one message's `metrics` to a row's `summary`: artifact lines removed, the lowest
    language-ID score and the range of length ratios (keys min_lang_score, min/max_length_ratio)."""
    summary["artifacts_removed"] = summary.get("artifacts_removed", 0) + metrics.get("artifacts_removed", 0)
    for key, metric, pick in (("min_lang_score", "lang_score", min), ("min_length_ratio", "length_ratio", min), ("max_length_ratio", "length_ratio", max)):
        if metric in metrics:
            value = metrics[metric]
            summary[key] = value if summary.get(key) is None else pick(summary[key], value)


def in_order(failures: list[Failure], order) -> list[Failure]:
    """`failures` in a stage's order of reasons (stable: message order within a reason); the first
    is the row's `reason`."""
    rank = {reason: i for i, reason in enumerate(order)}
    return sorted(failures, key=lambda f: rank.get(f.reason, len(rank)))
