"""The translate stage: English SFT / preference rows -> target-language rows, QC on every segment.

Two datatrove pipelines, each resumable:

  translate  (N tasks)  rows (row k to task k % N; each input's format detected once) -> GenerationRunner
                        (vLLM or an endpoint) with the Translator rollout -> OUT/data/<task>_chunk_<k>.parquet
                        (kept rows; with --parallel the source rows too) + OUT/excluded/<task>_chunk_<k>.parquet
                        (with reason and detail). Finished rows and answered requests are checkpointed
                        in OUT/logs/translate/checkpoints/: a killed run resumes there.
  report     (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import partial

import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document

from langmill import schemas
from langmill.formats import input_formats, run_kind
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.translate import TRANSLATE_REASONS, TranslateSettings, Translator
from langmill.readers import RowReader
from langmill.run import Accounting, RunFolder, StageReport, WriteReport, shard_files, step_stats
from langmill.shards import RowShards

STAGES = ("translate", "report")
RECORDS_PER_CHUNK = 500


@dataclass
class TranslateJob:
    """Everything one `langmill translate` run needs; built by the CLI, usable from Python."""

    files: list[str]
    out: str
    settings: TranslateSettings
    engine: EngineConfig
    parallel: bool = False
    limit: int | None = None
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False
    formats: dict[str, str | None] = field(default_factory=dict)  # filled in from the inputs when empty

    def __post_init__(self):
        self.out = os.path.abspath(self.out)
        if not self.formats:
            self.formats = input_formats(self.files, self.settings.format)
        self.settings.kind = run_kind(self.formats)

    @property
    def kind(self) -> str:
        """The shard kind of this run: "sft" or "preference" (rows of the other kind are bad rows)."""
        return self.settings.kind

    @property
    def logs(self) -> str:
        return os.path.join(self.out, "logs")


def _row_id(row: dict | None, where: str) -> str:
    value = (row or {}).get("id")
    return str(value) if isinstance(value, (str, int)) and str(value) else where


def translation_rows(job_info: dict, parallel: bool, document: Document) -> list[tuple[str, dict]]:
    """The shard rows of one translated document: [("data", row), ("data", source row)] or
    [("excluded", row)]."""
    meta = document.metadata
    result = (meta.get("rollout_results") or [{"status": "excluded", "reason": "generation_error", "detail": "no result"}])[0]
    row, where = meta.get("row"), meta.get("source") or document.id
    if result["status"] == "kept":
        common = {"id": _row_id(row, where), "source_format": result["format"], "source": where, "model": job_info["model"]}
        fields, source = result["fields"], result["source_fields"]
        rows = [("data", {**common, **fields, **{f"source_{k}": v for k, v in source.items()}, "lang": job_info["lang"],
                          "source_lang": job_info["source_lang"], "qc": result["qc"]})]
        if parallel:  # the same row in the source language, so data/ is a parallel bilingual set
            rows.append(("data", {**common, **source, "lang": job_info["source_lang"]}))
        return rows
    translation = result.get("fields")
    return [("excluded", {
        "id": _row_id(row, where),
        "reason": result.get("reason") or "bad_row",
        "detail": result.get("detail") or "",
        "source": where,
        "source_format": result.get("format"),
        "row": json.dumps(row, ensure_ascii=False, default=str) if row is not None else meta.get("raw"),
        "translation": json.dumps(translation, ensure_ascii=False) if translation else None,
        "lang": job_info["lang"],
    })]


def data_schema(job: TranslateJob):
    return schemas.TRANSLATED_PREFERENCE if job.kind == "preference" else schemas.TRANSLATED_SFT


def translate_pipeline(job: TranslateJob) -> list:
    stage_logs = os.path.join(job.logs, "translate")
    shards = RowShards(job.out, partial(translation_rows, job_info(job), job.parallel), {"data": data_schema(job), "excluded": schemas.TRANSLATED_EXCLUDED},
                       output_filename="${rank}_chunk_${chunk_index}")
    return [
        RowReader(job.files, job.limit, job.formats),
        GenerationRunner(
            Translator(job.settings).rollout,
            job.engine,
            shards,
            server_log_folder=os.path.join(stage_logs, "server"),
            checkpoints_local_dir=os.path.join(stage_logs, "checkpoints"),
            records_per_chunk=RECORDS_PER_CHUNK,
        ),
    ]


# --- report -------------------------------------------------------------------------------------------


def source_rows(run: RunFolder) -> int:
    """Rows of data/ in the source language (--parallel): written beside the kept rows, not kept rows."""
    return sum(pq.read_table(p, columns=["source_lang"]).column(0).null_count for p in shard_files(run.data))


def translate_report(run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    """Requests, tokens and throughput of the generation, QC totals of the kept rows, and every
    input row exactly once (ids counted in the shards)."""
    seen: dict[str, int] = {}
    qc_totals = dict.fromkeys(("segments", "requests", "retried_segments", "artifacts_removed"), 0)
    for path in shard_files(run.data):
        table = pq.read_table(path, columns=["source", "source_lang", "qc"]).filter(pc.field("source_lang").is_valid())
        for name in qc_totals:
            qc_totals[name] += int(pc.sum(pc.struct_field(table.column("qc").combine_chunks(), name)).as_py() or 0)
        for source in table.column("source").to_pylist():
            seen[source] = seen.get(source, 0) + 1
    for path in shard_files(run.excluded):
        for source in pq.read_table(path, columns=["source"]).column(0).to_pylist():
            seen[source] = seen.get(source, 0) + 1
    generation = step_stats(steps["translate"], "Generation")
    seconds = generation.get("requests_wall_s", 0)  # first request to last answer, summed over tasks
    output_tokens = int(generation.get("completion_tokens", 0))
    stats = {
        "duplicate_rows": sum(n - 1 for n in seen.values() if n > 1),
        "source_rows_written": source_rows(run),
        "kept_qc": qc_totals,
        "requests_sent": int(generation.get("successful_requests", 0)),
        "requests_failed": int(generation.get("failed_requests", 0)),
        "prompt_tokens": int(generation.get("prompt_tokens", 0)),
        "output_tokens": output_tokens,
        "requests_wall_s": round(seconds, 2),
        "output_tokens_per_s": round(output_tokens / seconds, 1) if seconds else None,
        "rows_per_s": round(counts.rows_in / seconds, 3) if seconds else None,
    }
    summary = [
        ["source-language rows written (--parallel)", stats["source_rows_written"]],
        ["requests sent (this run; cached ones not counted)", stats["requests_sent"]],
        ["output tokens / s (first request to last answer)", stats["output_tokens_per_s"] or "-"],
        ["rows / s", stats["rows_per_s"] or "-"],
    ]
    return StageReport(stats, summary)


# --- running ------------------------------------------------------------------------------------------


def job_info(job: TranslateJob) -> dict:
    s = job.settings
    return {"lang": s.lang, "source_lang": s.source_lang, "model": job.engine.model, "prompt": s.prompt,
            "kind": job.kind, "inputs": len(job.files), "tasks": job.tasks, "executor": job.executor}


def build_executors(job: TranslateJob) -> list[tuple[str, object]]:
    from langmill.executors import chained_executors

    report = WriteReport(job.out, "translate", TRANSLATE_REASONS, STAGES[:1],
                         f"langmill translate report ({job.settings.source_lang} → {job.settings.lang})", job_info(job),
                         extra=translate_report, not_kept=source_rows,
                         schemas={"data": data_schema(job), "excluded": schemas.TRANSLATED_EXCLUDED})
    return chained_executors(job, [("translate", translate_pipeline(job), job.tasks), ("report", [report], 1)])


def run_translate(job: TranslateJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
