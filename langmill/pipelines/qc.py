"""The qc stage: already translated SFT or preference rows, checked again against their sources.

Two datatrove pipelines, each resumable:

  check   (N tasks)  rows (row k to task k % N) -> every message checked against the source message at
                     the same position (langmill.checks) -> OUT/data/<input>.parquet (kept rows, prompt
                     artifacts removed, a `qc` column) + OUT/excluded/<input>.parquet (the row as read,
                     `reason`: its first failed check or bad_row, `detail`: all of them); with N > 1
                     tasks the files are <input>-<task>.parquet
  report  (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)

Every shard of a run has one schema, so that data/ (and excluded/) load as one dataset:
- One run checks one kind of rows, SFT or preference (`langmill.formats.translated_run_kind`: inputs
  of both kinds are refused before any work starts); data/ is `schemas.QC_SFT` or `QC_PREFERENCE`,
  the columns `translate` writes.
- Kept rows: message fields are lists of {role, content} (a preference field given as a string
  becomes one message; ShareGPT roles human/gpt become user/assistant); `id`, `lang`, `source_lang`,
  `source_format`, `source` and `model` are kept as strings; `qc` holds this run's measurements.
  Every other field of the input row, a known field whose value is not a string, the input's own
  `qc` (translate's measurements) and message keys besides role and content (as "messages[2]":
  {...}) go into `extra`, one JSON object (null when there is nothing): nothing of a row is lost.
- Excluded rows (`schemas.QC_EXCLUDED`): the row as read, as JSON text, in `row`; `source` is where
  it was read (FILE:LINE).
- bad_row: a row that cannot be read, of the other kind, without its source fields, with a message
  field that is a plain string (SFT), holds no message or only empty ones, or has a role other than
  system, user and assistant (tool calls and their outputs are not checked).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from langmill import schemas
from langmill.checks import REASONS, Failure, check_translation, fold_metrics, in_order
from langmill.formats import PREFERENCE_PAIRS, SFT_FIELDS, message_list, not_empty, preference_messages, translated_kind, translated_run_kind
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
    kind: str = ""  # "sft" or "preference"; found from the inputs when empty (rows of the other kind are bad rows)

    def __post_init__(self):
        self.out = os.path.abspath(self.out)
        self.kind = self.kind or translated_run_kind(self.files)


KIND_NAMES = {"sft": "SFT", "preference": "preference"}


def row_messages(row: dict, kind: str, lang: str) -> dict[str, list[dict]]:
    """Every message field of a translated row of this run's `kind`, as checked lists of messages;
    raises BadRow (see the module docstring for which rows are bad)."""
    row_kind = translated_kind(row)
    if row_kind != kind:
        raise BadRow(f"a {KIND_NAMES[row_kind]} row in a run of {KIND_NAMES[kind]} rows; check it in a separate run")
    fields = {}
    for field, src_field in SFT_FIELDS if kind == "sft" else PREFERENCE_PAIRS:
        for name in (field, src_field):
            if row.get(name) is None:
                if name == src_field and row.get("lang") not in (None, lang):
                    raise BadRow(f"a source-language row (lang={row['lang']}, as --parallel writes them): nothing to check")
                raise BadRow(f"no {name!r} field")
            messages = message_list(row[name], name) if kind == "sft" else preference_messages(row[name], name)
            fields[name] = not_empty(messages, name)
    return fields


def check_row(row: dict, lang: str, config: dict, lid, kind: str = "sft") -> tuple[dict, list[tuple[str, str]], dict]:
    """({field: messages, texts cleaned}, [(reason, detail)] in the order of REASONS, qc summary);
    raises BadRow."""
    fields = row_messages(row, kind, lang)
    failures: list[Failure] = []
    summary = {"messages_checked": 0, "artifacts_removed": 0, "min_lang_score": None, "min_length_ratio": None, "max_length_ratio": None}
    for field, src_field in SFT_FIELDS if kind == "sft" else PREFERENCE_PAIRS:
        target, source = fields[field], fields[src_field]
        if len(target) != len(source):
            failures.append(Failure("structure", f"{field}: {len(target)} messages, {len(source)} in {src_field}"))
            continue
        for i, (message, src) in enumerate(zip(target, source)):
            where = field if isinstance(row[field], str) else f"{field}[{i}]"
            if message["role"] != src["role"]:
                failures.append(Failure("structure", f"{where}: role {message['role']!r} != {src['role']!r}"))
                continue
            result = check_translation(src["content"], message["content"], lang, config, lid)
            message["content"] = result.text
            summary["messages_checked"] += 1
            fold_metrics(summary, result.metrics)
            failures.extend(Failure(f.reason, f"{where}: {f.detail}") for f in result.failures)
    return fields, [(f.reason, f.detail) for f in in_order(failures, REASONS)], summary


def kept_schema(kind: str):
    return schemas.QC_PREFERENCE if kind == "preference" else schemas.QC_SFT


def kept_row(row: dict, fields: dict[str, list[dict]], schema, row_id: str, lang: str, summary: dict) -> dict:
    """A kept row in the run's schema; whatever of the input has no column of its own goes to `extra`."""
    out = {"id": row_id, **fields, "qc": summary}
    extra = {}
    for name, value in row.items():
        if name in fields:
            for i, message in enumerate(value if isinstance(value, list) else []):
                others = {k: v for k, v in message.items() if k not in ("role", "content")}
                if others:  # e.g. a message's "name" or "weight"
                    extra[f"{name}[{i}]"] = others
        elif name == "id" and str(value) == row_id:
            continue
        elif name in schema.names and name not in ("id", "qc", "extra") and (value is None or isinstance(value, str)):
            out[name] = value
        else:
            extra[name] = value
    out["lang"] = out.get("lang") or lang
    out["extra"] = json.dumps(extra, ensure_ascii=False, default=str) if extra else None
    return out


class CheckTranslations(PipelineStep):
    """Checks every row (see `check_row`) and records the outcome in `metadata["qc_result"]`:
    ("data", kept row) or ("excluded", row with reason and detail); `metadata["shard"]` names the
    row's output file (its input file, and the task when there are several)."""

    name = "🔎 Check translations"
    type = "🔎 - QC"

    def __init__(self, lang: str, config: dict, shard_names: dict[str, str], kind: str = "sft"):
        super().__init__()
        self.lang, self.config, self.shard_names, self.kind = lang, config, shard_names, kind
        self.schema = kept_schema(kind)
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

        def excluded(reason: str, detail: str) -> tuple[str, dict]:
            raw = json.dumps(row, ensure_ascii=False, default=str) if row is not None else meta.get("raw")
            return "excluded", {"id": row_id, "reason": reason, "detail": detail, "source": where, "row": raw, "lang": self.lang}

        if row is None:
            return excluded("bad_row", meta["bad_row"])
        try:
            fields, failures, summary = check_row(row, self.lang, self.config, self.lid, self.kind)
        except BadRow as err:
            return excluded("bad_row", f"{row_id}: {err}")
        self.stat_update("messages_checked", value=summary["messages_checked"])
        if failures:
            for reason in {reason for reason, _ in failures}:
                self.stat_update(f"failed_{reason}")
            return excluded(failures[0][0], "; ".join(d for _, d in failures))
        if summary["artifacts_removed"]:
            self.stat_update("kept_with_artifacts_removed")
        return "data", kept_row(row, fields, self.schema, row_id, self.lang, summary)

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
    return {"lang": job.lang, "kind": job.kind, "inputs": job.files, "tasks": job.tasks, "executor": job.executor, "config": job.config}


def build_executors(job: QCJob) -> list[tuple[str, object]]:
    from langmill.executors import chained_executors

    check = [
        RowReader(job.files),
        CheckTranslations(job.lang, job.config, shard_names(job.files), job.kind),
        RowShards(job.out, qc_rows, {"data": kept_schema(job.kind), "excluded": schemas.QC_EXCLUDED},
                  output_filename="${shard}", close_on_new_name=True),
    ]
    report = WriteReport(job.out, "qc", QC_REASONS, STAGES[:1], f"langmill qc report (→ {job.lang})", job_info(job), extra=qc_report,
                         schemas={"data": kept_schema(job.kind), "excluded": schemas.QC_EXCLUDED})
    return chained_executors(job, [("check", check, job.tasks), ("report", [report], 1)])


def run_qc(job: QCJob) -> None:
    from langmill.executors import run_stages

    os.makedirs(job.out, exist_ok=True)
    run_stages(job.executor, build_executors(job), verbose=job.verbose)
