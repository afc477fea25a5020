"""The answers of one model to a set of prompts, read from files, for `langmill eval`.

`read_answers(path)` reads one file (JSONL, JSONL.gz, JSON list or Parquet) or a folder of shards,
and returns an `AnswerSet`: {prompt id: [the assistant's answer per turn]}. The format is that of
the first row of a known shape; a row of another shape is a bad row:

- fastchat     FastChat MT-Bench `model_answer/*.jsonl`: `question_id`, `choices[0].turns`. A turn is
               a string, or (files written from OpenAI-compatible APIs, e.g. the reasoning runs in
               mt-bench/model_answer_fi) a whole chat-completion response, whose answer is
               `choices[0].message.content` (its `reasoning` field is not part of the answer). The
               model is the FILE STEM: model_id is the API's name, shared by a model's reasoning and
               non-reasoning runs.
- messages     langmill SFT shards: `id`, `messages` [{role, content}]; the turns are the assistant
               messages in order.
- completion   langmill's eval/prefs completions: `id` and one answer string in `completion`,
               `answer`, `output` or `response`; an optional 1-based `turn` places it.
For the last two, the model is the `model` column where a row has one (a row naming another model
is a bad row: one AnswerSet is one model), else the file stem (for a folder: its name, or for
OUT/data the run folder's name).

What a model wrote is kept as it is, with two exceptions: a leading <think>...</think> block is
removed (`strip_reasoning`), and FastChat's `$ERROR$` (the API call failed) becomes an empty answer,
as does a response whose content is null. An empty answer is still an answer: the model gave none.

Rows that cannot be read never raise: they land in `bad_rows` as (FILE:LINE, detail). A repeated
prompt id (or id and turn) keeps the first row; later ones are bad rows. `InputError` is raised
only for a path that does not exist or holds no readable answer row at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from langmill.readers import InputError, input_format, read_rows

COMPLETION_FIELDS = ("completion", "answer", "output", "response")
FASTCHAT_ERROR = "$ERROR$"  # FastChat's API_ERROR_OUTPUT: the call failed, there is no answer
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
LEADING_BLANKS = re.compile(r"^\s*")


@dataclass
class AnswerSet:
    model: str  # the model's name for tables
    answers: dict[str, list[str]] = field(default_factory=dict)  # prompt id -> the answer per turn
    bad_rows: list[tuple[str, str]] = field(default_factory=list)  # (FILE:LINE, one-line detail)


class _Bad(Exception):
    """A row that cannot be read as an answer; the message is its detail."""


def strip_reasoning(text: str) -> str:
    """`text` without a leading <think>...</think> block (and the blanks after it).

    Also the two ways reasoning models leave it half there: a chat template that opened <think> in
    the prompt leaves "...</think>answer" (no opening tag: everything up to the first </think> is
    reasoning), and a generation cut off while thinking leaves "<think>..." unclosed (no answer: "")."""
    start = LEADING_BLANKS.match(text).end()
    if text.startswith(THINK_OPEN, start):
        end = text.find(THINK_CLOSE, start)
        return "" if end < 0 else text[end + len(THINK_CLOSE):].lstrip()
    end = text.find(THINK_CLOSE)
    if end >= 0 and THINK_OPEN not in text[:end]:
        return text[end + len(THINK_CLOSE):].lstrip()
    return text


def _shape(row: dict) -> str | None:
    if "question_id" in row and "choices" in row:
        return "fastchat"
    if "messages" in row:
        return "messages"
    if "id" in row and any(key in row for key in COMPLETION_FIELDS):
        return "completion"
    return None


def _prompt_id(value, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise _Bad(f"{key} is {value!r}, not a string or an integer")
    return str(value)


def _answer_text(value, what: str) -> str:
    """An answer as written: a string; FastChat's error marker and null contents are no answer."""
    if not isinstance(value, str):
        raise _Bad(f"{what} is {type(value).__name__}, not a string")
    return "" if value.strip() == FASTCHAT_ERROR else strip_reasoning(value)


def _fastchat_turn(turn, what: str) -> str:
    if isinstance(turn, dict) and isinstance(turn.get("choices"), list):  # an OpenAI chat completion
        choices = turn["choices"]
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        if not isinstance(message, dict):
            raise _Bad(f"{what} is a response without choices[0].message")
        content = message.get("content")
        return "" if content is None else _answer_text(content, f"{what}.choices[0].message.content")
    if isinstance(turn, dict) and "content" in turn:  # a bare message
        return _answer_text(turn["content"], f"{what}.content")
    return _answer_text(turn, what)


def _fastchat(row: dict) -> tuple[str, int, list[str]]:
    pid = _prompt_id(row["question_id"], "question_id")
    choices = row["choices"]
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Bad("choices is not a non-empty list of {index, turns}")
    turns = choices[0].get("turns")
    if not isinstance(turns, list) or not turns:
        raise _Bad("choices[0].turns is not a non-empty list")
    return pid, 1, [_fastchat_turn(t, f"choices[0].turns[{i}]") for i, t in enumerate(turns)]


def _messages(row: dict) -> tuple[str, int, list[str]]:
    pid = _prompt_id(row.get("id"), "id")
    messages = row["messages"]
    if not isinstance(messages, list):
        raise _Bad("messages is not a list of {role, content}")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise _Bad(f"messages[{i}] is not a {{role, content}} message")
        if m["role"].strip().lower() in ("assistant", "gpt"):
            turns.append(_answer_text(m.get("content"), f"messages[{i}].content"))
    if not turns:
        raise _Bad("messages hold no assistant message")
    return pid, 1, turns


def _completion(row: dict) -> tuple[str, int, list[str]]:
    pid = _prompt_id(row["id"], "id")
    key = next((k for k in COMPLETION_FIELDS if row.get(k) is not None), None)
    if key is None:
        raise _Bad(f"{'/'.join(COMPLETION_FIELDS)} are all null")
    turn = row.get("turn", 1)
    if turn is None:
        turn = 1
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise _Bad(f"turn is {turn!r}, not an integer >= 1")
    return pid, turn, [_answer_text(row[key], key)]


PARSERS = {"fastchat": _fastchat, "messages": _messages, "completion": _completion}


def _stem(path: str) -> str:
    """The model name a file or folder stands for: its name without suffixes; OUT/data -> OUT."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        name = os.path.basename(path)
        return os.path.basename(os.path.dirname(path)) if name == "data" else name
    name = os.path.basename(path)
    for suffix in (".gz", ".zst", ".bz2", ".xz", ".jsonl", ".ndjson", ".json", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def _files(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path) if input_format(n) in ("jsonl", "parquet"))
        if not files:
            raise InputError(f"{path}: the folder holds no .parquet or .jsonl file of answers")
        return files
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    return [path]


class _Collector:
    """Rows -> answers, in the file's one format and for its one model."""

    def __init__(self, result: AnswerSet):
        self.result = result
        self.shape: str | None = None
        self.model: str | None = None  # from a `model` column
        self.parts: dict[str, dict[int, list[str]]] = {}  # id -> {first turn: turns}
        self.first_seen: dict[tuple[str, int], str] = {}  # (id, turn) -> FILE:LINE

    def add(self, where: str, row: dict) -> None:
        shape = _shape(row)
        if shape is None:
            raise _Bad(f"not an answer row (fields: {', '.join(sorted(row)[:8])}); expected question_id+choices (FastChat), id+messages or id+completion")
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape:
            raise _Bad(f"a {shape} row in a file of {self.shape} rows")
        pid, turn, turns = PARSERS[shape](row)
        self._check_model(row)
        for offset in range(len(turns)):
            if (pid, turn + offset) in self.first_seen:
                what = f"id {pid} turn {turn + offset}" if shape == "completion" else f"id {pid}"
                raise _Bad(f"{what} repeats {self.first_seen[pid, turn + offset]} (the first is kept)")
        for offset in range(len(turns)):
            self.first_seen[pid, turn + offset] = where
        self.parts.setdefault(pid, {})[turn] = turns

    def _check_model(self, row: dict) -> None:
        model = row.get("model") if self.shape != "fastchat" else None
        if model is None:
            return
        if not isinstance(model, str) or not model.strip():
            raise _Bad(f"model is {model!r}, not a name")
        if self.model is None:
            self.model = model
        elif model != self.model:
            raise _Bad(f"model {model!r} differs from the file's model {self.model!r} (one answer set is one model)")

    def finish(self) -> None:
        """Join the turns of each id; turns after a gap have nothing to follow and are bad rows."""
        for pid, parts in self.parts.items():
            turns: list[str] = []
            for first in sorted(parts):
                if first != len(turns) + 1:
                    self.result.bad_rows.append((self.first_seen[pid, first], f"id {pid} turn {first} has no turn {len(turns) + 1} before it"))
                    break
                turns.extend(parts[first])
            if turns:
                self.result.answers[pid] = turns


def read_answers(path: str) -> AnswerSet:
    """The answers in a file or a folder of shards (see the module docstring); raises InputError
    (one line naming the path) for a missing path or one without a single readable answer row."""
    result = AnswerSet(model=_stem(path))
    collector = _Collector(result)
    for file in _files(path):
        for where, row, detail, _raw in read_rows(file):
            if row is None:
                result.bad_rows.append((where, detail.removeprefix(f"{where}: ")))
                continue
            try:
                collector.add(where, row)
            except _Bad as err:
                result.bad_rows.append((where, str(err)))
    collector.finish()
    if not result.answers:
        first = f" (first bad row {result.bad_rows[0][0]}: {result.bad_rows[0][1]})" if result.bad_rows else ""
        raise InputError(f"{path}: no readable answer row{first}")
    result.model = collector.model or result.model
    return result
