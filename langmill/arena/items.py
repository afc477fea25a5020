"""What an arena campaign shows: prompts and each model's first-turn answer to them, from files.

    --answers [NAME=]PATH ...   each a model's answers (langmill.answers: `langmill eval` answers,
                                FastChat MT-Bench `model_answer/*.jsonl`, SFT shards, eval/prefs
                                completions), or a preference shard, which stands for two "models":
                                NAME/chosen and NAME/rejected (do people agree with its labels?)
    --prompts PATH ...          the prompts where the answer files do not hold them (MT-Bench
                                `question.jsonl`; any row format langmill reads as prompts)

Only the first turn is shown, as `langmill eval winrate` judges it, so that human and judge
verdicts are about the same thing. A prompt enters the campaign when it has text and at least two
models answered it; an empty answer is left out (nobody can prefer it to nothing, and "both bad"
is for answers that exist). Why anything was left out is counted in `Campaign.skipped`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from langmill.readers import BadRow, InputError, read_rows


@dataclass
class Campaign:
    models: list[str] = field(default_factory=list)
    prompts: dict[str, dict] = field(default_factory=dict)  # prompt id -> {"messages", "category"}
    answers: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, prompt id) -> answer
    skipped: Counter = field(default_factory=Counter)  # why answers or prompts were left out
    bad_rows: list[tuple[str, str]] = field(default_factory=list)  # (FILE:LINE, detail)


def _name_and_path(spec: str) -> tuple[str | None, str]:
    name, sep, path = spec.partition("=")
    if sep and name and not os.path.exists(spec) and "/" not in name:
        return name.strip(), path
    return None, spec


def _prompt(row: dict) -> dict:
    from langmill.prompt_rows import prompt_of

    found = prompt_of(row)
    messages = found["messages"]
    first_answer = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    return {"messages": messages[:first_answer], "category": found["category"]}  # the first turn


def _rows(path: str):
    if os.path.isdir(path):
        from langmill.answers import _files

        for file in _files(path):
            yield from read_rows(file)
    else:
        yield from read_rows(path)


def _is_preference(path: str) -> bool:
    row = next((r for _, r, _, _ in _rows(path) if r is not None), None)
    return row is not None and "chosen" in row and "rejected" in row


def _preference_sides(name: str, path: str, campaign: Campaign) -> list[tuple[str, dict[str, str]]]:
    from langmill.formats import _fields
    from langmill.prompt_rows import prompt_id

    sides: dict[str, dict[str, str]] = {f"{name}/chosen": {}, f"{name}/rejected": {}}
    for where, row, detail, _ in _rows(path):
        if row is None:
            campaign.bad_rows.append((where, detail))
            continue
        try:
            fields = _fields(row, "preference")
            pid = prompt_id(row, where)
            campaign.prompts.setdefault(pid, _prompt(row))
            for side in ("chosen", "rejected"):
                said = [m["content"] for m in fields[side] if m["role"] == "assistant"]
                sides[f"{name}/{side}"][pid] = said[-1] if said else ""
        except BadRow as err:
            campaign.bad_rows.append((where, str(err)))
    return list(sides.items())


def _answer_side(name: str | None, path: str, campaign: Campaign) -> list[tuple[str, dict[str, str]]]:
    from langmill.answers import read_answers
    from langmill.prompt_rows import prompt_id

    found = read_answers(path)
    campaign.bad_rows.extend(found.bad_rows)
    for where, row, _, _ in _rows(path):  # answer rows that carry their prompt (SFT, completions)
        if row is None or "question_id" in row:
            continue
        try:
            campaign.prompts.setdefault(prompt_id(row, where), _prompt(row))
        except BadRow:
            pass  # a completion row without its prompt: --prompts gives it
    return [(name or found.model, {pid: turns[0] for pid, turns in found.answers.items()})]


def read_prompts(paths: list[str], campaign: Campaign) -> None:
    """Prompts from --prompts files, in front of any the answer files hold."""
    from langmill.prompt_rows import prompt_id

    for path in paths:
        if not os.path.exists(path):
            raise InputError(f"--prompts {path}: no such file or directory")
        for where, row, detail, _ in _rows(path):
            if row is None:
                campaign.bad_rows.append((where, detail))
                continue
            try:
                campaign.prompts[prompt_id(row, where)] = _prompt(row)
            except BadRow as err:
                campaign.bad_rows.append((where, str(err)))


def read_campaign(answer_specs: list[str], prompt_paths: list[str] = ()) -> Campaign:
    """The campaign of these answer files (see the module docstring); raises InputError (one line)
    for a missing file, two files that name the same model, or fewer than two models."""
    campaign = Campaign()
    given = Campaign()
    read_prompts(list(prompt_paths), given)
    sides: list[tuple[str, dict[str, str]]] = []
    origin: dict[str, str] = {}
    for spec in answer_specs:
        name, path = _name_and_path(spec)
        if not os.path.exists(path):
            raise InputError(f"--answers {path}: no such file or directory")
        found = _preference_sides(name or _stem(path), path, campaign) if _is_preference(path) else _answer_side(name, path, campaign)
        for model, _ in found:
            if model in origin:
                raise InputError(f"--answers {path}: model {model!r} is also {origin[model]}; name them apart with NAME=PATH")
            origin[model] = path
        sides.extend(found)
    if len(sides) < 2:
        raise InputError("an arena needs the answers of at least two models (--answers A B ...)")
    campaign.prompts.update(given.prompts)
    campaign.bad_rows = given.bad_rows + campaign.bad_rows
    campaign.models = [model for model, _ in sides]
    answered = Counter()
    for model, answers in sides:
        for pid, text in answers.items():
            if not text.strip():
                campaign.skipped["empty answer"] += 1
            elif pid not in campaign.prompts:
                campaign.skipped["answer to an unknown prompt (give --prompts)"] += 1
            else:
                campaign.answers[model, pid] = text
                answered[pid] += 1
    for pid in list(campaign.prompts):
        if answered[pid] < 2:
            campaign.skipped["prompt with fewer than two answers"] += 1
            del campaign.prompts[pid]
    campaign.answers = {key: text for key, text in campaign.answers.items() if key[1] in campaign.prompts}
    if not campaign.prompts:
        reasons = ", ".join(f"{n:,} {why}" for why, n in campaign.skipped.most_common()) or "no prompts"
        raise InputError(f"no prompt has answers of two models ({reasons})")
    return campaign


def _stem(path: str) -> str:
    from langmill.answers import _stem as stem

    return stem(path)
