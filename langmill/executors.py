"""datatrove's executors as langmill runs them: a quiet terminal, no orphans, one way to build them.

datatrove prints every task's pipeline and stats tables to the console; on a real job that buries
what a user wants to see. Here the full logs still go to OUT/logs/<stage>/logs/task_*.log, and the
terminal gets one line per finished task plus the readers' progress lines (`--verbose` restores
datatrove's console output). Worker processes and datatrove's manager process get SIGTERM when
langmill dies, so a killed run leaves nothing running behind it.
"""

import os
import signal
import sys
import time

import click
import datatrove.executor.base as executor_base
from datatrove.executor import LocalPipelineExecutor
from loguru import logger

_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"


def _console_line(record) -> str:
    # No traceback on the terminal (it is in the task log); loguru adds one unless the format is a function.
    return "{level}: {message}\n"


def _console_filter(record) -> bool:
    # A failed task's error is printed once, by the command itself (one line, with the log's path).
    return not (record["level"].name == "ERROR" and record["name"].startswith("datatrove.executor"))


def _console_warnings_only() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING", format=_console_line, filter=_console_filter)


def _task_logger_to_file(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    logger.add(logfile, level="DEBUG", format=_FILE_FORMAT, colorize=False)
    logger.add(sys.stderr, level="WARNING", format=_console_line, filter=_console_filter)
    logger.info(f"Launching pipeline for {rank=}")
    return logfile


def _close_task_logger(logfile) -> None:
    logger.complete()
    _console_warnings_only()
    logfile.close()


def quiet_console() -> None:
    """Route datatrove's task logs to their files only (in this process)."""
    executor_base.add_task_logger = _task_logger_to_file
    executor_base.close_task_logger = _close_task_logger
    _console_warnings_only()


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; elsewhere a no-op).
    Called in child processes only: a killed `langmill` must not leave workers, their vLLM servers
    or datatrove's multiprocessing manager running (and writing) behind it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


class _ManagerDiesWithParent:
    """datatrove's LocalPipelineExecutor starts a multiprocess Manager process; without this it
    outlives a killed langmill (one sleeping process per killed run)."""

    def __enter__(self):
        from multiprocess.managers import SyncManager

        self.cls, self.start = SyncManager, SyncManager.start

        def start(manager, initializer=None, initargs=()):
            return self.start(manager, initializer=initializer or die_with_parent, initargs=initargs)

        SyncManager.start = start
        return self

    def __exit__(self, *exc):
        self.cls.start = self.start


class LangmillLocalExecutor(LocalPipelineExecutor):
    """LocalPipelineExecutor whose helper processes die with langmill, and that, when `quiet`,
    prints `<stage>: task i/n done` instead of datatrove's tables."""

    def __init__(self, *args, stage: str = "", quiet: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.stage = stage
        self.quiet = quiet
        self.main_pid = os.getpid()

    def run(self):
        with _ManagerDiesWithParent():
            return super().run()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if os.getpid() != self.main_pid:  # a worker process
            die_with_parent()
        if not self.quiet:
            return super()._run_for_rank(rank, local_rank, node_rank)
        # Runs in the worker process, where the patch must be applied (forkserver starts afresh).
        quiet_console()
        if self.is_rank_completed(rank):
            return super()._run_for_rank(rank, local_rank, node_rank)
        started = time.monotonic()
        stats = super()._run_for_rank(rank, local_rank, node_rank)
        click.echo(f"  {self.stage}: task {rank + 1}/{self.world_size} done in {time.monotonic() - started:.1f} s", err=True)
        return stats


def make_executor(kind: str, pipeline: list, *, stage: str, tasks: int, workers: int, logging_dir: str, depends=None,
                  options: dict | None = None, verbose: bool = False, start_method: str = "forkserver"):
    """One datatrove executor for one stage: local (quiet unless `verbose`), slurm or ray, with the
    slurm/ray `options` of the config's executor section."""
    options = options or {}
    if kind == "local":
        return LangmillLocalExecutor(pipeline, stage=stage, quiet=not verbose, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                     depends=depends, start_method=start_method)
    if kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        opts = dict(options.get("slurm") or {})
        if not opts.get("partition"):
            raise ValueError("--executor slurm needs executor.slurm.partition in the --config file")
        return SlurmPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, depends=depends,
            job_name=f"langmill-{stage}", **{k: v for k, v in opts.items() if v is not None},
        )
    if kind == "ray":
        from datatrove.executor import RayPipelineExecutor

        # Its warning about local folders comes once per stage; run_stages says it once.
        logger.disable("datatrove.executor.ray")
        try:
            return RayPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, depends=depends, **(options.get("ray") or {}))
        finally:
            logger.enable("datatrove.executor.ray")
    raise ValueError(f"unknown executor {kind!r} (local, slurm, ray)")


def chained_executors(job, stages: list[tuple[str, list, int]]) -> list[tuple[str, object]]:
    """(stage, executor) for every (stage, pipeline, tasks) of a row command (translate, qc, magpie),
    each depending on the one before; `job` gives executor, workers, executor_options, verbose and
    out (the logs of stage S go to OUT/logs/S)."""
    executors: list = []
    for stage, pipeline, tasks in stages:
        executors.append(make_executor(
            job.executor, pipeline, stage=stage, tasks=tasks, workers=min(job.workers, tasks), logging_dir=os.path.join(job.out, "logs", stage),
            depends=executors[-1] if executors else None, options=job.executor_options, verbose=job.verbose,
        ))
    return [(stage, executor) for (stage, _, _), executor in zip(stages, executors)]


def _quiet_ray() -> None:
    """Start Ray (or join the cluster RAY_ADDRESS names) without forwarding every worker's log lines
    to this terminal; they stay in Ray's session logs and datatrove's task logs."""
    import ray

    if not ray.is_initialized():
        ray.init(log_to_driver=False, logging_level="ERROR", include_dashboard=False)


def run_stages(kind: str, stages: list[tuple[str, object]], verbose: bool = False) -> None:
    """Run (stage name, executor) pairs in order. Local: one after another, skipping finished
    stages, and running again every stage after one that had work to do (it reads what that one
    wrote); slurm/ray: the last one runs (ray) or submits (slurm) the others through `depends`."""
    if not verbose:
        quiet_console()
    if kind != "local":
        if kind == "ray" and not verbose:
            _quiet_ray()
        click.echo(f"running {', '.join(name for name, _ in stages)} on {kind} (task logs: {stages[0][1].logging_dir.path}/..)", err=True)
        if kind == "ray":
            click.echo("note: on a multi-node Ray cluster, --out must be on a filesystem every node shares", err=True)
        stages[-1][1].run()
        return
    earlier_had_work = False
    for n, (stage, executor) in enumerate(stages, 1):
        if earlier_had_work:
            for marker in executor.logging_dir.list_files("completions"):
                executor.logging_dir.rm(marker)
        if not executor.get_incomplete_ranks(range(executor.world_size)):
            click.echo(f"[{n}/{len(stages)}] {stage}: already done", err=True)
            continue
        earlier_had_work = True
        started = time.monotonic()
        click.echo(f"[{n}/{len(stages)}] {stage} ({executor.world_size} task{'s' if executor.world_size > 1 else ''})", err=True)
        executor.run()
        click.echo(f"[{n}/{len(stages)}] {stage} finished in {time.monotonic() - started:.1f} s", err=True)
