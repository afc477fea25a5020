"""The output folder of every stage, and the one module that owns it.

    OUT/data/*.parquet       kept rows
    OUT/excluded/*.parquet   every dropped row, with `reason` and `detail`
    OUT/stats.json           counted from the written shards: rows in = kept + excluded, or the run fails
    OUT/report.html          the same, readable (rendered by `langmill.report`)
    OUT/logs/job.json        the run's settings: a rerun with the same settings resumes
    OUT/logs/<stage>/        datatrove's task logs, stats and completion markers of each stage

A stage's command calls `RunFolder.start` before any work, ends its pipeline with the single-task
`WriteReport` step, and prints `summary_lines` at the end. Nothing else writes stats.json or
report.html, and nothing else decides whether a folder may be resumed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep

EXAMPLES_PER_REASON = 3
NEAR_THRESHOLD_PER_RULE = 3
# A detail that names a statistic, its value and the threshold it crossed: "mean_word_length=1.9<3"
_THRESHOLD_DETAIL = re.compile(r"([A-Za-z_][\w.]*)=(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)([<>]=?)(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(?:$|[;(,])")
DETAIL_CHARS = 400  # of an example's detail in stats.json and report.html


class RunError(Exception):
    """An output folder that cannot be used, or a run that did not add up; the message is one line."""


def shard_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.parquet")))


def ordered_reasons(counts: dict[str, int], order: Sequence[str]) -> dict[str, int]:
    """`counts` in the stage's order of reasons (where each is decided); unknown ones last, by name."""
    known = [r for r in order if r in counts]
    return {r: counts[r] for r in known + sorted(set(counts) - set(order))}


def changed_inputs(previous: dict, current: dict) -> list[str]:
    """Inputs of the same run whose content changed (`files` holds [path, fingerprint] pairs)."""
    def by_path(job: dict) -> dict:
        return {f[0]: f[1] for f in job.get("files", []) if isinstance(f, list) and len(f) == 2}

    before, now = by_path(previous), by_path(current)
    same_settings = {k: v for k, v in previous.items() if k != "files"} == {k: v for k, v in current.items() if k != "files"}
    return [path for path in now if path in before and before[path] != now[path]] if same_settings else []


@dataclass
class RunFolder:
    """The output folder of one run of one stage."""

    path: str

    def __post_init__(self):
        self.path = os.path.abspath(self.path)

    @property
    def data(self) -> str:
        return os.path.join(self.path, "data")

    @property
    def excluded(self) -> str:
        return os.path.join(self.path, "excluded")

    @property
    def logs(self) -> str:
        return os.path.join(self.path, "logs")

    def stage_logs(self, stage: str) -> str:
        return os.path.join(self.logs, stage)

    @property
    def job_file(self) -> str:
        return os.path.join(self.logs, "job.json")

    def start(self, fingerprint: dict, *, overwrite: bool = False, replace_other_settings: bool = False) -> bool:
        """Record the run's settings in logs/job.json; return whether a run is resumed.

        The same settings resume the run found there; other settings are refused (or, with
        `replace_other_settings`, for stages that are cheap to redo, start afresh); `overwrite`
        deletes OUT first, but only when it is a langmill output folder."""
        fingerprint = json.loads(json.dumps(fingerprint))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunError(f"{self.path}: exists and is not a folder; use another --out")
        ours = os.path.exists(self.job_file)
        if os.path.isdir(self.path) and os.listdir(self.path) and not ours:
            if overwrite:
                raise RunError(f"{self.path} is not a langmill output folder; refusing to delete it with --overwrite")
            raise RunError(f"{self.path} exists and is not a langmill run of this command; use another --out")
        if ours:
            with open(self.job_file) as f:
                previous = json.load(f)
            if previous.get("command") != fingerprint.get("command") and not overwrite:
                raise RunError(f"{self.path} holds a langmill {previous.get('command')} run; use another --out")
            if overwrite or (previous != fingerprint and replace_other_settings):
                shutil.rmtree(self.path)
            elif previous != fingerprint:
                changed = changed_inputs(previous, fingerprint)
                if changed:
                    raise RunError(f"{changed[0]} changed since the run in {self.path} started; rerun with --overwrite to start over")
                raise RunError(f"{self.path} holds a run with other inputs or settings; use another --out, or --overwrite")
            else:
                self._record_command()
                return True
        try:
            os.makedirs(self.logs, exist_ok=True)
        except OSError as err:  # a path under a regular file, a read-only disk, ...
            raise RunError(f"{self.path}: cannot be used as the output folder ({err.strerror})") from None
        tmp = f"{self.job_file}.tmp"
        with open(tmp, "w") as f:
            json.dump(fingerprint, f, indent=1)
        os.replace(tmp, self.job_file)
        self._record_command()
        return False

    def _record_command(self) -> None:
        """logs/commands.jsonl: every command line that worked on this folder (the first made it,
        later ones resumed it), for the dataset card; kept apart from job.json, which decides resuming."""
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": ["langmill", *sys.argv[1:]]}
        with open(os.path.join(self.logs, "commands.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    # --- counting what users will load --------------------------------------------------------------

    def count(self, rows_in: int, reasons: Sequence[str], not_kept: int = 0) -> Accounting:
        """Kept and excluded rows as read from the shards themselves, reasons in the stage's order.
        `not_kept`: rows in data/ that are not results of input rows (translate --parallel)."""
        kept = sum(pq.read_metadata(p).num_rows for p in shard_files(self.data)) - not_kept
        by_reason: Counter = Counter()
        for path in shard_files(self.excluded):
            by_reason.update(pq.read_table(path, columns=["reason"]).column("reason").to_pylist())
        by_reason = ordered_reasons(by_reason, reasons)
        return Accounting(rows_in, kept, sum(by_reason.values()), by_reason, self.examples(EXAMPLES_PER_REASON))

    def examples(self, per_reason: int) -> dict[str, list[dict]]:
        """The first `per_reason` excluded rows of each reason: id, detail and the start of the row
        (its first message, for rows stored as JSON), both cut at a word boundary."""
        from langmill.report import clip, readable_start

        found: dict[str, list[dict]] = {}
        for path in shard_files(self.excluded):
            parquet = pq.ParquetFile(path)
            names = parquet.schema_arrow.names
            shown = next((c for c in ("text", "row", "raw") if c in names), None)
            columns = ["id", "reason", "detail"] + ([shown] if shown else [])
            for batch in parquet.iter_batches(batch_size=256, columns=columns):
                taken = False
                for row in batch.to_pylist():
                    bucket = found.setdefault(row["reason"], [])
                    if len(bucket) < per_reason:
                        text = readable_start(row.get(shown), is_json=shown != "text")
                        bucket.append({"id": row["id"], "detail": clip(row["detail"] or "", DETAIL_CHARS), "text": text})
                        taken = True
                if not taken:
                    break  # this file's reasons are full; the rest of it adds nothing
        return found

    def near_threshold(self, per_rule: int = NEAR_THRESHOLD_PER_RULE) -> dict[str, list[dict]]:
        """For each rule whose details read "<stat>=<value><op><threshold>" (the quality filters',
        QC's), the excluded rows closest to its threshold: what a user looks at to tune it.
        {"reason: stat": [{id, detail, value, threshold, text}]}, nearest first (relative distance)."""
        import heapq

        import pyarrow.dataset as ds
        from langmill.report import clip, readable_start

        nearest: dict[str, list] = {}  # rule -> heap of (-distance, path, row, id, detail, value, limit)
        for path in shard_files(self.excluded):
            offset = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["id", "reason", "detail"]):
                for i, (row_id, reason, detail) in enumerate(zip(*(batch.column(c).to_pylist() for c in ("id", "reason", "detail")))):
                    match = _THRESHOLD_DETAIL.match(detail or "")
                    if not match:
                        continue
                    stat, value, limit = match.group(1), float(match.group(2)), float(match.group(4))
                    entry = (-abs(value - limit) / max(abs(limit), 1e-9), path, offset + i, row_id, detail, value, limit)
                    heap = nearest.setdefault(f"{reason}: {stat}", [])
                    (heapq.heappush if len(heap) < per_rule else heapq.heappushpop)(heap, entry)
                offset += batch.num_rows
        found: dict[str, list[dict]] = {}
        for rule, heap in sorted(nearest.items()):
            for _, path, row, row_id, detail, value, limit in sorted(heap, reverse=True):
                names = pq.read_schema(path).names
                shown = next((c for c in ("text", "row", "raw") if c in names), None)
                text = ds.dataset(path).take([row], columns=[shown]).column(0)[0].as_py() if shown else None  # only the pages holding it
                found.setdefault(rule, []).append({"id": row_id, "detail": clip(detail, DETAIL_CHARS), "value": value, "threshold": limit,
                                                   "text": readable_start(text, is_json=shown != "text")})
        return found

    def duplicate_ids(self, examples: int = 5) -> dict:
        """Kept rows whose id another kept row has too (per language, so that the source rows of
        translate --parallel do not count): {"rows": n, "examples": [id, ...]}."""
        seen: Counter = Counter()
        for path in shard_files(self.data):
            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[c for c in ("id", "lang") if c in names])
            langs = table.column("lang").to_pylist() if "lang" in names else [None] * table.num_rows
            seen.update(zip(table.column("id").to_pylist(), langs))
        repeated = {key: n for key, n in seen.items() if n > 1}
        return {"rows": sum(n - 1 for n in repeated.values()), "examples": [str(key[0]) for key in list(repeated)[:examples]]}

    def write_empty_shards(self, schemas: dict[str, object]) -> None:
        """A 0-row shard with the stage's schema in data/ or excluded/ when nothing was written there,
        so that loading `OUT/data/*.parquet` works (and gives no rows) whatever the run kept."""
        import pyarrow as pa

        for folder, schema in schemas.items():
            path = getattr(self, folder)
            if schema is None or shard_files(path):
                continue
            os.makedirs(path, exist_ok=True)
            tmp = os.path.join(path, ".empty.parquet.tmp")
            pq.write_table(pa.Table.from_pylist([], schema=schema), tmp)
            os.replace(tmp, os.path.join(path, "empty.parquet"))

    def write_report(self, stats: dict, html: str) -> None:
        for name, content in (("stats.json", json.dumps(stats, indent=1, ensure_ascii=False)), ("report.html", html)):
            tmp = os.path.join(self.path, f".{name}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(content)
            os.replace(tmp, os.path.join(self.path, name))

    def read_stats(self) -> dict:
        path = os.path.join(self.path, "stats.json")
        if not os.path.exists(path):
            raise RunError(f"the run did not finish (no {path}); see {self.logs}")
        with open(path) as f:
            return json.load(f)


@dataclass
class Accounting:
    rows_in: int
    kept: int
    excluded: int
    excluded_by_reason: dict[str, int]
    excluded_examples: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.kept + self.excluded

    def as_stats(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "kept": self.kept,
            "excluded": self.excluded,
            "rows_in_equals_kept_plus_excluded": self.balanced,
            "excluded_by_reason": self.excluded_by_reason,
        }


# --- datatrove's per-task stats ----------------------------------------------------------------------


def stat_total(value) -> float:
    return value.get("total", 0) if isinstance(value, dict) else value


def task_stats(logging_dir: str) -> dict[str, dict]:
    """Sum datatrove's per-task stats files of a stage: {step name: {"time_s": float, stat: total}}."""
    merged: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(logging_dir, "stats", "*.json"))):
        with open(path) as f:
            for step in json.load(f):
                entry = merged.setdefault(step["name"], {"time_s": 0.0})
                entry["time_s"] += stat_total(step.get("time_stats", {}))
                for key, value in step.get("stats", {}).items():
                    entry[key] = entry.get(key, 0) + stat_total(value)
    return merged


def step_stats(steps: dict[str, dict], name_part: str) -> dict:
    """The stats of the step whose name contains `name_part` (case-insensitive), or {}."""
    return next((v for k, v in steps.items() if name_part.lower() in k.lower()), {})


def _plain_step_name(name: str) -> str:
    """"🔻 - FILTER: 🌍 Language ID" -> "Language ID" (emoji render as boxes in many fonts)."""
    name = name.split(": ", 1)[-1]
    return "".join(ch for ch in name if ord(ch) < 0x2000 or ch.isalnum()).strip()


# --- the report stage ---------------------------------------------------------------------------------


@dataclass
class StageReport:
    """What one stage adds to the common stats and report: more stats, summary rows, HTML sections."""

    stats: dict = field(default_factory=dict)
    summary: list[list] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, HTML)


class WriteReport(PipelineStep):
    """The last, single-task stage of every command: OUT/stats.json and OUT/report.html, counted
    from the written shards.

    Args:
        out: the output folder.
        stage: the command ("corpus", "translate", ...), the `stage` of stats.json.
        reasons: the stage's drop reasons in the order they are decided.
        stages: the names of the stage's pipelines, whose logs hold datatrove's per-task stats.
        title: the report's heading.
        job_info: what the run was asked to do (languages, model, tasks, ...), shown as is.
        extra: `extra(run, accounting, steps) -> StageReport` for what only this stage knows;
            `steps` is {pipeline name: task_stats}. A module-level function (it is pickled).
        not_kept: `not_kept(run) -> int`, rows of data/ that are not kept input rows.
        schemas: {"data": schema, "excluded": schema}: written as a 0-row shard where a folder got none.
    """

    name = "📊 Report"
    type = "📊 - STATS"

    def __init__(self, out: str, stage: str, reasons: Sequence[str], stages: Sequence[str], title: str, job_info: dict,
                 extra: Callable | None = None, not_kept: Callable | None = None, schemas: dict | None = None):
        super().__init__()
        self.out, self.stage, self.reasons, self.stages = out, stage, tuple(reasons), tuple(stages)
        self.title, self.job_info, self.extra, self.not_kept = title, job_info, extra, not_kept
        self.schemas = dict(schemas or {})

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from langmill.report import render_report

        run = RunFolder(self.out)
        run.write_empty_shards(self.schemas)
        steps = {stage: task_stats(run.stage_logs(stage)) for stage in self.stages}
        # Rows in: what the first stage's reader read (every reader counts `rows_in`).
        reader = next((v for v in steps[self.stages[0]].values() if "rows_in" in v), {})
        accounting = run.count(int(reader.get("rows_in", 0)), self.reasons, self.not_kept(run) if self.not_kept else 0)
        extra = self.extra(run, accounting, steps) if self.extra else StageReport()
        timings = {f"{stage}: {_plain_step_name(name)}": round(entry["time_s"], 3)
                   for stage, stage_steps in steps.items() for name, entry in stage_steps.items()}
        stats = {
            "stage": self.stage,
            **self.job_info,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **accounting.as_stats(),
            **extra.stats,
            "duplicate_ids": run.duplicate_ids(),
            "excluded_examples": accounting.excluded_examples,
            "near_threshold": run.near_threshold(),
            "step_time_s": timings,
        }
        run.write_report(stats, render_report(self.title, stats, extra.summary, extra.sections))
        return
        yield  # a generator, as datatrove expects from a step


def summary_lines(run: RunFolder, seconds: float, extra: Callable[[dict], str] | None = None) -> list[str]:
    """What the terminal shows when a command has finished (`extra(stats)` adds to the time line);
    raises RunError when rows in != kept + excluded (stats.json is written all the same, to look at)."""
    stats = run.read_stats()
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats["excluded_by_reason"].items()) or "none"
    lines = [
        f"rows in {stats['rows_in']:,} | kept {stats['kept']:,} | excluded {stats['excluded']:,} ({reasons})",
        f"time {seconds:.1f} s{extra(stats) if extra else ''}",
        f"shards:   {run.data}/",
        f"excluded: {run.excluded}/",
        f"report:   {os.path.join(run.path, 'report.html')}",
    ]
    duplicates = stats.get("duplicate_ids") or {}
    if duplicates.get("rows"):
        shown = ", ".join(repr(i) for i in duplicates["examples"][:3])
        lines.append(f"warning: {duplicates['rows']:,} kept row(s) repeat the id of another kept row (e.g. {shown}); ids are not unique")
    if not stats["rows_in_equals_kept_plus_excluded"]:
        raise RunError(f"rows in ({stats['rows_in']:,}) != kept + excluded ({stats['kept']:,} + {stats['excluded']:,}); see {run.path}/stats.json")
    return lines
