"""Instruction and preference rows in the formats people publish them in, as message lists.

Every format becomes `fields`: {field name: [{"role", "content"}]}, the unit that is translated.
- messages   SFT chats: `messages` = [{role, content}, ...] (system prompts included)
- alpaca     `instruction`, `input`, `output` -> user (instruction + input), assistant (output)
- dolly      `instruction`, `context`, `response` -> user (instruction + context), assistant
- preference `prompt`, `chosen`, `rejected`, each a string or a message list (TRL's formats), or
             Anthropic HH-RLHF transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...") in `chosen`
             and `rejected` only: the shared turns become the prompt.
"""

from __future__ import annotations

import re

FORMATS = ("messages", "alpaca", "dolly", "preference")
SFT_FORMATS = ("messages", "alpaca", "dolly")
PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


class BadRow(Exception):
    """A row that cannot be translated; the message says why in a few words."""


def detect_format(row: dict) -> str:
    if "messages" in row:
        return "messages"
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "instruction" in row and "response" in row:
        return "dolly"
    raise BadRow(f"unknown format (fields: {', '.join(sorted(row)[:8])}); expected messages, instruction+input+output, instruction+context+response or prompt+chosen+rejected")


def _string(row: dict, key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{key} is {type(value).__name__}, not a string")
    return value


def _message_list(value, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise BadRow(f"{field} is not a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise BadRow(f"{field}[{i}] is not a {{role, content}} message with string values")
        out.append({"role": m["role"], "content": m["content"]})
    return out


HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh(transcript: str) -> list[dict]:
    """'\\n\\nHuman: hi\\n\\nAssistant: hello' -> [{user, hi}, {assistant, hello}]."""
    parts = HH_TURN.split(transcript)
    if len(parts) < 3 or parts[0].strip():
        raise BadRow("chosen/rejected is a string that is not a Human:/Assistant: transcript (and there is no prompt)")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]


def _preference(row: dict) -> dict[str, list[dict]]:
    if "prompt" not in row:  # HH-RLHF: two transcripts that share all but the last answer
        if not isinstance(row.get("chosen"), str) or not isinstance(row.get("rejected"), str):
            raise BadRow("no prompt, and chosen/rejected are not Human:/Assistant: transcripts")
        chosen, rejected = parse_hh(row["chosen"]), parse_hh(row["rejected"])
        if len(chosen) < 2 or chosen[:-1] != rejected[:-1] or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            raise BadRow("chosen and rejected transcripts do not share their turns up to the last answer")
        return {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}
    fields = {}
    for key, role in (("prompt", "user"), ("chosen", "assistant"), ("rejected", "assistant")):
        value = row.get(key)
        fields[key] = [{"role": role, "content": value}] if isinstance(value, str) else _message_list(value, key)
    return fields


def to_fields(row: dict, fmt: str) -> dict[str, list[dict]]:
    """The messages of `row` to translate, by field; raises BadRow."""
    if fmt == "messages":
        return {"messages": _message_list(row.get("messages"), "messages")}
    if fmt == "alpaca":
        instruction, extra, answer = _string(row, "instruction"), _string(row, "input", False), _string(row, "output")
    elif fmt == "dolly":
        instruction, extra, answer = _string(row, "instruction"), _string(row, "context", False), _string(row, "response")
    elif fmt == "preference":
        return _preference(row)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def kind(fmt: str) -> str:
    """The kind of shard a format becomes: "sft" or "preference"."""
    return "preference" if fmt == "preference" else "sft"
