"""Magpie's pre-query template: the text an instruct model sees right before a user writes.

Magpie self-synthesis sends a chat model its own template up to the start of the user turn as a
raw completion; the model then writes the user's instruction itself. The template is derived from
the model's own chat template, whatever the family (Llama-3, ChatML/Qwen, Gemma, Mistral, ...):
render one user message holding a sentinel, without a generation prompt, and cut at the sentinel.
The sentinel has no whitespace, because templates trim message contents. An optional system
message (Magpie's lever to steer the language) is rendered before it; a template that refuses
system messages (Gemma) is one clear error, not a silently English run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from langmill.checks import Failure

SENTINEL = "LangmillPreQuerySentinel7f3a"

Render = Callable[[list[dict]], str]


class TemplateError(ValueError):
    """A chat template Magpie cannot use; the message is one line that says what to do."""


def pre_query_template(render: Render, system: str | None = None) -> str:
    """The text before the user's first message, as `render(messages)` (the model's chat template,
    no generation prompt) shows it. Raises TemplateError when there is none to use."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": SENTINEL}]
    try:
        text = render(messages)
    except Exception as err:  # noqa: BLE001 - jinja's raise_exception(), a missing variable, ...
        if system:
            raise TemplateError(f"the model's chat template takes no system message ({err}); leave out --system") from None
        raise TemplateError(f"the model's chat template cannot render a user message ({err}); pass --template-prefix") from None
    if text.count(SENTINEL) != 1:
        raise TemplateError("the model's chat template does not show the user's message once; pass --template-prefix")
    prefix = text[: text.index(SENTINEL)]
    if not prefix.strip():
        raise TemplateError("the model's chat template puts nothing before the user's message; pass --template-prefix")
    if system and system.strip() not in prefix:
        raise TemplateError("the model's chat template drops the system message; leave out --system")
    return prefix


def next_user_prefix(render: Render, conversation: list[dict], system: str | None = None) -> str:
    """The prompt for the next user turn of a multi-turn conversation: the conversation so far
    (user/assistant messages) as the chat template shows it, up to where the next user message
    would start."""
    messages = ([{"role": "system", "content": system}] if system else []) + conversation
    text = render(messages + [{"role": "user", "content": SENTINEL}])
    if text.count(SENTINEL) != 1:
        raise TemplateError("the model's chat template does not show the user's message once; pass --template-prefix")
    return text[: text.index(SENTINEL)]


def user_turn_end(render: Render) -> str:
    """What the chat template writes right after a user's message (Llama-3 `<|eot_id|>`, ChatML
    `<|im_end|>`, Gemma `<end_of_turn>`, Mistral ` [/INST]`): where a generated instruction must stop.
    Empty when the template writes nothing there."""
    text = render([{"role": "user", "content": SENTINEL}])
    return text[text.index(SENTINEL) + len(SENTINEL):].strip()


def stop_for(tokenizer, turn_end: str) -> dict:
    """How a generated instruction is stopped at `turn_end`: a special token must be named by id
    (`stop_token_ids`: vLLM skips special tokens in the text it matches `stop` against), plain
    text by string (`stop`)."""
    ids = tokenizer.encode(turn_end, add_special_tokens=False) if turn_end else []
    if len(ids) == 1 and ids[0] in set(tokenizer.all_special_ids):
        return {"stop_token_ids": ids}
    return {"stop": [turn_end]} if turn_end else {}


def tokenizer_render(tokenizer, chat_template: str | None = None, **variables) -> Render:
    """`render` for `pre_query_template` from a Hugging Face tokenizer (its own chat template, or
    `chat_template`); `variables` override template variables such as bos_token."""
    if not (chat_template or getattr(tokenizer, "chat_template", None)):
        raise TemplateError("the model has no chat template (a base model?); Magpie needs an instruct model, or pass --template-prefix")

    def render(messages: list[dict]) -> str:
        return tokenizer.apply_chat_template(messages, chat_template=chat_template, tokenize=False, add_generation_prompt=False, **variables)

    return render


# --- the rollout: one row is one generated conversation ------------------------------------------


@dataclass
class MagpieSettings:
    """What one Magpie run generates (TRL-style config dataclass).

    pre_query: the prompt of the first instruction (`pre_query_template`, or --template-prefix).
    stop: how an instruction is stopped at the end of the user's turn (`stop_for`).
    model: the model folder or Hub id whose tokenizer renders later turns (turns > 1).
    """

    lang: str
    pre_query: str
    stop: dict = field(default_factory=dict)
    model: str | None = None
    system: str | None = None
    turns: int = 1
    seed: int = 0
    instruction: dict = field(default_factory=lambda: {"temperature": 1.0, "top_p": 1.0, "max_tokens": 256})
    answer: dict = field(default_factory=lambda: {"temperature": 0.7, "top_p": 0.95, "max_tokens": 1024})
    checks: dict = field(default_factory=dict)  # langmill.config.load_synth_config(); empty: the defaults

    def __post_init__(self):
        from langmill.config import load_synth_config

        self.checks = self.checks or load_synth_config()  # resolved once, not per request

    def request_seed(self, slot: int, turn: int, step: int) -> int:
        """One seed per request, so that identical prompts still give different rows (and a rerun the same)."""
        return self.seed + (slot * max(self.turns, 1) + turn) * 2 + step


class MagpieGenerator:
    """The rollout of `GenerationRunner` for Magpie: for document `magpie-<slot>`, per turn, a raw
    completion of the pre-query template writes the instruction, then a chat request answers it;
    every turn's pair is checked (`langmill.synth_checks`) and the first failure excludes the row."""

    def __init__(self, settings: MagpieSettings):
        self.settings = settings
        self._lid = self._render = None

    def __getstate__(self):  # loaded again in each worker: fastText models and tokenizers do not pickle
        return {**self.__dict__, "_lid": None, "_render": None}

    @property
    def lid(self):
        if self._lid is None:
            from langmill.filters.lid import LanguageFilter

            self._lid = LanguageFilter(self.settings.lang)
        return self._lid

    def render(self, conversation: list[dict]) -> str:
        if self._render is None:
            from transformers import AutoTokenizer

            self._render = tokenizer_render(AutoTokenizer.from_pretrained(self.settings.model))
        return next_user_prefix(self._render, conversation, self.settings.system)

    async def rollout(self, document, generate) -> dict:
        from datatrove.pipeline.inference.types import InferenceError

        from langmill.synth_checks import check_pair

        s = self.settings
        slot = int(document.metadata["slot"])
        system = [{"role": "system", "content": s.system}] if s.system else []
        conversation: list[dict] = []
        for turn in range(s.turns):
            prompt = s.pre_query if turn == 0 else self.render(conversation)
            try:
                asked = await generate({"prompt": prompt, **s.instruction, **s.stop, "seed": s.request_seed(slot, turn, 0),
                                        "add_special_tokens": False})  # the template holds its own BOS
                instruction = asked.text.strip()
                answered = await generate({"messages": system + conversation + [{"role": "user", "content": instruction}],
                                           **s.answer, "seed": s.request_seed(slot, turn, 1)})
            except InferenceError as err:  # a request the server refuses fails the row, not the run
                detail = " ".join(str(err.error).split())[:300]
                return {"status": "excluded", "reason": "generation_error", "detail": f"turn {turn + 1}: {detail}", "messages": system + conversation}
            answer = answered.text.strip()
            failures = check_pair(instruction, answer, s.lang, s.checks, self.lid, answered.finish_reason)
            if asked.finish_reason == "length":
                failures.insert(0, Failure("truncated", "instruction stopped at max_tokens"))
            conversation += [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}]
            if failures:
                return {"status": "excluded", "reason": failures[0].reason, "turn": turn,
                        "detail": "; ".join(f"turn {turn + 1}: {f.detail}" for f in failures), "messages": system + conversation}
        return {"status": "kept", "messages": system + conversation}
