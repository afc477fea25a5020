"""The magpie stage: instruction/answer conversations an instruct model writes itself (Magpie).

Three datatrove pipelines, each resumable (the last two are langmill.pipelines.synthesis'):

  generate  (N tasks)  slots 0..n-1 (slot k to task k % N) -> GenerationRunner (vLLM or an endpoint)
                       with the Magpie rollout: per turn, a raw completion of the model's own
                       pre-query template writes the instruction, a chat request answers it, the
                       pair is checked (langmill.synth_checks) -> OUT/work/staged/ (kept rows)
                       + OUT/excluded/ (with reason and detail)
  dedup     (1 task)   exact and near-duplicate instructions across the run -> OUT/data/ + OUT/excluded/
  report    (1 task)   OUT/stats.json + OUT/report.html
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill.generators.engine import EngineConfig
from langmill.generators.magpie import MagpieGenerator, MagpieSettings
from langmill.pipelines.synthesis import generate_pipeline, synthesis_executors


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


def job_info(job: MagpieJob) -> dict:
    s = job.settings
    generation = {"system": s.system, "turns": s.turns, "seed": s.seed, "instruction": s.instruction, "answer": s.answer}
    return {"lang": s.lang, "source": "magpie", "model": job.engine.model, "n": job.n, "tasks": job.tasks, "executor": job.executor,
            "generation": json.dumps(generation, ensure_ascii=False, sort_keys=True)}


def build_executors(job: MagpieJob) -> list[tuple[str, object]]:
    info = job_info(job)
    generate = generate_pipeline(SlotReader(job.n), MagpieGenerator(job.settings).rollout, job, info)
    return synthesis_executors(job, "magpie", generate, info, job.settings.checks)


def run_magpie(job: MagpieJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
