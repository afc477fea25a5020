"""The LLM judge of `langmill prefs` and `langmill eval`: absolute scores and pairwise verdicts.

Every judgement is one chat request whose answer comes through vLLM structured outputs: a JSON
schema with the rationale first (the judge reasons before it commits) and then an integer score
1-10 (`score_schema`) or a verdict "A" / "B" / "tie" (`verdict_schema`). Every string is bounded
(FACTS.md: unbounded strings ran into max_tokens in half the samples). A judgement that cannot be
used is never guessed at: it comes back with an `error` kind (request_error, truncated, not_json,
bad_fields) and the judge's raw text, so a run reports its coverage instead of losing rows
silently. Only the judge's own output is parsed, never the prompt (a regex over the whole
exchange is how prometheus-eval came to return 5 every time).

A pairwise comparison is judged in both orders by default (`Judge.compare`): a verdict that flips
when the answers swap seats is position bias, not a preference (the caller combines the two with
`langmill.evalstats.combine_orders`). Prompts: prompts/judge.yaml, replaceable per language.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field

from langmill.config import deep_merge, read_yaml
from langmill.generators.grounded import language_name
from langmill.generators.translate import PROMPTS_DIR
from langmill.settings_schema import Schema, check_settings

JUDGE_ERRORS = ("request_error", "truncated", "not_json", "bad_fields")
VERDICTS = {"A": "a", "B": "b", "tie": "tie"}


def load_judge_prompts(path: str | None = None) -> dict:
    """The packaged judge prompts with a --judge-prompts file merged over them."""
    prompts = read_yaml(PROMPTS_DIR / "judge.yaml")
    if not path:
        return prompts
    return deep_merge(prompts, check_settings(read_yaml(path), Schema(prompts), path))


def render_conversation(messages: list[dict]) -> str:
    """The conversation before the judged answer as the judge reads it: one block per user or
    assistant message (system messages are the policy's instructions, not the user's request)."""
    labels = {"user": "[User]", "assistant": "[Assistant]"}
    return "\n\n".join(f"{labels[m['role']]}\n{m['content']}" for m in messages if m["role"] in labels)


# llguidance (vLLM's guidance backend) lets a model put any whitespace between JSON tokens; the tiny
# test model then spent every one of 200 tokens on newlines after `{"rationale"` (4 of 4 seeds),
# and with this none (stopped after 71). Other backends ignore the key.
COMPACT_JSON = {"x-guidance": {"whitespace_flexible": False}}


def _rationale(max_chars: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_chars}


def score_schema(max_rationale_chars: int) -> dict:
    return {"type": "object", "properties": {"rationale": _rationale(max_rationale_chars), "score": {"type": "integer", "minimum": 1, "maximum": 10}},
            "required": ["rationale", "score"], "additionalProperties": False, **COMPACT_JSON}


def verdict_schema(max_rationale_chars: int) -> dict:
    return {"type": "object", "properties": {"rationale": _rationale(max_rationale_chars), "verdict": {"type": "string", "enum": list(VERDICTS)}},
            "required": ["rationale", "verdict"], "additionalProperties": False, **COMPACT_JSON}


def _json_object(text: str) -> dict | None:
    """The judge's JSON object: the whole text, or (an endpoint without structured outputs that
    wraps it in prose or a code fence) the span from its first "{" to its last "}"."""
    for candidate in (text, text[text.find("{"): text.rfind("}") + 1] if "{" in text else ""):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_judgement(text: str, finish_reason: str | None, key: str) -> dict:
    """{"value", "rationale"} of a judge output whose `key` is "score" (1-10) or "verdict" ("a",
    "b", "tie"), or {"error": kind, "detail"} when it cannot be used."""
    if finish_reason == "length":
        return {"error": "truncated", "detail": "the judge's output stopped at max_tokens"}
    data = _json_object(text)
    if data is None:
        return {"error": "not_json", "detail": f"not a JSON object: {' '.join(text.split())[:160]!r}"}
    rationale, value = data.get("rationale"), data.get(key)
    if key == "score":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 10
        value = float(value) if ok else value
    else:
        ok = value in VERDICTS
        value = VERDICTS.get(value, value)
    if not ok or not isinstance(rationale, str):
        return {"error": "bad_fields", "detail": f"{key}={value!r}, rationale {'present' if isinstance(rationale, str) else 'missing'}"}
    return {"value": value, "rationale": rationale.strip()}


@dataclass
class JudgeSettings:
    """How the judge is asked (TRL-style config dataclass).

    prompts: load_judge_prompts() (or a --judge-prompts file merged over it).
    params: sampling of every judge request; greedy by default, so a judgement is reproducible.
    max_rationale_chars: maxLength of the rationale in the schema (and so of the output).
    """

    lang: str
    prompts: dict = field(default_factory=load_judge_prompts)
    params: dict = field(default_factory=lambda: {"temperature": 0.0, "max_tokens": 1024})
    max_rationale_chars: int = 1000
    seed: int = 0

    def fields(self, conversation: list[dict], reference: str | None) -> dict:
        language = language_name(self.lang)
        return {"language": language, "rubric": self.prompts["rubric"].format(language=language).strip(),
                "conversation": render_conversation(conversation), "reference": reference or ""}

    def request_seed(self, key: str) -> int:
        return (self.seed + zlib.crc32(key.encode())) % (1 << 31)


class Judge:
    """Judge requests through datatrove's `generate(payload)` (a rollout's second argument)."""

    def __init__(self, settings: JudgeSettings):
        self.settings = settings

    def _payload(self, mode: str, fields: dict, reference: str | None, schema: dict, key: str) -> dict:
        s, prompts = self.settings, self.settings.prompts[mode]
        user = prompts["user_with_reference" if reference else "user"]
        return {"messages": [{"role": "system", "content": prompts["system"].format(**fields).strip()},
                             {"role": "user", "content": user.format(**fields)}],
                **s.params, "seed": s.request_seed(key),
                "response_format": {"type": "json_schema", "json_schema": {"name": mode, "schema": schema, "strict": True}}}

    async def _ask(self, generate, payload: dict, key: str) -> dict:
        from datatrove.pipeline.inference.types import InferenceError

        try:
            answered = await generate(payload)
        except InferenceError as err:  # a refused request fails this judgement, not the run
            return {"error": "request_error", "detail": " ".join(str(err.error).split())[:300], "raw": None}
        parsed = parse_judgement(answered.text, answered.finish_reason, key)
        return {**parsed, "raw": answered.text if "error" in parsed else None}

    async def score(self, generate, conversation: list[dict], answer: str, reference: str | None = None, key: str = "") -> dict:
        """An absolute score of `answer` to the last user message of `conversation`:
        {"value": 1.0-10.0, "rationale"} or {"error", "detail", "raw"}."""
        s = self.settings
        fields = {**s.fields(conversation, reference), "answer": answer}
        return await self._ask(generate, self._payload("absolute", fields, reference, score_schema(s.max_rationale_chars), f"score\x00{key}"), "score")

    async def verdict(self, generate, conversation: list[dict], first: str, second: str, reference: str | None = None, key: str = "") -> dict:
        """One pairwise judgement with `first` shown as answer A: {"value": "a" | "b" | "tie"
        (in terms of the seats), "rationale"} or {"error", ...}."""
        s = self.settings
        fields = {**s.fields(conversation, reference), "answer_a": first, "answer_b": second}
        return await self._ask(generate, self._payload("pairwise", fields, reference, verdict_schema(s.max_rationale_chars), f"pair\x00{key}"), "verdict")

    async def compare(self, generate, conversation: list[dict], a: str, b: str, reference: str | None = None, key: str = "",
                      both_orders: bool = True) -> list[dict]:
        """Answer `a` against answer `b`, judged with `a` in the first seat and (both_orders) again
        with `b` there. Each judgement's value is given in terms of the answers ("a": `a` is
        better), so the two can be compared directly; a judge without position bias gives equal ones."""
        orders = [self.verdict(generate, conversation, a, b, reference, f"{key}\x00ab")]
        if both_orders:
            orders.append(self.verdict(generate, conversation, b, a, reference, f"{key}\x00ba"))
        results = list(await asyncio.gather(*orders))
        if len(results) == 2 and "value" in results[1]:
            results[1] = {**results[1], "value": {"a": "b", "b": "a"}.get(results[1]["value"], results[1]["value"])}
        return results
