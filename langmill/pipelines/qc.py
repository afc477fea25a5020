"""The qc stage: already translated SFT or preference rows, checked again against their sources.

Two datatrove pipelines, each resumable:

  check   (N tasks)  rows (row k to task k % N) -> every message checked against the source message at
                     the same position (langmill.checks) -> OUT/data/<input>.parquet (kept rows, prompt
                     artifacts removed, a `qc` column) + OUT/excluded/<input>.parquet (the row as read,
                     `reason`: its first failed check or bad_row, `detail`: all of them); with N > 1
                     tasks the files are <input>-<task>.parquet
  report  (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill.checks import REASONS, Failure, check_translation, fold_metrics, in_order
from langmill.formats import role_contents, translated_fields
from langmill.readers import BadRow, RowReader, source_names
from langmill.run import Accounting, RunFolder, StageReport, WriteReport, step_stats
from langmill.shards import RowShards

STAGES = ("check", "report")
QC_REASONS = ("bad_row", *REASONS)


@dataclass
class QCJob:
    """Everything one `langmill qc` run needs; built by the CLI, usable from Python."""

    files: list[str]
    lang: str
    out: str
    config: dict  # langmill.config.load_qc_config(...)
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    executor_options: dict | None = None
    verbose: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)


def _with_contents(value, contents: list[str]):
    if isinstance(value, str):
        return contents[0]
    return [{**m, "content": c} for m, c in zip(value, contents)]


def check_row(row: dict, lang: str, config: dict, lid) -> tuple[dict, list[tuple[str, str]], dict]:
    """(row with cleaned texts, [(reason, detail)] in the order of REASONS, qc summary); raises BadRow."""
    pairs = translated_fields(row)
    for field, src_field in pairs:
        for name in (field, src_field):
            if row.get(name) is None:
                if name == src_field and row.get("lang") not in (None, lang):
                    raise BadRow(f"a source-language row (lang={row['lang']}, as --parallel writes them): nothing to check")
                raise BadRow(f"no {name!r} field")
    failures: list[Failure] = []
    cleaned_row = dict(row)
    summary = {"messages_checked": 0, "artifacts_removed": 0, "min_lang_score": None, "min_length_ratio": None, "max_length_ratio": None}
    for field, src_field in pairs:
        target, source = role_contents(row[field], field), role_contents(row[src_field], src_field)
        if isinstance(row[field], str) != isinstance(row[src_field], str):
            failures.append(Failure("structure", f"{field}: a {type(row[field]).__name__}, {src_field} a {type(row[src_field]).__name__}"))
            continue
        if len(target) != len(source):
            failures.append(Failure("structure", f"{field}: {len(target)} messages, {len(source)} in {src_field}"))
            continue
        contents = []
        for i, ((role, text), (src_role, src_text)) in enumerate(zip(target, source)):
            where = field if role is None else f"{field}[{i}]"
            if role != src_role:
                failures.append(Failure("structure", f"{where}: role {role!r} != {src_role!r}"))
                contents.append(text)
                continue
            result = check_translation(src_text, text, lang, config, lid)
            contents.append(result.text)
            summary["messages_checked"] += 1
            fold_metrics(summary, result.metrics)
            failures.extend(Failure(f.reason, f"{where}: {f.detail}") for f in result.failures)
        cleaned_row[field] = _with_contents(row[field], contents)
    return cleaned_row, [(f.reason, f.detail) for f in in_order(failures, REASONS)], summary


class CheckTranslations(PipelineStep):
    """Checks every row (see `check_row`) and records the outcome in `metadata["qc_result"]`:
    ("data", kept row) or ("excluded", row with reason and detail); `metadata["shard"]` names the
    row's output file (its input file, and the task when there are several)."""

    name = "🔎 Check translations"
    type = "🔎 - QC"

    def __init__(self, lang: str, config: dict, shard_names: dict[str, str]):
        super().__init__()
        self.lang, self.config, self.shard_names = lang, config, shard_names
        self._lid = None

    @property
    def lid(self):
        if self._lid is None:  # loaded in the worker, not pickled with the pipeline
            from langmill.filters.lid import LanguageFilter

            self._lid = LanguageFilter(self.lang, model_path=self.config["lid"].get("model"))
        return self._lid

    def outcome(self, doc: Document) -> tuple[str, dict]:
        meta = doc.metadata
        row, where = meta.get("row"), meta["source"]
        row_id = str(row.get("id") or where) if row is not None else where
        if row is None:
            return "excluded", {"id": row_id, "raw": meta.get("raw"), "reason": "bad_row", "detail": meta["bad_row"]}
        try:
            cleaned, failures, summary = check_row(row, self.lang, self.config, self.lid)
        except BadRow as err:
            raw = json.dumps(row, ensure_ascii=False, default=str)
            return "excluded", {"id": row_id, "raw": raw, "reason": "bad_row", "detail": f"{row_id}: {err}"}
        self.stat_update("messages_checked", value=summary["messages_checked"])
        if failures:
            for reason in {reason for reason, _ in failures}:
                self.stat_update(f"failed_{reason}")
            return "excluded", {**row, "id": row_id, "reason": failures[0][0], "detail": "; ".join(d for _, d in failures)}
        if summary["artifacts_removed"]:
            self.stat_update("kept_with_artifacts_removed")
        return "data", {**cleaned, "id": row_id, "qc": summary}

    def run(self, data, rank: int = 0, world_size: int = 1):
        suffix = f"-{rank:05d}" if world_size > 1 else ""
        for doc in data:
            with self.track_time():
                doc.metadata["qc_result"] = self.outcome(doc)
            doc.metadata["shard"] = self.shard_names[doc.metadata["source"].rsplit(":", 1)[0]] + suffix
            yield doc


def shard_names(files: list[str]) -> dict[str, str]:
    """Input name (as in `source`) -> output file name: the input's stem, made unique."""
    stems: Counter = Counter()
    names = {}
    for path, name in source_names(files).items():
        stem = os.path.basename(path).split(".")[0] or "part"
        stems[stem] += 1
        names[name] = stem if stems[stem] == 1 else f"{stem}-{stems[stem]}"
    return names


def qc_rows(document: Document) -> list[tuple[str, dict]]:
    return [document.metadata["qc_result"]]


def qc_report(run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    check = step_stats(steps["check"], "Check translations")
    failed = {reason: int(check[f"failed_{reason}"]) for reason in QC_REASONS if f"failed_{reason}" in check}
    stats = {
        "failed_checks": failed,
        "messages_checked": int(check.get("messages_checked", 0)),
        "kept_rows_with_artifacts_removed": int(check.get("kept_with_artifacts_removed", 0)),
    }
    summary = [["messages checked", stats["messages_checked"]], ["kept rows with prompt artifacts removed", stats["kept_rows_with_artifacts_removed"]]]
    return StageReport(stats, summary)


def job_info(job: QCJob) -> dict:
    return {"lang": job.lang, "inputs": job.files, "tasks": job.tasks, "executor": job.executor, "config": job.config}


def build_executors(job: QCJob) -> list[tuple[str, object]]:
    from langmill.executors import make_executor

    logs = os.path.join(job.out, "logs")
    check = [
        RowReader(job.files),
        CheckTranslations(job.lang, job.config, shard_names(job.files)),
        RowShards(job.out, qc_rows, {"data": None, "excluded": None}, output_filename="${shard}", close_on_new_name=True),
    ]
    report = WriteReport(job.out, "qc", QC_REASONS, STAGES[:1], f"langmill qc report (→ {job.lang})", job_info(job), extra=qc_report)
    executors = []
    for stage, pipeline, tasks in (("check", check, job.tasks), ("report", [report], 1)):
        executors.append(make_executor(
            job.executor, pipeline, stage=stage, tasks=tasks, workers=min(job.workers, tasks), logging_dir=os.path.join(logs, stage),
            depends=executors[-1] if executors else None, options=job.executor_options, verbose=job.verbose,
        ))
    return list(zip(STAGES, executors))


def run_qc(job: QCJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
