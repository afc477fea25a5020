"""Grounded synthesis: instruction/answer pairs written from a target-language document (the
Genstruct / Nemotron-CC style of the Latxa recipe), so that the content is native, not translated.

A document is cut into chunks of whole paragraphs (`chunk_document`). For each chunk the model is
asked `per_doc` times, once per task type (question answering, summarising, rewriting, explaining,
creative writing; the prompts are in prompts/synth.yaml), for one pair as JSON through vLLM's
structured outputs: a JSON schema whose strings are all bounded (`pair_schema`), not a request to
"answer in JSON". Each pair then passes the checks Magpie's pairs pass (langmill.synth_checks),
plus two of its own: the answer of an extractive task must be supported by the chunk
(`support_overlap`), and an instruction shown without its chunk must not point at "the text"
(`context_reference`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import zlib
from dataclasses import dataclass, field

from langmill.generators.engine import TargetLid
from langmill.config import deep_merge, read_yaml
from langmill.generators.translate import PROMPTS_DIR, load_prompts
from langmill.settings_schema import Schema, check_settings

TASKS = ("qa", "summarize", "rewrite", "explain", "creative")
WORD = re.compile(r"\w+", re.UNICODE)


def load_synth_prompts(path: str | None = None) -> dict:
    """The packaged prompts with a --prompt-file merged over them; the file may add task types."""
    prompts = read_yaml(PROMPTS_DIR / "synth.yaml")
    if not path:
        return prompts
    return deep_merge(prompts, check_settings(read_yaml(path), Schema(prompts, free={"tasks"}), path))


@functools.lru_cache(maxsize=None)
def language_name(lang: str) -> str:  # cached: every request's prompt names the language
    return load_prompts()["language_names"].get(lang, lang)


def chunk_document(text: str, max_words: int, min_words: int) -> list[str]:
    """`text` cut into chunks of whole paragraphs (lines), each at most `max_words` words (a longer
    paragraph is cut between words); a last chunk under `min_words` joins the one before it. No
    chunk at all when the whole text has fewer than `min_words` words."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    pieces: list[list[str]] = []
    for paragraph in paragraphs:
        words = paragraph.split()
        pieces += [words[i: i + max_words] for i in range(0, len(words), max_words)]
    chunks: list[list[list[str]]] = []
    for piece in pieces:
        if chunks and sum(map(len, chunks[-1])) + len(piece) <= max_words:
            chunks[-1].append(piece)
        else:
            chunks.append([piece])
    if len(chunks) > 1 and sum(map(len, chunks[-1])) < min_words:
        tail = chunks.pop()
        chunks[-1] += tail
    texts = ["\n\n".join(" ".join(p) for p in chunk) for chunk in chunks]
    return texts if sum(len(t.split()) for t in texts) >= min_words else []


def content_words(text: str, min_chars: int) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if len(w) >= min_chars and not w.isdigit()]


def support_overlap(answer: str, source: str, config: dict) -> float | None:
    """The share of the answer's content words that the source has too, matched on their first
    `prefix_chars` characters so inflected forms count (Finnish talo/talossa, Basque etxe/etxean);
    None when the answer has no content word."""
    section = config["support"]
    prefix = section["prefix_chars"]
    words = content_words(answer, section["min_word_chars"])
    if not words:
        return None
    known = {w[:prefix] for w in content_words(source, section["min_word_chars"])}
    return sum(w[:prefix] in known for w in words) / len(words)


def context_reference(instruction: str, lang: str, config: dict) -> str | None:
    """The phrase by which `instruction` points at a text it will be shown without, or None."""
    phrases = config["context_reference"]["phrases"]
    lowered = instruction.lower()
    for phrase in phrases.get("en", []) + (phrases.get(lang, []) if lang != "en" else []):
        if re.search(rf"(?<!\w){re.escape(phrase.lower())}", lowered):
            return f"instruction refers to its source text ({phrase!r}) but is shown without it"
    return None


def pair_schema(max_instruction_chars: int, max_answer_chars: int) -> dict:
    """The JSON schema of one pair. Every string is bounded: unbounded strings ran into max_tokens
    in half the samples measured (FACTS.md), and the bounds keep the output parseable."""
    def text(limit: int) -> dict:
        return {"type": "string", "minLength": 1, "maxLength": limit}

    return {"type": "object", "properties": {"instruction": text(max_instruction_chars), "answer": text(max_answer_chars)},
            "required": ["instruction", "answer"], "additionalProperties": False}


def parse_pair(text: str) -> tuple[str, str] | str:
    """(instruction, answer) from the model's JSON, or why it cannot be used."""
    try:
        data = json.loads(text)
    except ValueError as err:
        return f"not JSON ({err.msg} at char {err.pos}): {' '.join(text.split())[:160]!r}"
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("instruction", "answer")):
        return f"JSON without string instruction and answer: {' '.join(text.split())[:160]!r}"
    return data["instruction"].strip(), data["answer"].strip()


@dataclass
class GroundedSettings:
    """What one grounded synthesis run generates (TRL-style config dataclass).

    per_doc: pairs asked for per chunk (one request each, task types in turn).
    tasks: the task types used, keys of the prompts' `tasks`.
    with_context: the user's message holds the chunk and then the instruction.
    chunk_words / min_words: chunk size in words, and the least a document must have.
    """

    lang: str
    per_doc: int = 3
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    prompts: dict = field(default_factory=load_synth_prompts)
    with_context: bool = False
    chunk_words: int = 400
    min_words: int = 40
    seed: int = 0
    params: dict = field(default_factory=lambda: {"temperature": 0.7, "top_p": 0.95, "max_tokens": 2048})
    max_instruction_chars: int = 1500
    max_answer_chars: int = 4000
    checks: dict = field(default_factory=dict)  # langmill.config.load_synth_config(); empty: the defaults

    def __post_init__(self):
        from langmill.config import load_synth_config

        self.checks = self.checks or load_synth_config()  # resolved once, not per request

    def task_of(self, source_id: str, chunk: int, j: int) -> str:
        """Task types in turn, from a start that depends on the document, so that every type is
        used as often whatever the number of chunks per document."""
        return self.tasks[(zlib.crc32(source_id.encode()) + chunk * self.per_doc + j) % len(self.tasks)]

    def request_seed(self, chunk_id: str, j: int) -> int:
        return (self.seed + zlib.crc32(f"{chunk_id}\x00{j}".encode())) % (1 << 31)

    def messages(self, chunk: str, task: str) -> list[dict]:
        p = self.prompts
        fields = {"language": language_name(self.lang), "text": chunk, "task": task, "guidance": p["tasks"][task].strip(),
                  "context_rule": (p["with_context"] if self.with_context else p["without_context"]).strip()}
        return [{"role": "system", "content": p["system"].format(**fields)}, {"role": "user", "content": p["user"].format(**fields)}]


class GroundedGenerator(TargetLid):
    """The rollout of `GenerationRunner` for grounded synthesis: per chunk document, `per_doc`
    requests at once, each giving one checked pair (a list of results, one per pair)."""

    def __init__(self, settings: GroundedSettings):
        self.settings = settings

    async def rollout(self, document, generate):
        meta = document.metadata
        if meta.get("unusable"):  # a source row that gave no chunk: one excluded row, no request
            return {"status": "excluded", "source": meta["source_id"], **meta["unusable"]}
        return list(await asyncio.gather(*(self.pair(document, j, generate) for j in range(self.settings.per_doc))))

    async def pair(self, document, j: int, generate) -> dict:
        from datatrove.pipeline.inference.types import InferenceError

        from langmill.checks import Failure
        from langmill.synth_checks import check_pair

        s, meta = self.settings, document.metadata
        checks = s.checks
        task = s.task_of(meta["source_id"], meta["chunk"], j)
        base = {"source": meta["source_id"], "task": task}
        schema = pair_schema(s.max_instruction_chars, s.max_answer_chars)
        try:
            answered = await generate({"messages": s.messages(document.text, task), **s.params, "seed": s.request_seed(document.id, j),
                                       "response_format": {"type": "json_schema", "json_schema": {"name": "pair", "schema": schema, "strict": True}}})
        except InferenceError as err:  # a request the server refuses fails the pair, not the run
            return {**base, "status": "excluded", "reason": "generation_error", "detail": " ".join(str(err.error).split())[:300]}
        if answered.finish_reason == "length":
            return {**base, "status": "excluded", "reason": "truncated", "detail": "output stopped at max_tokens before the JSON was complete"}
        parsed = parse_pair(answered.text)
        if isinstance(parsed, str):
            return {**base, "status": "excluded", "reason": "bad_json", "detail": parsed}
        instruction, answer = parsed
        failures = check_pair(instruction, answer, s.lang, checks, self.lid, answered.finish_reason)
        if checks["support"]["enabled"] and task in checks["support"]["tasks"]:
            overlap = support_overlap(answer, document.text, checks)
            if overlap is not None and overlap < checks["support"]["min_overlap"]:
                failures.append(Failure("unsupported", f"{overlap:.2f} of the answer's content words are in the text < {checks['support']['min_overlap']}"))
        if checks["context_reference"]["enabled"] and not s.with_context:
            reference = context_reference(instruction, s.lang, checks)
            if reference:
                failures.append(Failure("context_reference", reference))
        user = f"{document.text}\n\n{instruction}" if s.with_context else instruction
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        if failures:
            return {**base, "status": "excluded", "reason": failures[0].reason, "detail": "; ".join(f.detail for f in failures), "messages": messages}
        return {**base, "status": "kept", "messages": messages}
