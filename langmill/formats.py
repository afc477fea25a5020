"""Instruction and preference rows in the formats people publish them in, as message lists.

The format of an input file is detected once, from its first readable row (`input_formats`), and
every row of the file is read in that format. Every format becomes `fields`: {field name:
[{"role", "content"}]}, the unit that is translated.
- messages   SFT chats: `messages` = [{role, content}, ...] (system prompts included)
- alpaca     `instruction`, `input`, `output` -> user (instruction + input), assistant (output)
- dolly      `instruction`, `context`, `response` -> user (instruction + context), assistant
- preference `prompt`, `chosen`, `rejected`, each a string or a message list (TRL's formats), or
             Anthropic HH-RLHF transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...") in `chosen`
             and `rejected` only: the shared turns become the prompt.
Translated rows (what `translate` writes and `qc` checks) hold each field twice: `messages` and
`source_messages`, or `prompt`/`chosen`/`rejected` and `source_prompt`/... (`translated_fields`).
"""

from __future__ import annotations

import re

from langmill.readers import BadRow, read_rows

FORMATS = ("messages", "alpaca", "dolly", "preference")
SFT_FORMATS = ("messages", "alpaca", "dolly")
PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


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


def role_contents(value, field: str) -> list[tuple[str | None, str]]:
    """A field as [(role, content)]: a message list, or a plain string (one message, role None)."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, list):
        raise BadRow(f"{field} is {type(value).__name__}, not a string or a message list")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise BadRow(f"{field}[{i}] is not a {{role, content}} message with string values")
    return [(m["role"], m["content"]) for m in value]


def _message_list(value, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise BadRow(f"{field} is not a non-empty list of messages")
    return [{"role": role, "content": content} for role, content in role_contents(value, field)]


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


def input_formats(files: list[str], fmt: str = "auto") -> dict[str, str | None]:
    """The format of each input file: `fmt`, or with "auto" the format of the file's first readable
    row (None when no row says: its rows are then detected one by one, and fail as bad rows)."""
    formats: dict[str, str | None] = {}
    for path in files:
        if fmt != "auto":
            formats[path] = fmt
            continue
        row = next((r for _, r, _, _ in read_rows(path) if r is not None), None)
        try:
            formats[path] = detect_format(row) if row is not None else None
        except BadRow:
            formats[path] = None
    return formats


def run_kind(formats: dict[str, str | None]) -> str:
    """The shard kind of a run: that of its first input with a known format ("sft" if none)."""
    return next((kind(f) for f in formats.values() if f), "sft")


SFT_FIELDS = [("messages", "source_messages")]
PREFERENCE_PAIRS = [("prompt", "source_prompt"), ("chosen", "source_chosen"), ("rejected", "source_rejected")]


def translated_fields(row: dict) -> list[tuple[str, str]]:
    """The (translation, source) field pairs of a translated row; raises BadRow."""
    if "messages" in row or "source_messages" in row:
        return SFT_FIELDS
    if any(f in row for f, _ in PREFERENCE_PAIRS):
        return PREFERENCE_PAIRS
    raise BadRow("no messages/source_messages nor prompt/chosen/rejected with source_* fields")
