"""Instruction and preference rows in the formats people publish them in, as message lists.

The format of an input file is detected once, from its first readable row (`input_formats`), and
every row of the file is read in that format. Every format becomes `fields`: {field name:
[{"role", "content"}]}, the unit that is translated.
- messages   SFT chats: `messages` = [{role, content}, ...] (system prompts included)
- sharegpt   SFT chats as ShareGPT publishes them: `conversations` = [{from, value}, ...]
- alpaca     `instruction`, `input`, `output` -> user (instruction + input), assistant (output)
- dolly      `instruction`, `context`, `response` -> user (instruction + context), assistant
- preference `prompt`, `chosen`, `rejected`, each a string or a message list (TRL's formats), or
             Anthropic HH-RLHF transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...") in `chosen`
             and `rejected` only: the shared turns become the prompt.
Translated rows (what `translate` writes and `qc` checks) hold each field twice: `messages` and
`source_messages` (SFT_FIELDS), or `prompt`/`chosen`/`rejected` and `source_prompt`/... (PREFERENCE_PAIRS).

Roles: langmill translates system, user and assistant messages only. ShareGPT's `human` and `gpt`
become user and assistant; a row with any other role (tool, function, ipython, ...) is a bad row
that names the role and its position, since a tool call or its output is not text to translate. A
field whose every message is empty is a bad row too: there is nothing to translate or check.

One run holds one kind of rows, SFT or preference (every shard of its output has one schema): the
kind is that of the first input whose format is known, inputs of different kinds are refused before
any work starts (`one_kind`), and a row of the other kind inside a file is a bad row.
"""

from __future__ import annotations

import re

from langmill.readers import BadRow, InputError, input_format, read_rows

FORMATS = ("messages", "sharegpt", "alpaca", "dolly", "preference")
SFT_FORMATS = ("messages", "sharegpt", "alpaca", "dolly")
PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")
# Every role langmill reads, and the role it becomes (ShareGPT's names included).
ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}


def detect_format(row: dict) -> str:
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "chosen" in row and "rejected" in row:
        return "preference"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "instruction" in row and "response" in row:
        return "dolly"
    raise BadRow(f"unknown format (fields: {', '.join(sorted(row)[:8])}); expected messages, conversations, instruction+input+output, instruction+context+response or prompt+chosen+rejected")


def _string(row: dict, key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{key} is {type(value).__name__}, not a string")
    return value


def canonical_role(role: str, where: str) -> str:
    """system, user or assistant (ShareGPT's human and gpt mapped); raises BadRow for any other."""
    known = ROLES.get(role.strip().lower())
    if known is None:
        raise BadRow(f"{where} has role {role!r}; langmill translates and checks system, user and assistant messages only")
    return known


def not_empty(messages: list[dict], field: str) -> list[dict]:
    """`messages`, or BadRow when every content is empty or whitespace."""
    if not any(m["content"].strip() for m in messages):
        raise BadRow(f"{field} is empty" if len(messages) == 1 else f"{field}: every message is empty")
    return messages


def message_list(value, field: str, role_key: str = "role", content_key: str = "content") -> list[dict]:
    """A non-empty list of {role, content} messages with canonical roles; raises BadRow."""
    if isinstance(value, str):
        raise BadRow(f"{field} is a plain string, not a list of {{{role_key}, {content_key}}} messages")
    if not isinstance(value, list) or not value:
        raise BadRow(f"{field} is not a non-empty list of messages")
    messages = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get(role_key), str) or not isinstance(m.get(content_key), str):
            raise BadRow(f"{field}[{i}] is not a {{{role_key}, {content_key}}} message with string values")
        messages.append({"role": canonical_role(m[role_key], f"{field}[{i}]"), "content": m[content_key]})
    return messages


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
    fields = {key: preference_messages(row.get(key), key) for key in PREFERENCE_FIELDS}
    # UltraFeedback-style rows repeat the prompt at the start of chosen and rejected: keep it once
    prompt, n = fields["prompt"], len(fields["prompt"])
    if all(fields[k][:n] == prompt and len(fields[k]) > n for k in ("chosen", "rejected")):
        fields["chosen"], fields["rejected"] = fields["chosen"][n:], fields["rejected"][n:]
    return fields


def preference_messages(value, field: str) -> list[dict]:
    """A preference field (`prompt`, `chosen`, `rejected`, or `source_` one of them) as messages: a
    string (TRL's standard format) is one user message (prompt) or assistant message; raises BadRow."""
    if isinstance(value, str):
        return [{"role": "user" if field.removeprefix("source_") == "prompt" else "assistant", "content": value}]
    return message_list(value, field)


def to_fields(row: dict, fmt: str) -> dict[str, list[dict]]:
    """The messages of `row` to translate, by field; raises BadRow (also for a field whose every
    message is empty)."""
    fields = _fields(row, fmt)
    for name, messages in fields.items():
        not_empty(messages, name)
    return fields


def _fields(row: dict, fmt: str) -> dict[str, list[dict]]:
    if fmt == "messages":
        return {"messages": message_list(row.get("messages"), "messages")}
    if fmt == "sharegpt":
        return {"messages": message_list(row.get("conversations"), "conversations", "from", "value")}
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


def one_kind(kinds: dict[str, str | None], command: str) -> str:
    """The shard kind of a run: that of its first input of a known kind ("sft" if none). Inputs of
    both kinds raise InputError, one line naming a file of each."""
    known = {path: k for path, k in kinds.items() if k}
    first = next(iter(known), None)
    other = next((path for path, k in known.items() if k != known[first]), None)
    if other is not None:
        names = {"sft": "SFT", "preference": "preference"}
        raise InputError(f"{other} holds {names[known[other]]} rows, {first} {names[known[first]]} rows; "
                         f"the shards of one run share one schema: run langmill {command} once per kind")
    return known[first] if first else "sft"


def run_kind(formats: dict[str, str | None], command: str = "translate") -> str:
    """The shard kind of a run of input files with these formats (see `one_kind`)."""
    return one_kind({path: kind(f) if f else None for path, f in formats.items()}, command)


SFT_FIELDS = [("messages", "source_messages")]
PREFERENCE_PAIRS = [("prompt", "source_prompt"), ("chosen", "source_chosen"), ("rejected", "source_rejected")]


def translated_kind(row: dict) -> str:
    """"sft" or "preference": the kind of a translated row; raises BadRow."""
    if "messages" in row or "source_messages" in row:
        return "sft"
    if any(f in row for pair in PREFERENCE_PAIRS for f in pair):
        return "preference"
    raise BadRow("no messages/source_messages nor prompt/chosen/rejected with source_* fields")


def translated_run_kind(files: list[str], command: str = "qc") -> str:
    """The kind of a run over translated rows, from each file's first readable row (see `one_kind`)."""
    kinds: dict[str, str | None] = {}
    for path in files:
        try:
            row = _field_names(path) if input_format(path) == "parquet" else next((r for _, r, _, _ in read_rows(path) if r is not None), None)
            kinds[path] = translated_kind(row) if row is not None else None
        except (BadRow, OSError, ValueError):  # pyarrow's errors are both; the reader reports the file as a bad row
            kinds[path] = None
    return one_kind(kinds, command)


def _field_names(path: str) -> dict:
    """A Parquet file's columns as the keys of a row: a translated row's kind needs no more, and the
    file is not read."""
    import pyarrow.parquet as pq

    return dict.fromkeys(pq.read_schema(path).names)
