"""The synth stage: instruction/answer pairs written from target-language documents (grounded).

Three datatrove pipelines, each resumable (the last two are langmill.pipelines.synthesis'):

  generate  (N tasks)  corpus shards or any Parquet/JSONL with text -> ChunkReader (unusable rows,
                       language ID of the document, chunks of whole paragraphs) -> GenerationRunner
                       with the grounded rollout: per chunk, per_doc requests for one pair each as
                       JSON (structured outputs), every pair checked -> OUT/work/staged/ (kept)
                       + OUT/excluded/ (with reason and detail)
  dedup     (1 task)   exact and near-duplicate instructions across the run -> OUT/data/ + OUT/excluded/
  report    (1 task)   OUT/stats.json + OUT/report.html

Rows in = per_doc rows for every chunk, plus one row for every source row that gave no chunk
(unreadable, too short, not in the target language), so rows in = kept + excluded still holds.
"""

from __future__ import annotations

import json
import os
import hashlib
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill.generators.engine import EngineConfig
from langmill.generators.grounded import GroundedGenerator, GroundedSettings, chunk_document
from langmill.pipelines.synthesis import generate_pipeline, synthesis_executors


@dataclass
class SynthJob:
    """Everything one `langmill synth` run needs; built by the CLI, usable from Python."""

    files: list[str]
    out: str
    settings: GroundedSettings
    engine: EngineConfig
    text_key: str = "text"
    id_key: str = "id"
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)


class ChunkReader(PipelineStep):
    """Source documents as chunks to synthesise from: a chunk is a document `<source id>#<c>` that
    stands for `per_doc` rows; a source row that gives no chunk is a document that stands for one
    excluded row (`unusable`: bad_row, source_too_short or source_lid)."""

    name = "📚 Chunks"
    type = "📖 - READER"

    def __init__(self, files: list[str], settings: GroundedSettings, text_key: str = "text", id_key: str = "id", lid_threshold: float = 0.5):
        super().__init__()
        self.files, self.settings, self.text_key, self.id_key, self.lid_threshold = list(files), settings, text_key, id_key, lid_threshold

    def unusable(self, doc: Document, lid) -> dict | None:
        if doc.metadata.get("bad_row"):
            return {"reason": "bad_row", "detail": doc.metadata["bad_row"]}
        words = len(doc.text.split())
        if words < self.settings.min_words:
            return {"reason": "source_too_short", "detail": f"document has {words} words < {self.settings.min_words}"}
        lang, score = lid.predict(doc.text)
        if lang != self.settings.lang or score < self.lid_threshold:
            return {"reason": "source_lid", "detail": f"document lid={lang}({score:.2f}), not {self.settings.lang} >= {self.lid_threshold}"}
        return None

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from langmill.filters.lid import LanguageFilter
        from langmill.readers import InputReader

        lid, s = LanguageFilter(self.settings.lang), self.settings
        for doc in InputReader(self.files, text_key=self.text_key, id_key=self.id_key).run(None, rank, world_size):
            problem = self.unusable(doc, lid)
            chunks = [] if problem else chunk_document(doc.text, s.chunk_words, s.min_words)
            if not chunks:
                self.stat_update("rows_in")
                self.stat_update("unusable_documents")
                problem = problem or {"reason": "source_too_short", "detail": "no chunk"}
                yield Document(text="", id=doc.id, metadata={"rows": 1, "source_id": doc.id, "unusable": problem})
                continue
            self.stat_update("documents")
            for c, chunk in enumerate(chunks):
                self.stat_update("chunks")
                self.stat_update("rows_in", value=s.per_doc)
                yield Document(text=chunk, id=f"{doc.id}#{c}", metadata={"rows": s.per_doc, "source_id": doc.id, "chunk": c})


def job_info(job: SynthJob) -> dict:
    s = job.settings
    generation = {"per_doc": s.per_doc, "tasks": s.tasks, "with_context": s.with_context, "chunk_words": s.chunk_words, "seed": s.seed,
                  "params": s.params,
                  "prompts_sha256": hashlib.sha256(json.dumps(s.prompts, sort_keys=True).encode()).hexdigest()[:16]}
    return {"lang": s.lang, "source": None, "model": job.engine.model, "inputs": len(job.files), "per_doc": s.per_doc, "tasks": job.tasks,
            "executor": job.executor, "generation": json.dumps(generation, ensure_ascii=False, sort_keys=True)}


def build_executors(job: SynthJob) -> list[tuple[str, object]]:
    info = job_info(job)
    checks = job.settings.checks
    reader = ChunkReader(job.files, job.settings, job.text_key, job.id_key, lid_threshold=checks["lid"]["threshold"])
    return synthesis_executors(job, "synth", generate_pipeline(reader, GroundedGenerator(job.settings).rollout, job, info), info, checks)


def run_synth(job: SynthJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)

