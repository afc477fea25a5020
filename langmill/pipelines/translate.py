"""The translate stage: English SFT / preference rows -> target-language rows, QC on every segment.

Two datatrove pipelines, each resumable:

  translate  (N tasks)  rows (row k to task k % N) -> GenerationRunner (vLLM or an endpoint) with
                        the Translator rollout -> OUT/logs/translate/completions/<task>_chunk_<k>.jsonl.gz
                        (every row with its result). Finished rows and answered requests are
                        checkpointed in OUT/logs/translate/checkpoints/: a killed run resumes there.
  write      (1 task)   completions -> OUT/data/*.parquet (kept rows; with --parallel the source rows
                        too), OUT/excluded/*.parquet (with reason and detail), stats.json, report.html
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import time
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.jsonl import JsonlWriter

from langmill import schemas
from langmill.filters.output_qc import REASONS
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.translate import TranslateSettings, Translator
from langmill.readers import read_rows
from langmill.report import render_rows_report, task_stats

STAGES = ("translate", "write")
REASON_ORDER = ["bad_row", "generation_error", "truncated", *REASONS]
RECORDS_PER_CHUNK = 500


@dataclass
class TranslateJob:
    """Everything one `langmill translate` run needs; built by the CLI, usable from Python."""

    files: list[str]
    out: str
    settings: TranslateSettings
    engine: EngineConfig
    kind: str = "sft"  # the shard kind of this run: "sft" or "preference"
    parallel: bool = False
    limit: int | None = None
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)

    @property
    def logs(self) -> str:
        return os.path.join(self.out, "logs")


def source_names(files: list[str]) -> dict[str, str]:
    """File -> the name used in ids and `source` (path relative to the inputs' common folder)."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files]) if files else ""
    return {f: os.path.relpath(os.path.abspath(f), root) for f in files}


class RowReader(PipelineStep):
    """Reads JSONL/Parquet rows; task r takes rows k % world_size == r (of the first `limit`).
    A row that cannot be read still becomes a document (with `bad_row`), so it is accounted for."""

    name = "📖 Row reader"
    type = "📖 - READER"

    def __init__(self, files: list[str], limit: int | None = None):
        super().__init__()
        self.files = list(files)
        self.limit = limit

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        names = source_names(self.files)
        k = -1
        for path in self.files:
            for where, row, bad, raw in read_rows(path, names[path]):
                k += 1
                if self.limit is not None and k >= self.limit:
                    return
                if k % world_size != rank:
                    continue
                self.stat_update("rows_read")
                meta = {"where": where}
                if row is None:
                    meta |= {"bad_row": bad, "raw": raw}
                else:
                    meta["row"] = row
                yield Document(text="", id=where, metadata=meta)


def translate_pipeline(job: TranslateJob) -> list:
    stage_logs = os.path.join(job.logs, "translate")
    translator = Translator(job.settings)
    return [
        RowReader(job.files, job.limit),
        GenerationRunner(
            translator.rollout,
            job.engine,
            JsonlWriter(os.path.join(stage_logs, "completions"), output_filename="${rank}_chunk_${chunk_index}.jsonl.gz"),
            server_log_folder=os.path.join(stage_logs, "server"),
            checkpoints_local_dir=os.path.join(stage_logs, "checkpoints"),
            records_per_chunk=RECORDS_PER_CHUNK,
        ),
    ]


# --- write stage ----------------------------------------------------------------------------------


def _row_id(row: dict | None, where: str) -> str:
    value = (row or {}).get("id")
    return str(value) if isinstance(value, (str, int)) and str(value) else where


def _kept_rows(doc: dict, result: dict, job_info: dict, parallel: bool) -> list[dict]:
    meta = doc["metadata"]
    common = {"id": _row_id(meta.get("row"), meta["where"]), "source_format": result["format"], "source": meta["where"], "model": job_info["model"]}
    fields, source = result["fields"], result["source_fields"]
    rows = [{**common, **fields, **{f"source_{k}": v for k, v in source.items()}, "lang": job_info["lang"], "source_lang": job_info["source_lang"], "qc": result["qc"]}]
    if parallel:  # the same row in the source language, so data/ is a parallel bilingual set
        rows.append({**common, **source, "lang": job_info["source_lang"]})
    return rows


def _excluded_row(doc: dict, result: dict, lang: str) -> dict:
    meta = doc["metadata"]
    row = meta.get("row")
    translation = result.get("fields")
    return {
        "id": _row_id(row, meta["where"]),
        "reason": result.get("reason") or "bad_row",
        "detail": result.get("detail") or "",
        "source": meta["where"],
        "source_format": result.get("format"),
        "row": json.dumps(row, ensure_ascii=False, default=str) if row is not None else meta.get("raw"),
        "translation": json.dumps(translation, ensure_ascii=False) if translation else None,
        "lang": lang,
    }


def _write(rows: list[dict], schema: pa.Schema, path: str) -> None:
    if rows:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd", row_group_size=10_000)


class WriteTranslations(PipelineStep):
    """Completions -> OUT/data, OUT/excluded, stats.json, report.html (a rerun rewrites them all)."""

    name = "💾 Write shards"
    type = "💽 - WRITER"

    def __init__(self, out: str, kind: str, parallel: bool, job_info: dict):
        super().__init__()
        self.out, self.kind, self.parallel, self.job_info = out, kind, parallel, job_info

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        started = time.monotonic()
        data_dir, excluded_dir = os.path.join(self.out, "data"), os.path.join(self.out, "excluded")
        for folder in (data_dir, excluded_dir):
            os.makedirs(folder, exist_ok=True)
            for old in glob.glob(os.path.join(folder, "*.parquet")):
                os.remove(old)
        schema = schemas.TRANSLATED_PREFERENCE if self.kind == "preference" else schemas.TRANSLATED_SFT
        seen: Counter = Counter()
        by_reason: Counter = Counter()
        examples: dict[str, list] = {}
        qc_totals = Counter()
        kept = parallel_rows = 0
        for path in sorted(glob.glob(os.path.join(self.out, "logs", "translate", "completions", "*.jsonl.gz"))):
            stem = os.path.basename(path).split(".")[0]
            kept_rows, excluded_rows = [], []
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    doc = json.loads(line)
                    seen[doc["id"]] += 1
                    results = doc["metadata"].get("rollout_results") or [{"status": "excluded", "reason": "generation_error", "detail": "no result"}]
                    result = results[0]
                    if result["status"] == "kept":
                        rows = _kept_rows(doc, result, self.job_info, self.parallel)
                        kept += 1
                        parallel_rows += len(rows) - 1
                        kept_rows += rows
                        qc_totals.update({k: result["qc"][k] for k in ("segments", "requests", "retried_segments", "artifacts_removed")})
                    else:
                        row = _excluded_row(doc, result, self.job_info["lang"])
                        excluded_rows.append(row)
                        by_reason[row["reason"]] += 1
                        if len(examples.setdefault(row["reason"], [])) < 3:
                            examples[row["reason"]].append([row["reason"], row["id"], row["detail"][:300]])
            _write(kept_rows, schema, os.path.join(data_dir, f"{stem}.parquet"))
            _write(excluded_rows, schemas.TRANSLATED_EXCLUDED, os.path.join(excluded_dir, f"{stem}.parquet"))
        stats = self.stats_dict(seen, kept, by_reason, parallel_rows, qc_totals, examples)
        stats["write_time_s"] = round(time.monotonic() - started, 3)
        with open(os.path.join(self.out, "stats.json"), "w") as f:
            json.dump(stats, f, indent=1, ensure_ascii=False)
        with open(os.path.join(self.out, "report.html"), "w") as f:
            f.write(render_html(stats))

    def stats_dict(self, seen: Counter, kept: int, by_reason: Counter, parallel_rows: int, qc_totals: Counter, examples: dict) -> dict:
        # Counted again from the written files: what users load is what is checked.
        def rows_in(folder):
            return sum(pq.read_metadata(p).num_rows for p in glob.glob(os.path.join(self.out, folder, "*.parquet")))

        kept_on_disk, excluded_on_disk = rows_in("data") - parallel_rows, rows_in("excluded")
        steps = task_stats(os.path.join(self.out, "logs", "translate"))
        generation = next((v for k, v in steps.items() if "Generation" in k), {})
        reader = next((v for k, v in steps.items() if "reader" in k.lower()), {})
        # From the first request to the last answer (server start-up excluded), summed over tasks.
        seconds = generation.get("requests_wall_s", 0)
        rows_read = int(reader.get("rows_read", 0))
        output_tokens = int(generation.get("completion_tokens", 0))
        return {
            "stage": "translate",
            **self.job_info,
            "rows_in": rows_read,
            "kept": kept_on_disk,
            "excluded": excluded_on_disk,
            "rows_in_equals_kept_plus_excluded": rows_read == kept_on_disk + excluded_on_disk == sum(seen.values()),
            "duplicate_rows": sum(n - 1 for n in seen.values() if n > 1),
            "source_rows_written": parallel_rows,
            "excluded_by_reason": dict(sorted(by_reason.items(), key=lambda kv: REASON_ORDER.index(kv[0]) if kv[0] in REASON_ORDER else 99)),
            "excluded_examples": examples,
            "kept_qc": dict(qc_totals),
            "requests_sent": int(generation.get("successful_requests", 0)),
            "requests_failed": int(generation.get("failed_requests", 0)),
            "prompt_tokens": int(generation.get("prompt_tokens", 0)),
            "output_tokens": output_tokens,
            "requests_wall_s": round(seconds, 2),
            "output_tokens_per_s": round(output_tokens / seconds, 1) if seconds else None,
            "rows_per_s": round(rows_read / seconds, 3) if seconds else None,
        }


def render_html(stats: dict) -> str:
    summary = [
        ["rows in", stats["rows_in"]], ["kept", stats["kept"]], ["excluded", stats["excluded"]],
        ["rows in = kept + excluded", "yes" if stats["rows_in_equals_kept_plus_excluded"] else "NO"],
        ["source-language rows written (--parallel)", stats["source_rows_written"]],
        ["requests sent (this run; cached ones not counted)", stats["requests_sent"]],
        ["output tokens / s (first request to last answer)", stats["output_tokens_per_s"] or "-"],
        ["rows / s", stats["rows_per_s"] or "-"],
    ]
    examples = [e for rows in stats["excluded_examples"].values() for e in rows]
    return render_rows_report(f"langmill translate report ({stats['source_lang']} → {stats['lang']})",
                              f"Model {stats['model']}, prompt {stats['prompt']}.", summary, stats["excluded_by_reason"], examples)


# --- running ----------------------------------------------------------------------------------------


def job_info(job: TranslateJob) -> dict:
    s = job.settings
    return {"lang": s.lang, "source_lang": s.source_lang, "model": job.engine.model, "prompt": s.prompt,
            "kind": job.kind, "inputs": len(job.files), "tasks": job.tasks, "executor": job.executor}


def build_executors(job: TranslateJob) -> list[tuple[str, object]]:
    from langmill.executors import make_executor

    translate = make_executor(
        job.executor, translate_pipeline(job), stage="translate", tasks=job.tasks, workers=job.workers,
        logging_dir=os.path.join(job.logs, "translate"), options=job.executor_options, verbose=job.verbose,
    )
    write = make_executor(
        job.executor, [WriteTranslations(job.out, job.kind, job.parallel, job_info(job))], stage="write", tasks=1, workers=1,
        logging_dir=os.path.join(job.logs, "write"), depends=translate, options=job.executor_options, verbose=job.verbose,
    )
    return [("translate", translate), ("write", write)]


def run_translate(job: TranslateJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    stages = build_executors(job)
    translate = stages[0][1]
    if job.executor == "local" and translate.get_incomplete_ranks(range(translate.world_size)):
        # The write stage reads every completion: it runs again whenever translate had work to do.
        for marker in glob.glob(os.path.join(job.logs, "write", "completions", "*")):
            os.remove(marker)
    run_stages(job.executor, stages, verbose=job.verbose)
