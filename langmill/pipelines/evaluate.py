"""The eval stages: judged win-rate of two answer sets, and MT-Bench(-X) single-answer grading.

  answer-<side> (N tasks, for each side that is a model)  prompt rows (MT-Bench questions or any
                       row format) -> PromptReader -> GenerationRunner on that model with the
                       Answerer (every turn, FastChat's temperature per MT-Bench category)
                       -> OUT/answers/<side>/ (SFT rows)
  judge     (N tasks)  prompts + the answers of every side (generated above, or read from
                       MT-Bench model_answer/*.jsonl or langmill outputs), the language of every
                       answer (fastText) -> GenerationRunner on the judge with PairwiseJudge
                       (winrate: first turn, both orders) or GradeJudge (mtbench: 1-10 per turn,
                       reference answers for math/reasoning/coding) -> OUT/data/ (one row per
                       game or graded turn) + OUT/excluded/ (missing answers, judge failures)
  report    (1 task)   OUT/results.json (win/tie/loss with 95 % intervals, per category, flip rate
                       and position bias, language fidelity per model; or MT-Bench scores per turn
                       and category) + OUT/stats.json + OUT/report.html

Rows are games: one per prompt (winrate) or one per question turn (mtbench); rows in = judged +
excluded, always.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import partial

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill import schemas
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.evaluate import REFERENCE_CATEGORIES, Answerer, GradeJudge, PairwiseJudge
from langmill.generators.judge import JudgeSettings
from langmill.generators.prefs import PolicySettings
from langmill.pipelines.prefs import PromptReader
from langmill.shards import RowShards

RECORDS_PER_CHUNK = 200
REASONS = ("bad_row", "missing_answer", "generation_error", "judge_error")
LID_MIN_WORDS = 5


@dataclass
class Side:
    """One model under evaluation: `engine` answers the prompts, or `answers` (a file or folder)
    holds its answers already. `name` is what tables call it."""

    label: str
    name: str
    engine: EngineConfig | None = None
    answers: str | None = None


@dataclass
class EvalJob:
    """Everything one `langmill eval winrate|mtbench` run needs; built by the CLI, usable from Python."""

    kind: str  # "winrate" or "mtbench"
    files: list[str]
    out: str
    lang: str
    sides: list[Side]
    judge: EngineConfig
    judging: JudgeSettings
    policy: PolicySettings
    both_orders: bool = True
    wrong_language_loss: bool = False
    limit: int | None = None
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out = os.path.abspath(self.out)

    def answers_of(self, side: Side) -> str:
        return side.answers or os.path.join(self.out, "answers", side.label)


def answer_rows(model: str, folder: str, lang: str, document: Document) -> list[tuple[str, dict]]:
    meta = document.metadata
    if meta.get("problem"):
        return []
    result = (meta.get("rollout_results") or [{"answers": [], "error": "no result"}])[0]
    messages = list(meta["prompt"]["messages"])
    for question, answer in zip([None, *meta["prompt"]["turns"]], result["answers"]):
        messages += ([{"role": "user", "content": question}] if question is not None else []) + [{"role": "assistant", "content": answer}]
    return [(folder, {"id": meta["prompt_id"], "messages": messages, "model": model, "lang": lang, "source": meta["source"], "error": result.get("error")})]


class GameReader(PipelineStep):
    """The judge's input: every prompt with each side's answers and their languages. A prompt
    stands for one game (winrate) or one per turn (mtbench); a game that cannot be judged (a bad
    row, a side without an answer) carries its `problem` instead."""

    name = "🎲 Games"
    type = "📖 - READER"

    def __init__(self, job: EvalJob):
        super().__init__()
        self.kind, self.lang, self.files, self.limit = job.kind, job.lang, job.files, job.limit
        self.sides = [(side.name, job.answers_of(side)) for side in job.sides]

    @staticmethod
    def answers(read_answers, path: str) -> dict[str, list[str]]:
        from langmill.readers import InputError

        try:
            return read_answers(path).answers
        except InputError:  # no answer at all (every generated one failed): every game misses it
            return {}

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from langmill.answers import read_answers
        from langmill.evalstats import answer_language
        from langmill.filters.lid import LanguageFilter
        from langmill.languages import canonical_lang

        lid = LanguageFilter(self.lang)
        answer_sets = [(name, self.answers(read_answers, path)) for name, path in self.sides]
        reader = PromptReader(self.files, self.limit)
        for doc in reader.run(None, rank, world_size):
            meta = doc.metadata
            prompt = meta.get("prompt")
            turns = 1 if self.kind == "winrate" or not prompt else 1 + len(prompt["turns"])
            meta["games"] = turns
            self.stat_update("rows_in", value=turns)
            if meta.get("problem"):
                yield doc
                continue
            expected = canonical_lang(prompt.get("lang") or self.lang)
            meta["answers"], meta["languages"] = [], []
            for name, answers in answer_sets:
                found = answers.get(meta["prompt_id"])
                if not found or not any(a.strip() for a in found[:turns]):
                    meta["problem"] = {"reason": "missing_answer", "detail": f"{name} has no answer to {meta['prompt_id']!r}"}
                    break
                meta["answers"].append(found[:turns])
                meta["languages"].append([answer_language(a, self.lang, lid, LID_MIN_WORDS) for a in found[:turns]])
            meta["expected_lang"] = expected
            yield doc


def _in_lang(found, expected: str) -> bool | None:
    return None if found is None else found[0] == expected


def _excluded(meta: dict, reason: str, detail: str, lang: str, turn: int | None = None) -> dict:
    suffix = f"-t{turn}" if turn else ""
    return {"id": f"{meta['prompt_id']}{suffix}", "reason": reason, "detail": detail, "source": meta["source"],
            "row": (meta.get("problem") or {}).get("row") or json.dumps((meta.get("prompt") or {}).get("messages"), ensure_ascii=False), "lang": lang}


def winrate_rows(info: dict, document: Document) -> list[tuple[str, dict]]:
    meta = document.metadata
    if meta.get("problem"):
        return [("excluded", _excluded(meta, meta["problem"]["reason"], meta["problem"]["detail"], info["lang"]))]
    orders = ((meta.get("rollout_results") or [None])[0] or {}).get("orders") or []
    failed = [o for o in orders if o.get("value") is None]
    if not orders or failed:
        detail = "; ".join(f"order {'AB' if k == 0 else 'BA'}: {o['error']}: {o['detail']}" for k, o in enumerate(orders) if o.get("value") is None)
        return [("excluded", _excluded(meta, "judge_error", detail or "no judgement", info["lang"]))]
    from langmill.evalstats import combine_orders

    values = [o["value"] for o in orders]
    (a, b), (la, lb) = meta["answers"], meta["languages"]
    return [("data", {
        "id": meta["prompt_id"], "category": meta["prompt"].get("category"), "turn": 1,
        "verdict": combine_orders(*values) if len(values) == 2 else values[0], "orders": values,
        "a_model": info["sides"][0], "a_answer": a[0], "a_lang": la[0][0] if la[0] else None,
        "b_model": info["sides"][1], "b_answer": b[0], "b_lang": lb[0][0] if lb[0] else None,
        "a_in_lang": _in_lang(la[0], meta["expected_lang"]), "b_in_lang": _in_lang(lb[0], meta["expected_lang"]),
        "verdict_rationales": [o["rationale"] for o in orders], "judge_model": info["judge_model"], "source": meta["source"]})]


def mtbench_rows(info: dict, document: Document) -> list[tuple[str, dict]]:
    meta = document.metadata
    if meta.get("problem"):
        return [("excluded", _excluded(meta, meta["problem"]["reason"], meta["problem"]["detail"], info["lang"], t + 1 if meta["games"] > 1 else None))
                for t in range(meta["games"])]
    grades = ((meta.get("rollout_results") or [None])[0] or {}).get("grades") or []
    prompt, answers, languages = meta["prompt"], meta["answers"][0], meta["languages"][0]
    out = []
    for t in range(meta["games"]):
        if t >= len(answers) or not answers[t].strip():
            out.append(("excluded", _excluded(meta, "missing_answer", f"{info['sides'][0]} has no answer to turn {t + 1}", info["lang"], t + 1)))
        elif t >= len(grades) or grades[t].get("value") is None:
            detail = f"{grades[t]['error']}: {grades[t]['detail']}" if t < len(grades) else "no judgement"
            out.append(("excluded", _excluded(meta, "judge_error", detail, info["lang"], t + 1)))
        else:
            out.append(("data", {
                "id": f"{meta['prompt_id']}-t{t + 1}" if meta["games"] > 1 else meta["prompt_id"], "category": prompt.get("category"), "turn": t + 1, "score": grades[t]["value"],
                "rationale": grades[t]["rationale"], "model": info["sides"][0], "answer": answers[t],
                "answer_lang": languages[t][0] if languages[t] else None, "in_lang": _in_lang(languages[t], meta["expected_lang"]),
                "reference_used": bool(prompt.get("reference")) and prompt.get("category") in REFERENCE_CATEGORIES,
                "judge_model": info["judge_model"], "source": meta["source"]}))
    return out


def job_info(job: EvalJob) -> dict:
    return {"lang": job.lang, "sides": [s.name for s in job.sides], "judge_model": job.judge.model, "both_orders": job.both_orders,
            "wrong_language_loss": job.wrong_language_loss, "inputs": len(job.files), "tasks": job.tasks, "executor": job.executor}


def build_executors(job: EvalJob) -> list[tuple[str, object]]:
    from langmill.executors import chained_executors
    from langmill.pipelines.eval_report import eval_report
    from langmill.run import WriteReport

    info = job_info(job)
    stages = []
    for side in job.sides:
        if side.engine is None:
            continue
        folder = os.path.join("answers", side.label)
        shards = RowShards(job.out, partial(answer_rows, side.name, folder, job.lang), {folder: schemas.EVAL_ANSWERS},
                           output_filename="${rank}_chunk_${chunk_index}")
        rollout = Answerer(job.policy, category_temperature=job.kind == "mtbench").rollout
        runner = GenerationRunner.for_stage(rollout, side.engine, shards, job.out, f"answer-{side.label}", RECORDS_PER_CHUNK)
        stages.append((f"answer-{side.label}", [PromptReader(job.files, job.limit), runner],
                       job.tasks))
    if job.kind == "winrate":
        rollout, rows, schema = PairwiseJudge(job.judging, job.both_orders).rollout, winrate_rows, schemas.WINRATE_GAME
    else:
        rollout, rows, schema = GradeJudge(job.judging).rollout, mtbench_rows, schemas.MTBENCH_GRADE
    shards = RowShards(job.out, partial(rows, info), {"data": schema, "excluded": schemas.PREFERENCE_EXCLUDED},
                       output_filename="${rank}_chunk_${chunk_index}")
    stages.append(("judge", [GameReader(job), GenerationRunner.for_stage(rollout, job.judge, shards, job.out, "judge", RECORDS_PER_CHUNK)], job.tasks))
    names = [name for name, _, _ in stages]
    report = WriteReport(job.out, f"eval {job.kind}", REASONS, ["judge", *names[:-1]], f"langmill eval {job.kind} — {job.lang}", info,
                         extra=partial(eval_report, job.kind, info, job.seed), schemas={"data": schema, "excluded": schemas.PREFERENCE_EXCLUDED})
    stages.append(("report", [report], 1))
    return chained_executors(job, stages)


def run_eval(job: EvalJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)

