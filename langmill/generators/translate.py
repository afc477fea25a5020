"""Translation of one row, segment by segment, with QC and retries (the Poro recipe).

A message is cut into segments (`segment`): fenced code blocks, and paragraphs (blank-line
separated) of prose; a paragraph that is long, or a markdown list or heading block, is cut further
into lines. Segments without letters outside code, URLs, LaTeX and placeholders (a code block, a
formula, a bare link) pass through untouched and cost no request. A list marker or heading prefix
("- ", "2. ", "## ") is taken off before translation and put back after, so the structure cannot be
lost. Each translated segment is checked with `check_translation`; a failing one is sent again, up
to `retries` times, with a new seed (sampling); the assembled message is checked once more against
its source. Identical segments of a row are translated once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files


from langmill.checks import FENCED, INLINE_CODE, LATEX, PLACEHOLDER, REASONS, URL, Failure, check_translation, fold_metrics, in_order
from langmill.config import deep_merge, read_yaml
from langmill.settings_schema import Schema, check_settings
from langmill.formats import detect_format, kind, to_fields
from langmill.readers import BadRow
from langmill.report import clip

PROMPTS_DIR = files("langmill") / "generators" / "prompts"
BLANK_LINES = re.compile(r"(\n[ \t]*\n\s*)")
MARKER = re.compile(r"^([ \t]*(?:[-*+]|\d{1,3}[.)]|#{1,6}|>)[ \t]+)(?=\S)")
LETTER = re.compile(r"[^\W\d_]")
# Where a translated row fails, in the order its `reason` is chosen (all failures are in `detail`).
TRANSLATE_REASONS = ("bad_row", "generation_error", "truncated", *REASONS)
# Metadata that datatrove's readers add to a row's fields.
READER_FIELDS = ("file_path", "source", "format", "rollout_results")


def protected_free(text: str) -> str:
    """What a translator may change: the text without code, URLs, LaTeX and placeholders."""
    for pattern in (FENCED, INLINE_CODE, URL, PLACEHOLDER, LATEX):
        text = pattern.sub(" ", text)
    return text


@dataclass
class Segment:
    text: str
    translate: bool
    prefix: str = ""  # whitespace and markdown marker put back in front of the translation
    suffix: str = ""  # trailing whitespace put back after it


def _piece(text: str) -> Segment:
    core = text.strip()
    if not core:
        return Segment("", False, text)
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    marker = MARKER.match(core)
    if marker and "\n" not in core:
        lead, core = lead + marker.group(1), core[marker.end():]
    return Segment(core, bool(LETTER.search(protected_free(core))), lead, trail)


def segment(text: str, max_chars: int = 1500) -> list[Segment]:
    """`text` as segments; "".join(prefix + text + suffix) gives it back exactly."""
    out: list[Segment] = []
    pos = 0
    for block in FENCED.finditer(text):
        out += _prose(text[pos:block.start()], max_chars)
        out.append(Segment(block.group(0), False))
        pos = block.end()
    out += _prose(text[pos:], max_chars)
    return [s for s in out if s.text or s.prefix or s.suffix]


def _prose(text: str, max_chars: int) -> list[Segment]:
    out = []
    for i, part in enumerate(BLANK_LINES.split(text)):
        if i % 2:  # a separator
            out.append(Segment("", False, part))
            continue
        lines = part.split("\n")
        structured = len(lines) > 1 and any(MARKER.match(line) for line in lines)
        if len(part) > max_chars or structured:
            for j, line in enumerate(lines):
                out.append(_piece(line + ("\n" if j < len(lines) - 1 else "")))
        else:
            out.append(_piece(part))
    return out


# --- prompts ------------------------------------------------------------------------------------


def load_prompts(path: str | None = None) -> dict:
    """The packaged prompts with a --prompt-file merged over them; the file may name only the
    packaged prompts' keys (any language code under language_names), with strings as values."""
    prompts = read_yaml(PROMPTS_DIR / "translate.yaml")
    if not path:
        return prompts
    return deep_merge(prompts, check_settings(read_yaml(path), Schema(prompts, free={"language_names"}), path))


def load_examples(lang: str, source_lang: str, path: str | None = None, limit: int = 4) -> list[dict]:
    """Few-shot examples for source_lang -> lang from a JSONL file ({source_lang, lang, source, target})."""
    path = path or str(PROMPTS_DIR / "translate_examples.jsonl")
    if not os.path.isfile(path):
        raise BadRow(f"{path}: no such file of few-shot examples")
    examples = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                ex = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BadRow(f"{path}:{n}: not a JSON object in UTF-8") from None
            if not isinstance(ex, dict) or not all(isinstance(ex.get(k), str) for k in ("lang", "source", "target")):
                raise BadRow(f"{path}:{n}: an example needs string fields lang, source and target (and source_lang, default en)")
            if ex["lang"] == lang and ex.get("source_lang", "en") == source_lang:
                examples.append(ex)
    return examples[:limit]


@dataclass
class TranslateSettings:
    """Everything a translation rollout needs besides the model (picklable for Slurm/Ray)."""

    lang: str
    source_lang: str = "en"
    prompt: str = "zeroshot"  # or "fewshot"
    prompts: dict = field(default_factory=load_prompts)
    examples: list[dict] = field(default_factory=list)
    qc: dict | None = None  # langmill.config.load_qc_config(...); None: the defaults
    format: str = "auto"
    kind: str = "sft"  # rows of the other kind (preference in an SFT run) are excluded as bad_row
    retries: int = 2
    temperature: float = 0.0  # first attempt: greedy
    retry_temperature: float = 0.7  # later attempts sample, each with its own seed
    top_p: float = 0.95
    seed: int = 0
    max_tokens: int = 2048
    max_segment_chars: int = 1500

    def language_name(self, code: str) -> str:
        return self.prompts.get("language_names", {}).get(code, code)

    def names(self) -> dict:
        return {"source_language": self.language_name(self.source_lang), "target_language": self.language_name(self.lang)}

    def payload(self, text: str, attempt: int) -> dict:
        names = self.names()
        # Finnish or Basque take ~3 tokens a word where English takes ~1.2: budget generously.
        budget = min(self.max_tokens, 64 + 4 * len(text.split()) + len(text) // 2)
        temperature = self.temperature if attempt == 0 else self.retry_temperature
        params = {"max_tokens": budget, "temperature": temperature}
        if temperature > 0:  # sampling: each attempt has its own seed (greedy needs none)
            params |= {"top_p": self.top_p, "seed": self.seed + attempt}
        if self.prompt == "fewshot":
            p = self.prompts["fewshot"]
            shots = "".join(p["example"].format(**names, source=ex["source"], target=ex["target"]) for ex in self.examples)
            prompt = p["header"].format(**names) + shots + p["query"].format(**names, text=text)
            return {"prompt": prompt, "stop": [s.format(**names) for s in p["stop"]], **params}
        p = self.prompts["zeroshot"]
        messages = [{"role": "user", "content": p["user"].format(**names, text=text)}]
        if p.get("system"):
            messages.insert(0, {"role": "system", "content": p["system"].format(**names, text=text)})
        return {"messages": messages, **params}


# --- one row ------------------------------------------------------------------------------------


@dataclass
class SegmentResult:
    text: str
    failures: list[Failure]
    attempts: int
    metrics: dict


class Translator:
    """Translates rows; `rollout` is the datatrove rollout function (one call per document)."""

    def __init__(self, settings: TranslateSettings):
        self.settings = settings
        self._lid = None
        self._qc = None

    @property
    def qc(self) -> dict:
        if self._qc is None:
            from langmill.config import load_qc_config

            self._qc = self.settings.qc or load_qc_config()
        return self._qc

    @property
    def lid(self):
        if self._lid is None:  # loaded in the worker, not pickled with the pipeline
            from langmill.filters.lid import LanguageFilter

            self._lid = LanguageFilter(self.settings.lang, model_path=self.qc["lid"].get("model"))
        return self._lid

    def check(self, source: str, target: str):
        return check_translation(source, target, self.settings.lang, self.qc, self.lid)

    async def translate_segment(self, text: str, generate) -> SegmentResult:
        from datatrove.pipeline.inference.types import InferenceError

        last = None
        for attempt in range(self.settings.retries + 1):
            try:
                result = await generate(self.settings.payload(text, attempt))
            except InferenceError as err:
                # A request the server refuses (too long for the context, ...) fails the row, not the run.
                detail = clip(" ".join(str(err.error).split()), 200)
                return SegmentResult(text, [Failure("generation_error", f"generation_error={detail}")], attempt + 1, {})
            output = result.text.strip()
            qc = self.check(text, output)
            failures = list(qc.failures)
            if result.finish_reason == "length" and self.qc.get("truncation", {}).get("enabled", True):
                failures.insert(0, Failure("truncated", f"truncated=max_tokens reached ({result.usage.get('completion_tokens', '?')} tokens)"))
            last = SegmentResult(qc.text, failures, attempt + 1, qc.metrics)
            if not failures:
                break
        return last

    async def translate_message(self, content: str, generate, cache: dict) -> tuple[str, list[Failure], dict]:
        segments = segment(content, self.settings.max_segment_chars)
        todo = {s.text for s in segments if s.translate and s.text not in cache}
        for text in todo:
            cache[text] = asyncio.ensure_future(self.translate_segment(text, generate))
            # A failed run (server gone) may leave some of these unawaited: mark errors as seen.
            cache[text].add_done_callback(lambda f: f.cancelled() or f.exception())
        results = {}
        for s in segments:
            if s.translate:
                results[s.text] = await cache[s.text]
        parts, failures = [], []
        stats = {"segments": 0, "attempts": 0, "retried_segments": 0}
        for n, s in enumerate(segments, 1):
            if not s.translate:
                parts.append(s.prefix + s.text + s.suffix)
                continue
            r = results[s.text]
            parts.append(s.prefix + r.text + s.suffix)
            stats["segments"] += 1
            stats["attempts"] += r.attempts
            stats["retried_segments"] += r.attempts > 1
            failures += [Failure(f.reason, f"segment {n}: {f.detail}") for f in r.failures]
        translated = "".join(parts)
        if not failures and stats["segments"]:
            whole = self.check(content, translated)
            failures = [Failure(f.reason, f"message: {f.detail}") for f in whole.failures]
            translated, stats["metrics"] = whole.text, whole.metrics
        return translated, failures, stats

    async def translate_row(self, row: dict, generate, fmt: str | None = None) -> dict:
        """{"status": "kept"|"excluded", "format", "fields": translated, "source_fields", "reason",
        "detail", "qc": {...}}; `fmt` is the input's format (see langmill.formats.input_formats),
        detected from the row itself when None. Raises BadRow for rows that cannot be read."""
        fmt = fmt or (detect_format(row) if self.settings.format == "auto" else self.settings.format)
        if kind(fmt) != self.settings.kind:
            raise BadRow(f"a {kind(fmt)} row ({fmt}) in a run of {self.settings.kind} rows; translate it in a separate run")
        source = to_fields(row, fmt)
        cache: dict = {}
        jobs = [(name, i, m) for name, messages in source.items() for i, m in enumerate(messages)]
        outcomes = await asyncio.gather(*(self.translate_message(m["content"], generate, cache) for _, _, m in jobs))
        translated = {name: [dict(m) for m in messages] for name, messages in source.items()}
        failures: list[Failure] = []
        qc = {"messages": len(jobs), "segments": 0, "requests": 0, "retried_segments": 0,
              "min_lang_score": None, "min_length_ratio": None, "max_length_ratio": None, "artifacts_removed": 0}
        for (name, i, _), (text, message_failures, stats) in zip(jobs, outcomes):
            translated[name][i]["content"] = text
            where = name if len(source[name]) == 1 else f"{name}[{i}]"
            failures += [Failure(f.reason, f"{where} {f.detail}") for f in message_failures]
            qc["segments"] += stats["segments"]
            qc["requests"] += stats["attempts"]
            qc["retried_segments"] += stats["retried_segments"]
            fold_metrics(qc, stats.get("metrics", {}))
        result = {"format": fmt, "kind": kind(fmt), "fields": translated, "source_fields": source, "qc": qc}
        if failures:
            failures = in_order(failures, TRANSLATE_REASONS)
            return result | {"status": "excluded", "reason": failures[0].reason, "detail": "; ".join(f.detail for f in failures)}
        return result | {"status": "kept"}

    async def rollout(self, document, generate) -> dict:
        """The rollout of datatrove's InferenceRunner: one document, one row. After langmill's
        RowReader the row is `metadata["row"]`; after another reader (datatrove's JsonlReader) the
        row's fields are the metadata itself."""
        meta = document.metadata
        if meta.get("bad_row"):
            return {"status": "excluded", "reason": "bad_row", "detail": meta["bad_row"]}
        row = meta["row"] if "row" in meta else {k: v for k, v in meta.items() if k not in READER_FIELDS}
        try:
            return await self.translate_row(row, generate, meta.get("format"))
        except BadRow as err:
            return {"status": "excluded", "reason": "bad_row", "detail": f"{document.id}: {err}"}
