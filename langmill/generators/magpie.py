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

from typing import Callable

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
