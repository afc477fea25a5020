"""Prompts to answer (langmill prefs, langmill eval), from rows of any format langmill reads.

`prompt_of(row)` gives {"messages", "turns", "category", "reference", "lang"}: `messages` is the
conversation up to and including the user message to answer; `turns` the later user messages of
a multi-turn question (MT-Bench's second turn), asked after the model's own answer; `reference`
one reference answer per turn where the row has them. Rows:
- MT-Bench questions: {"question_id", "category", "turns": [...], "reference": [...] or null}
- SFT chats (messages, ShareGPT conversations, alpaca, dolly; what translate, magpie and synth
  write): the conversation before its last assistant message
- preference pairs: the prompt (a string or a message list; HH-RLHF transcripts too)
- a bare prompt: "prompt" (a string or messages), "instruction" (+ "input" / "context"), "question"
A row's `answer_lang` names the language its answer should be in where that is not the run's
target language (a question that asks for an English answer); not `lang`, which is the language
the row is written in.
"""

from __future__ import annotations

from langmill.formats import _fields, detect_format, message_list, not_empty
from langmill.readers import BadRow


def _turns(row: dict) -> dict:
    turns = row["turns"]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise BadRow("turns is not a non-empty list of non-empty strings")
    reference = row.get("reference")
    if reference is not None and not (isinstance(reference, list) and all(r is None or isinstance(r, str) for r in reference)):
        raise BadRow("reference is not a list (one string or null per turn) or null")
    return {"messages": [{"role": "user", "content": turns[0]}], "turns": turns[1:], "reference": reference or None}


def _bare(row: dict) -> list[dict]:
    if "prompt" in row:
        prompt = row["prompt"]
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else message_list(prompt, "prompt")
    for key, extra in (("instruction", ("input", "context")), ("question", ())):
        if key in row:
            if not isinstance(row[key], str):
                raise BadRow(f"{key} is {type(row[key]).__name__}, not a string")
            more = next((row[k] for k in extra if isinstance(row.get(k), str) and row[k].strip()), "")
            return [{"role": "user", "content": f"{row[key]}\n\n{more}" if more else row[key]}]
    raise BadRow(f"no prompt (fields: {', '.join(sorted(row)[:8])}); expected turns, messages, conversations, prompt, instruction or question")


def _conversation(row: dict) -> list[dict]:
    try:
        fmt = detect_format(row)
    except BadRow:
        return _bare(row)
    messages = _fields(row, fmt)["prompt" if fmt == "preference" else "messages"]
    while messages and messages[-1]["role"] == "assistant":  # the answer to be replaced
        messages = messages[:-1]
    return messages


def prompt_of(row: dict) -> dict:
    """The prompt of `row` (see the module's docstring); raises BadRow."""
    found = _turns(row) if "turns" in row else {"messages": _conversation(row), "turns": [], "reference": None}
    messages = found["messages"]
    if not messages or messages[-1]["role"] != "user":
        raise BadRow("no user message to answer (the conversation has none, or ends with a system message)")
    not_empty([m for m in messages if m["role"] == "user"][-1:], "the last user message")
    category, lang = row.get("category"), row.get("answer_lang")
    return {**found, "category": category if isinstance(category, str) else None, "lang": lang if isinstance(lang, str) else None}


def prompt_id(row: dict | None, where: str) -> str:
    """The row's id (`id`, or MT-Bench's `question_id`), else where it was read (FILE:LINE)."""
    for key in ("id", "question_id"):
        value = (row or {}).get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return where
