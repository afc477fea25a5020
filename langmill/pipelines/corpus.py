"""The corpus stage: raw text -> clean, deduplicated target-language Parquet shards.

Four datatrove pipelines run one after another (each resumes on rerun: finished tasks are skipped
and a rerun task overwrites its own files, so the output never holds a row twice):

  filter  (N tasks)  read -> normalise -> language ID -> Gopher repetition -> Gopher quality -> C4
                     -> FineWeb quality -> PII masking -> MinHash keys -> OUT/work/staged/<task>.parquet
  dedup   (1 task)   exact + near-duplicate decisions over every staged shard
  apply   (N tasks)  staged shard -> OUT/data/<task>.parquet + OUT/excluded/dedup-<task>.parquet
  report  (1 task)   OUT/stats.json + OUT/report.html
"""

import os
from dataclasses import dataclass


from langmill.filters.dedup import ApplyDedup, DedupClusters, MinhashSignatures
from langmill.filters.lid import LanguageFilter, canonical_lang
from langmill.filters.normalize import Normalizer
from langmill.filters.pii import PIIMasker
from langmill.filters.quality import C4Filter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from langmill.readers import InputReader
from langmill.report import WriteReport
from langmill.shards import excluded_writer, staged_writer

QUALITY_STEPS = (
    ("gopher_repetition", GopherRepetitionFilter),
    ("gopher_quality", GopherQualityFilter),
    ("c4", C4Filter),
    ("fineweb_quality", FineWebQualityFilter),
)
STAGES = ("filter", "dedup", "apply", "report")


@dataclass
class CorpusJob:
    """Everything one `langmill corpus` run needs; built by the CLI, usable from Python."""

    files: list[str]
    lang: str
    out: str
    config: dict
    text_key: str = "text"
    id_key: str = "id"
    split: str = "document"
    tasks: int = 1
    workers: int = 1
    executor: str = "local"
    verbose: bool = False
    # Fork filter workers straight from this process: they start at once, without re-importing
    # every module. Safe for the CLI, whose process has done no polars/arrow work before the
    # filter stage (the filter steps use neither polars nor arrow's thread pool); a program that
    # runs polars in other threads at the same time should keep datatrove's forkserver (False).
    fork_workers: bool = False

    def __post_init__(self):
        self.lang = canonical_lang(self.lang)
        self.out = os.path.abspath(self.out)

    @property
    def work_dir(self) -> str:
        return os.path.join(self.out, "work")


def filter_pipeline(job: CorpusJob) -> list:
    cfg = job.config
    lid = cfg["lid"]
    dedup = cfg["dedup"]
    steps = [
        InputReader(job.files, text_key=job.text_key, id_key=job.id_key, split=job.split, exclusion_writer=excluded_writer(job.out, "bad_row")),
        Normalizer(cfg.get("normalize"), exclusion_writer=excluded_writer(job.out, "empty")),
        LanguageFilter(job.lang, threshold=lid["threshold"], model_path=lid.get("model"), max_chars=lid["max_chars"], exclusion_writer=excluded_writer(job.out, "lid")),
    ]
    for name, cls in QUALITY_STEPS:
        if cfg[name].get("enabled", True):
            steps.append(cls(config=cfg[name], exclusion_writer=excluded_writer(job.out, name)))
    steps += [
        PIIMasker(email=cfg["pii"]["email"], ip=cfg["pii"]["ip"]),
        MinhashSignatures(num_perm=dedup["num_perm"], ngram=dedup["ngram"], bands=dedup["bands"], rows=dedup["rows"], seed=dedup["seed"]),
        staged_writer(os.path.join(job.work_dir, "staged")),
    ]
    return steps


def stage_pipelines(job: CorpusJob) -> dict[str, tuple[list, int]]:
    """Each stage's pipeline and task count."""
    staged = os.path.join(job.work_dir, "staged")
    decisions = os.path.join(job.work_dir, "dedup")
    return {
        "filter": (filter_pipeline(job), job.tasks),
        "dedup": ([DedupClusters(staged, decisions, min_words=job.config["dedup"]["min_words"])], 1),
        "apply": ([ApplyDedup(staged, decisions, job.out)], job.tasks),
        "report": ([WriteReport(job.out, job.lang, STAGES, job_info=job_summary(job))], 1),
    }


def job_summary(job: CorpusJob) -> dict:
    return {"lang": job.lang, "inputs": len(job.files), "tasks": job.tasks, "workers": job.workers, "executor": job.executor}


def build_executors(job: CorpusJob) -> list:
    """One datatrove executor per stage, each depending on the previous one."""
    from langmill.executors import make_executor

    executors = []
    for stage, (pipeline, tasks) in stage_pipelines(job).items():
        # Only the filter stage is worth worker processes: `apply` is a few polars calls per
        # shard, which use every core by themselves.
        workers = min(job.workers, tasks) if stage == "filter" or job.executor != "local" else 1
        start = "fork" if job.fork_workers and stage == "filter" else "forkserver"
        executors.append(make_executor(
            job.executor, pipeline, stage=stage, tasks=tasks, workers=workers, depends=executors[-1] if executors else None,
            logging_dir=os.path.join(job.out, "logs", stage), options=job.config["executor"], verbose=job.verbose,
            start_method=start,
        ))
    return executors


def run_corpus(job: CorpusJob) -> None:
    """Run every stage; with local execution this returns when the output is complete."""
    os.makedirs(job.out, exist_ok=True)
    if job.workers > 1 and job.executor == "local":
        # Worker processes already use every core; Rust threads inside them would only compete.
        os.environ.setdefault("LANGMILL_THREADS", "1")
    from langmill.executors import run_stages

    run_stages(job.executor, list(zip(STAGES, build_executors(job))), verbose=job.verbose)
