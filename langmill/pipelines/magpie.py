"""The magpie stage: instruction/answer conversations an instruct model writes itself (Magpie).

Two datatrove pipelines, each resumable:

  generate  (N tasks)  slots 0..n-1 (slot k to task k % N) -> GenerationRunner (vLLM or an endpoint)
                       with the Magpie rollout: per turn, a raw completion of the model's own
                       pre-query template writes the instruction, a chat request answers it, the
                       pair is checked (langmill.synth_checks) -> OUT/data/<task>_chunk_<k>.parquet
                       (SYNTH_SFT rows) + OUT/excluded/<task>_chunk_<k>.parquet (with reason and
                       detail). Answered requests and finished rows are checkpointed in
                       OUT/logs/generate/checkpoints/: a killed run resumes there.
  report    (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pyarrow.parquet as pq

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill import schemas
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.magpie import MagpieGenerator, MagpieSettings
from langmill.report import bars
from langmill.run import Accounting, RunFolder, StageReport, WriteReport, shard_files, step_stats
from langmill.shards import RowShards
from langmill.synth_checks import SYNTH_REASONS

STAGES = ("generate", "report")
REASONS = ("generation_error", *SYNTH_REASONS)
RECORDS_PER_CHUNK = 500


@dataclass
class MagpieJob:
    """Everything one `langmill magpie` run needs; built by the CLI, usable from Python."""

    n: int
    out: str
    settings: MagpieSettings
    engine: EngineConfig
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)


class SlotReader(PipelineStep):
    """The n rows to generate, as empty documents `magpie-<k>`: task r takes k % world_size == r."""

    name = "🎰 Slots"
    type = "📖 - READER"

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for k in range(rank, self.n, world_size):
            self.stat_update("rows_in")
            yield Document(text="", id=f"magpie-{k:08d}", metadata={"slot": k})


def magpie_rows(job_info: dict, document: Document) -> list[tuple[str, dict]]:
    """The shard row of one generated conversation: ("data", row) or ("excluded", row)."""
    result = (document.metadata.get("rollout_results") or [{"status": "excluded", "reason": "generation_error", "detail": "no result"}])[0]
    common = {"id": document.id, "lang": job_info["lang"], "source": "magpie", "model": job_info["model"]}
    if result["status"] == "kept":
        return [("data", {**common, "messages": result["messages"], "generation": job_info["generation"]})]
    messages = result.get("messages")
    return [("excluded", {**common, "reason": result.get("reason") or "generation_error", "detail": result.get("detail") or "",
                          "messages": json.dumps(messages, ensure_ascii=False) if messages else None})]


WORD_BINS = [0, 5, 10, 20, 50, 100, 200, 500]


def _words(messages: list[dict], role: str) -> list[int]:
    return [len(m["content"].split()) for m in messages if m["role"] == role]


def magpie_report(run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    """Lengths of the kept instructions and answers, and the generation's requests and throughput."""
    instructions, answers = [], []
    for path in shard_files(run.data):
        for messages in pq.read_table(path, columns=["messages"]).column("messages").to_pylist():
            instructions += _words(messages, "user")
            answers += _words(messages, "assistant")

    def histogram(values: list[int]) -> list[tuple[str, int]]:
        edges = WORD_BINS + [float("inf")]
        return [(f"{lo}–{hi - 1}" if hi != float("inf") else f"≥ {lo}", sum(lo <= v < hi for v in values)) for lo, hi in zip(edges, edges[1:])]

    def median(values: list[int]) -> int | None:
        return sorted(values)[len(values) // 2] if values else None

    generation = step_stats(steps["generate"], "Generation")
    seconds = generation.get("requests_wall_s", 0)
    output_tokens = int(generation.get("completion_tokens", 0))
    stats = {
        "instruction_words": {"median": median(instructions), "histogram": dict(histogram(instructions))},
        "answer_words": {"median": median(answers), "histogram": dict(histogram(answers))},
        "requests_sent": int(generation.get("successful_requests", 0)),
        "output_tokens": output_tokens,
        "output_tokens_per_s": round(output_tokens / seconds, 1) if seconds else None,
    }
    summary = [
        ["median words: instruction / answer", f"{stats['instruction_words']['median'] or '-'} / {stats['answer_words']['median'] or '-'}"],
        ["requests sent (this run; cached ones not counted)", stats["requests_sent"]],
        ["output tokens / s (first request to last answer)", stats["output_tokens_per_s"] or "-"],
    ]
    sections = [("Words per kept instruction", bars(histogram(instructions))), ("Words per kept answer", bars(histogram(answers)))]
    return StageReport(stats, summary, sections)


def job_info(job: MagpieJob) -> dict:
    s = job.settings
    generation = {"system": s.system, "turns": s.turns, "seed": s.seed, "instruction": s.instruction, "answer": s.answer}
    return {"lang": s.lang, "model": job.engine.model, "n": job.n, "tasks": job.tasks, "executor": job.executor,
            "generation": json.dumps(generation, ensure_ascii=False, sort_keys=True)}


def build_executors(job: MagpieJob) -> list[tuple[str, object]]:
    from functools import partial

    from langmill.executors import chained_executors

    logs = os.path.join(job.out, "logs")
    info = job_info(job)
    shards = RowShards(job.out, partial(magpie_rows, info), {"data": schemas.SYNTH_SFT, "excluded": schemas.SYNTH_EXCLUDED},
                       output_filename="${rank}_chunk_${chunk_index}")
    generate = [
        SlotReader(job.n),
        GenerationRunner(MagpieGenerator(job.settings).rollout, job.engine, shards, server_log_folder=os.path.join(logs, "generate", "server"),
                         checkpoints_local_dir=os.path.join(logs, "generate", "checkpoints"), records_per_chunk=RECORDS_PER_CHUNK),
    ]
    report = WriteReport(job.out, "magpie", REASONS, STAGES[:1], f"langmill magpie report — {job.settings.lang}", info,
                         extra=magpie_report, schemas={"data": schemas.SYNTH_SFT, "excluded": schemas.SYNTH_EXCLUDED})
    return chained_executors(job, [("generate", generate, job.tasks), ("report", [report], 1)])


def run_magpie(job: MagpieJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
