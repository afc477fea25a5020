"""The corpus stage: raw text -> clean, deduplicated target-language Parquet shards.

Five datatrove pipelines run one after another (each resumes on rerun: finished tasks are skipped
and a rerun task overwrites its own files, so the output never holds a row twice):

  filter   (N tasks)  read -> unreadable rows -> normalise -> language ID -> Gopher repetition -> Gopher
                      quality -> C4 -> FineWeb quality -> PII masking -> MinHash keys
                      -> OUT/work/staged/<task>.parquet (every drop -> OUT/excluded/<reason>-<task>.parquet)
                      + the keys, partitioned into K buckets -> OUT/dedup/keys/<bucket>/<task>.parquet
  buckets  (K tasks)  bucket b's keys (and those of every --dedup-against corpus) -> duplicate edges
  clusters (1 task)   union-find over the edges -> keep/drop decisions per staged shard
  apply    (N tasks)  staged shard -> OUT/data/<task>.parquet + OUT/excluded/dedup-<task>.parquet
  report   (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)

K (`--dedup-tasks`) bounds the memory of a buckets task to about 1/K of the keys; the clusters
task holds only the documents that have a duplicate (filters/dedup_index.py).
"""

import glob
import os
import json
import math
from dataclasses import asdict, dataclass, field

import polars as pl

from langmill import schemas
from langmill.config import CorpusSettings
from langmill.filters.base import DropBadRows
from langmill.filters.dedup import ApplyDedup, MinhashSignatures
from langmill.filters.dedup_index import BucketEdges, ClusterEdges, DedupIndex, DedupKeys, dedup_settings
from langmill.filters.lid import LanguageFilter
from langmill.filters.normalize import Normalizer
from langmill.filters.pii import PIIMasker
from langmill.filters.quality import QUALITY_FILTERS, build_quality_filters
from langmill.languages import canonical_lang
from langmill.readers import InputReader
from langmill.report import bars, html_table
from langmill.run import Accounting, RunFolder, StageReport, WriteReport, stat_total, step_stats
from langmill.shards import excluded_writer, staged_writer

STAGES = ("filter", "buckets", "clusters", "apply", "report")
# Input bytes per buckets task when --dedup-tasks is not given: a buckets task then holds the keys
# of about that much input (bench/scale.md measures the memory per task).
INPUT_BYTES_PER_DEDUP_TASK = 4_000_000_000


def default_dedup_tasks(input_bytes: int) -> int:
    return max(1, math.ceil(input_bytes / INPUT_BYTES_PER_DEDUP_TASK))
# Where each reason is decided, in pipeline order (the funnel of the report).
REASONS = ("bad_row", "empty", "lid", *(f.reason for f in QUALITY_FILTERS), "exact_dup", "near_dup")
LENGTH_BINS = [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000]


@dataclass
class CorpusJob:
    """Everything one `langmill corpus` run needs; built by the CLI, usable from Python."""

    files: list[str]
    lang: str
    out: str
    settings: CorpusSettings
    text_key: str = "text"
    id_key: str = "id"
    split: str = "document"
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    verbose: bool = False
    # Fork filter and buckets workers straight from this process: they start at once, without
    # re-importing every module. Safe for the CLI, whose process does no polars/arrow work itself
    # before those stages (their steps run in the workers); a program that runs polars in other
    # threads at the same time should keep datatrove's forkserver (False).
    fork_workers: bool = False
    profile: str | None = None  # the settings profile the run used ("fineweb2 (fin_Latn)"), named in stats.json
    dedup_tasks: int = 1  # K: buckets the dedup keys are partitioned into, one buckets task each
    dedup_against: list[str] = field(default_factory=list)  # earlier corpora, oldest first (dedup_index.resolve_previous)

    def __post_init__(self):
        self.lang = canonical_lang(self.lang)
        self.out = os.path.abspath(self.out)

    @property
    def work_dir(self) -> str:
        return os.path.join(self.out, "work")

    @property
    def dedup_index(self) -> DedupIndex:
        return DedupIndex(self.out, dedup_settings(self.settings.dedup), self.dedup_tasks, self.dedup_against)


def filter_pipeline(job: CorpusJob) -> list:
    s = job.settings
    excluded = lambda reason: excluded_writer(job.out, reason)  # noqa: E731
    return [
        InputReader(job.files, text_key=job.text_key, id_key=job.id_key, split=job.split),
        DropBadRows(exclusion_writer=excluded("bad_row")),
        Normalizer({"fix_mojibake": s.normalize.fix_mojibake}, exclusion_writer=excluded("empty")),
        LanguageFilter.from_settings(job.lang, s.lid, exclusion_writer=excluded("lid")),
        *build_quality_filters(s.quality, exclusion_writer=excluded),
        PIIMasker(email=s.pii.email, ip=s.pii.ip),
        MinhashSignatures(num_perm=s.dedup.num_perm, ngram=s.dedup.ngram, bands=s.dedup.bands, rows=s.dedup.rows, seed=s.dedup.seed),
        DedupKeys(job.dedup_index.keys_dir, buckets=job.dedup_tasks, min_words=s.dedup.min_words),
        staged_writer(os.path.join(job.work_dir, "staged")),
    ]


def stage_pipelines(job: CorpusJob) -> dict[str, tuple[list, int]]:
    """Each stage's pipeline and task count."""
    staged = os.path.join(job.work_dir, "staged")
    edges, decisions = os.path.join(job.work_dir, "dedup", "edges"), os.path.join(job.work_dir, "dedup", "decisions")
    return {
        "filter": (filter_pipeline(job), job.tasks),
        "buckets": ([BucketEdges(job.dedup_index.keys_dir, edges, job.dedup_tasks, job.dedup_against)], job.dedup_tasks),
        "clusters": ([ClusterEdges(edges, staged, decisions, job.dedup_against)], 1),
        "apply": ([ApplyDedup(staged, decisions, job.out, length_bins=LENGTH_BINS)], job.tasks),
        "report": ([WriteReport(job.out, "corpus", REASONS, STAGES, f"langmill corpus report — {job.lang}", job_info(job), extra=corpus_report,
                                schemas={"data": schemas.CORPUS, "excluded": schemas.EXCLUDED})], 1),
    }


def job_info(job: CorpusJob) -> dict:
    profile = {"profile": job.profile} if job.profile else {}
    return {"lang": job.lang, **profile, "inputs": len(job.files), "tasks": job.tasks, "dedup_tasks": job.dedup_tasks,
            **({"dedup_against": job.dedup_against} if job.dedup_against else {}), "workers": job.workers, "executor": job.executor}


# --- report ------------------------------------------------------------------------------------------


def _columns(folder: str, schema, columns: list[str]) -> pl.DataFrame:
    """`columns` (never the text) of every shard in `folder`."""
    paths = sorted(glob.glob(os.path.join(folder, "*.parquet")))
    return pl.concat([pl.from_arrow(schema.empty_table().select(columns))] + [pl.read_parquet(p, columns=columns) for p in paths], how="vertical_relaxed")


def _dedup_summary(out: str) -> dict:
    """What the clusters task counted (dedup_index.ClusterEdges): buckets, documents with a
    duplicate, duplicates of earlier corpora."""
    with open(os.path.join(out, "work", "dedup", "decisions", "summary.json")) as f:
        summary = json.load(f)
    return {"buckets": summary["buckets"], "documents_with_duplicates": summary["nodes"],
            **{k: summary[k] for k in ("previous", "dup_of_previous", "previous_kept_now_joined")}}


def corpus_report(run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    """What only the corpus knows: the funnel, languages seen, lengths, PII, foreign and C4 lines, clusters."""
    # Lengths come from the apply tasks' stats (they had the texts in memory): the report reads no text.
    kept = _columns(run.data, schemas.CORPUS, ["lang", "minhash_cluster_size"])
    excluded = _columns(run.excluded, schemas.EXCLUDED, ["lang"])
    applied = step_stats(steps["apply"], "Apply dedup")
    funnel, remaining = [], counts.rows_in
    for reason, dropped in counts.excluded_by_reason.items():
        funnel.append({"step": reason, "in": remaining, "dropped": dropped, "out": remaining - dropped})
        remaining -= dropped
    # Languages of every document that reached language ID (kept rows and rows dropped after it).
    seen = pl.concat([kept.select("lang"), excluded.select("lang")]).drop_nulls()
    languages = dict(sorted(seen.group_by("lang").len().iter_rows(), key=lambda kv: -kv[1]))
    hist = [int(stat_total(applied.get(f"chars_bin_{lo}", 0))) for lo in LENGTH_BINS]
    clusters = kept.filter(pl.col("minhash_cluster_size") > 1)
    filters = steps["filter"]
    reader, pii, c4 = step_stats(filters, "READER"), step_stats(filters, "PII"), step_stats(filters, "c4")
    lid = step_stats(filters, "Language ID")
    stats = {
        "funnel": funnel,
        "chars_in": int(reader.get("doc_len", 0)),
        "kept_chars": int(stat_total(applied.get("kept_chars", 0))),
        "kept_bytes_utf8": int(stat_total(applied.get("kept_bytes", 0))),
        "languages_seen": languages,
        "pii_masked": {"email": int(pii.get("pii_email", 0)), "ip": int(pii.get("pii_ip", 0))},
        "c4_lines_removed": int(c4.get("lines_removed", 0)),
        # Lines in other languages, in documents language ID kept (lid.foreign_lines drop or mark).
        "lid_foreign_lines": {k: int(lid.get(k, 0)) for k in ("lines_dropped", "chars_dropped", "lines_marked", "chars_marked")},
        "dedup": {
            "clusters": clusters.height,
            "largest_cluster": int(clusters.get_column("minhash_cluster_size").max()) if clusters.height else 1,
            **_dedup_summary(run.path),
        },
        "length_histogram": {"bin_edges_chars": LENGTH_BINS, "kept": hist},
    }
    summary = [
        ["characters in / kept", f"{stats['chars_in']:,} / {stats['kept_chars']:,}"],
        ["e-mail / IP addresses masked", f"{stats['pii_masked']['email']:,} / {stats['pii_masked']['ip']:,}"],
        ["lines in other languages dropped / marked", "{lines_dropped:,} / {lines_marked:,}".format(**stats["lid_foreign_lines"])],
        ["C4 lines removed", stats["c4_lines_removed"]],
        ["duplicate clusters kept (largest)", f"{stats['dedup']['clusters']:,} ({stats['dedup']['largest_cluster']})"],
    ]
    against = stats["dedup"].get("previous") or []
    if against:
        summary.append([f"duplicates of {len(against)} earlier corpus(es) dropped", f"{stats['dedup']['dup_of_previous']:,}"])
        summary.append(["earlier kept documents a run over everything would drop", f"{stats['dedup']['previous_kept_now_joined']:,}"])
    hist_labels = [f"{lo:,}–{hi:,}" for lo, hi in zip(LENGTH_BINS, LENGTH_BINS[1:])] + [f"≥ {LENGTH_BINS[-1]:,}"]
    sections = [
        ("Rows per step", html_table(["step", "rows in", "dropped", "rows out"], [[f["step"], f["in"], f["dropped"], f["out"]] for f in funnel])),
        ("Languages seen by language ID", bars(list(languages.items())[:25])),
        ("Length of kept documents (characters)", bars(list(zip(hist_labels, hist)), "#3ba55d")),
    ]
    return StageReport(stats, summary, sections)


def build_executors(job: CorpusJob) -> list:
    """One datatrove executor per stage, each depending on the previous one."""
    from langmill.executors import make_executor

    executors = []
    for stage, (pipeline, tasks) in stage_pipelines(job).items():
        # Only filter and buckets are worth worker processes: `apply` is a few polars calls per
        # shard, which use every core by themselves.
        workers = min(job.workers, tasks) if stage in ("filter", "buckets") or job.executor != "local" else 1
        start = "fork" if job.fork_workers and stage in ("filter", "buckets") else "forkserver"
        executors.append(make_executor(
            job.executor, pipeline, stage=stage, tasks=tasks, workers=workers, depends=executors[-1] if executors else None,
            logging_dir=os.path.join(job.out, "logs", stage), options=asdict(job.settings.executor), verbose=job.verbose,
            start_method=start,
        ))
    return executors


def run_corpus(job: CorpusJob) -> None:
    """Run every stage; with local execution this returns when the output is complete."""
    os.makedirs(job.out, exist_ok=True)
    job.dedup_index.write()  # before any key is written: how they are made, for --dedup-against OUT later
    if job.workers > 1 and job.executor == "local":
        # Worker processes already use every core; Rust threads inside them would only compete.
        os.environ.setdefault("LANGMILL_THREADS", "1")
    from langmill.executors import run_stages

    run_stages(job.executor, list(zip(STAGES, build_executors(job))), verbose=job.verbose)
