"""The prefs stage: prompts -> completions of several policy models -> judged -> chosen/rejected pairs.

One datatrove pipeline per model, run one after another (each model's vLLM server is started for
its own stage and stopped after it, or each stage sends to its own endpoint), all resumable:

  complete-1 .. complete-M  (N tasks each)  prompt rows of any format (row k to task k % N) ->
                       PromptReader -> GenerationRunner on policy model m with PolicySampler:
                       `samples` completions per prompt, each checked -> OUT/work/completions/<m>/
  judge     (N tasks)  task r reads task r's completions of every model -> GenerationRunner on the
                       judge model with PairJudge: every completion scored 1-10 (JSON schema,
                       rationale first), pairs chosen by score and margin (optionally confirmed
                       head to head in both orders) -> OUT/data/ (pairs, TRL's conversational
                       preference format) + OUT/excluded/ (prompts without a pair, with reason)
                       + OUT/completions/ (every judged completion)
  report    (1 task)   OUT/stats.json + OUT/report.html

Rows in = prompt rows read; a prompt gives one pair (best-worst) or several (--pairs all, where the
pairs after a prompt's first are counted apart), or one excluded row; so rows in = prompts with a
pair + excluded rows.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import partial

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill import schemas
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.judge import JudgeSettings
from langmill.generators.prefs import PAIR_REASONS, PairJudge, PairSettings, PolicySampler, PolicySettings
from langmill.readers import BadRow, RowReader
from langmill.run import shard_files
from langmill.shards import RowShards

RECORDS_PER_CHUNK = 200
COMPLETIONS = os.path.join("work", "completions")
REASONS = ("bad_row", *PAIR_REASONS)
SHARD_SCHEMAS = {"data": schemas.GENERATED_PREFERENCE, "excluded": schemas.PREFERENCE_EXCLUDED, "completions": schemas.JUDGED_COMPLETION}


@dataclass
class PrefsJob:
    """Everything one `langmill prefs` run needs; built by the CLI, usable from Python.

    policies: one EngineConfig per policy model (each may have its own endpoint).
    judge: the judge's EngineConfig (structured outputs: the guidance backend when vLLM is started).
    """

    files: list[str]
    out: str
    lang: str
    policies: list[EngineConfig]
    judge: EngineConfig
    policy: PolicySettings
    judging: JudgeSettings
    pairs: PairSettings
    limit: int | None = None
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)


def stage_names(job: PrefsJob) -> list[str]:
    return [f"complete-{m + 1}" for m in range(len(job.policies))] + ["judge", "report"]


class PromptReader(PipelineStep):
    """Prompt rows as documents (id FILE:LINE): metadata `prompt` (langmill.prompt_rows.prompt_of)
    and `prompt_id`, or `problem` ({"reason": "bad_row", "detail"}) for a row that holds none."""

    name = "💬 Prompts"
    type = "📖 - READER"

    def __init__(self, files: list[str], limit: int | None = None):
        super().__init__()
        self.files, self.limit = list(files), limit

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from langmill.prompt_rows import prompt_id, prompt_of

        rows = RowReader(self.files, self.limit)
        for doc in rows.run(None, rank, world_size):
            meta = doc.metadata
            self.stat_update("rows_in")
            meta["prompt_id"] = prompt_id(meta.get("row"), doc.id)
            try:
                if meta.get("bad_row"):
                    raise BadRow(meta["bad_row"])
                meta["prompt"] = prompt_of(meta["row"])
            except BadRow as err:
                self.stat_update("bad_rows")
                raw = meta.get("raw") or (json.dumps(meta.get("row"), ensure_ascii=False, default=str)[:10_000] if meta.get("row") else None)
                meta["problem"] = {"reason": "bad_row", "detail": str(err), "row": raw}
            meta.pop("row", None)
            yield doc


def completion_rows(model: str, folder: str, document: Document) -> list[tuple[str, dict]]:
    meta = document.metadata
    result = (meta.get("rollout_results") or [{"completions": []}])[0]
    return [(folder, {"index": meta["index"], "id": meta["prompt_id"], "source": meta["source"], "model": model,
                      "prompt": json.dumps(meta.get("prompt"), ensure_ascii=False) if meta.get("prompt") else None,
                      "problem": json.dumps(meta["problem"], ensure_ascii=False) if meta.get("problem") else None,
                      "completions": json.dumps(result.get("completions") or [], ensure_ascii=False)})]


class CompletionsReader(PipelineStep):
    """Task r's prompts with every policy model's completions (the files task r of each policy's
    stage wrote), in the order they were read: one document per prompt."""

    name = "📥 Completions"
    type = "📖 - READER"

    def __init__(self, out: str, models: list[str]):
        super().__init__()
        self.out, self.models = out, list(models)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        prompts: dict[int, dict] = {}
        for m, model in enumerate(self.models):
            folder = os.path.join(self.out, COMPLETIONS, str(m + 1))
            for path in shard_files(folder):
                if not os.path.basename(path).startswith(f"{rank:05d}_"):
                    continue
                for row in pq.read_table(path).to_pylist():
                    entry = prompts.setdefault(row["index"], {**row, "completions": []})
                    entry["completions"] += [{**c, "model": model, "model_index": m, "sample": j} for j, c in enumerate(json.loads(row["completions"]))]
        for index in sorted(prompts):
            row = prompts[index]
            self.stat_update("prompts")
            yield Document(text="", id=row["source"], metadata={
                "index": index, "prompt_id": row["id"], "source": row["source"], "completions": row["completions"],
                "prompt": json.loads(row["prompt"]) if row["prompt"] else None, "problem": json.loads(row["problem"]) if row["problem"] else None})


def pair_rows(info: dict, document: Document) -> list[tuple[str, dict]]:
    """The shard rows of one judged prompt: its pairs (data), or why it has none (excluded), and
    every completion (completions)."""
    meta = document.metadata
    found = (meta.get("rollout_results") or [None])[0] or {"completions": meta.get("completions", []), "pairs": [],
                                                            "excluded": {"reason": "generation_error", "detail": "the judge's rollout gave no result"}}
    prompt, pid, lang = meta.get("prompt"), meta["prompt_id"], info["lang"]
    messages = (prompt or {}).get("messages") or []
    completions = found["completions"]
    out: list[tuple[str, dict]] = []
    for c in completions:
        out.append(("completions", {
            "id": f"{pid}#{c['model_index'] + 1}-{c['sample']}", "prompt_id": pid, "prompt": messages, "completion": c.get("text"),
            "model": c["model"], "sample": c["sample"], "score": c.get("score"), "rationale": c.get("rationale"), "lang": c.get("lang"),
            "lang_score": c.get("lang_score"), "issue": c.get("issue"), "issue_detail": c.get("issue_detail"), "judge_error": c.get("judge_error"),
            "judge_detail": c.get("judge_detail"), "judge_raw": c.get("judge_raw"), "finish_reason": c.get("finish_reason"),
            "tokens": c.get("tokens"), "seed": c.get("seed"), "source": meta["source"]}))
    for k, pair in enumerate(found["pairs"]):
        chosen, rejected = completions[pair["chosen"]], completions[pair["rejected"]]
        assert chosen["text"].strip() != rejected["text"].strip(), "chosen == rejected"  # choose_pairs never pairs equal texts
        scores = (chosen.get("score"), rejected.get("score"))
        out.append(("data", {
            "id": pid if k == 0 else f"{pid}#{k}", "prompt": messages,
            "chosen": [{"role": "assistant", "content": chosen["text"]}], "rejected": [{"role": "assistant", "content": rejected["text"]}],
            "lang": lang, "chosen_score": scores[0], "rejected_score": scores[1],
            "margin": scores[0] - scores[1] if None not in scores else None,
            "chosen_model": chosen["model"], "rejected_model": rejected["model"], "judge_model": info["judge_model"],
            "rejected_issue": rejected.get("issue"), "scores": [c.get("score") for c in completions], "models": [c["model"] for c in completions],
            "rationale": {"chosen": chosen.get("rationale"), "rejected": rejected.get("rationale")}, "pairwise": pair.get("pairwise"),
            "category": (prompt or {}).get("category"), "source": meta["source"]}))
    if not found["pairs"]:
        problem = found.get("excluded") or {"reason": "generation_error", "detail": "no pair and no reason"}
        row = problem.get("row") if problem.get("reason") == "bad_row" else json.dumps(messages, ensure_ascii=False)
        out.append(("excluded", {"id": pid, "reason": problem["reason"], "detail": problem["detail"], "source": meta["source"], "row": row, "lang": lang}))
    return out


def extra_pairs(run) -> int:
    """Pairs of data/ after the first of their prompt (--pairs all): not results of an input row."""
    pairs, prompts = 0, set()
    for path in shard_files(run.data):
        column = pq.read_table(path, columns=["source"]).column("source").to_pylist()
        pairs += len(column)
        prompts.update(column)
    return pairs - len(prompts)


def model_family(model: str) -> str:
    """"meta-llama/Llama-3.1-8B-Instruct" -> "llama": the name's first word without version digits."""
    name = os.path.basename(model.rstrip("/")).lower()
    return re.sub(r"[\d.]+$", "", re.split(r"[-_ :]", name)[0]) or name


def job_info(job: PrefsJob) -> dict:
    models = [e.model for e in job.policies]
    shared = sorted({m for m in models if model_family(m) == model_family(job.judge.model)})
    return {"lang": job.lang, "models": models, "judge_model": job.judge.model, "samples": job.policy.samples, "pairs_mode": job.pairs.mode,
            "margin": job.pairs.margin, "pairwise": job.pairs.pairwise, "tasks": job.tasks, "executor": job.executor,
            "judge_shares_family_with": shared}


def build_executors(job: PrefsJob) -> list[tuple[str, object]]:
    from langmill.executors import chained_executors
    from langmill.pipelines.prefs_report import prefs_report
    from langmill.run import WriteReport

    info = job_info(job)
    names = stage_names(job)
    stages = []
    for m, engine in enumerate(job.policies):
        folder = os.path.join(COMPLETIONS, str(m + 1))
        shards = RowShards(job.out, partial(completion_rows, engine.model, folder), {folder: schemas.STAGED_COMPLETIONS},
                           output_filename="${rank}_chunk_${chunk_index}")
        sampler = PolicySampler(job.policy, m)
        runner = GenerationRunner.for_stage(sampler.rollout, engine, shards, job.out, names[m], RECORDS_PER_CHUNK)
        stages.append((names[m], [PromptReader(job.files, job.limit), runner], job.tasks))
    shards = RowShards(job.out, partial(pair_rows, info), SHARD_SCHEMAS, output_filename="${rank}_chunk_${chunk_index}")
    judge = PairJudge(job.judging, job.pairs)
    runner = GenerationRunner.for_stage(judge.rollout, job.judge, shards, job.out, "judge", RECORDS_PER_CHUNK)
    stages.append(("judge", [CompletionsReader(job.out, [e.model for e in job.policies]), runner],
                   job.tasks))
    report = WriteReport(job.out, "prefs", REASONS, names[:-1], f"langmill prefs report — {job.lang}", info, extra=partial(prefs_report, info),
                         not_kept=extra_pairs, schemas={"data": schemas.GENERATED_PREFERENCE, "excluded": schemas.PREFERENCE_EXCLUDED})
    stages.append(("report", [report], 1))
    return chained_executors(job, stages)


def run_prefs(job: PrefsJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
