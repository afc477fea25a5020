"""datatrove's executors as langmill runs them: a quiet terminal, no orphans, one way to build them.

datatrove prints every task's pipeline and stats tables to the console; on a real job that buries
what a user wants to see. Here the full logs still go to OUT/logs/<stage>/logs/task_*.log, and the
terminal gets one line per finished task plus the readers' progress lines (`--verbose` restores
datatrove's console output). Worker processes and datatrove's manager process get SIGTERM when
langmill dies, so a killed run leaves nothing running behind it.
"""

import json
import os
import random
import shlex
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
    if kind in ("slurm", "ray"):  # a stage's own options over the kind's
        kind_options = dict(options.get(kind) or {})
        per_stage = kind_options.pop("stages", None) or {}
        options = {kind: kind_options | dict(per_stage.get(stage) or {})}
    if kind == "local":
        return LangmillLocalExecutor(pipeline, stage=stage, quiet=not verbose, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                     depends=depends, start_method=start_method)
    if kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        opts = dict(options.get("slurm") or {})
        if not opts.get("partition"):
            raise ValueError("--executor slurm needs executor.slurm.partition in the --config file")
        if not any(opts.get(k) for k in ("env_command", "condaenv", "venv_path")):
            # Jobs run datatrove's `launch_pickled_pipeline`: take the one beside this Python (the
            # same environment, on the shared filesystem) even when it is not activated.
            opts["env_command"] = f"export PATH={shlex.quote(os.path.dirname(sys.executable))}:$PATH"
        # --workers caps how many array tasks run at once; 1, the default, leaves it to Slurm.
        return SlurmPipelineExecutor(
            pipeline, tasks=tasks, workers=workers if workers > 1 else -1, logging_dir=logging_dir, depends=depends,
            job_name=f"langmill-{stage}", **{k: v for k, v in opts.items() if v is not None},
        )
    if kind == "ray":
        import datatrove.executor.ray as datatrove_ray
        from datatrove.executor import RayPipelineExecutor

        datatrove_ray.RankWorker = _RankWorker  # looked up each time datatrove submits a task
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


def _run_rank(executor, rank: int, rank_id: int, node_ips: list[str], node_idx: int) -> None:
    die_with_parent(signal.SIGKILL)  # never a second writer of this rank's files once its actor is gone
    os.environ["RAY_NODELIST"], os.environ["RAY_NODEID"] = ",".join(node_ips), str(node_idx)
    time.sleep(random.randint(0, executor.randomize_start_duration))
    executor._run_for_rank(rank, rank_id, node_rank=-1 if executor.nodes_per_task == 1 else node_idx)


class _RankWorker:
    """The Ray actor that runs a task's ranks in forked processes, as datatrove's RankWorker does.
    datatrove's uses a multiprocess Pool, whose starmap waits forever once a pool process is killed
    (OOM killer, SIGKILL): the whole command hung. Here a killed rank process ends the actor, which
    datatrove sees as a lost worker and runs again; a rank that raises fails the task."""

    def get_node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def run_for_rank(self, executor, ranks: list[int], node_ips: list[str], node_idx: int):
        import multiprocessing

        from datatrove.utils.stats import PipelineStats

        fork = multiprocessing.get_context("fork")  # nothing to pickle: a rank runs in a copy of this actor
        rank_ids = range(len(ranks)) if executor.log_first else range(1, len(ranks) + 1)
        procs = [fork.Process(target=_run_rank, args=(executor, rank, rank_id, node_ips, node_idx)) for rank, rank_id in zip(ranks, rank_ids)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        if any(proc.exitcode < 0 for proc in procs):  # killed by a signal
            os._exit(1)
        failed = [rank for rank, proc in zip(ranks, procs) if proc.exitcode]
        if failed:
            raise RuntimeError(f"task(s) {failed} failed; see their task logs")
        return PipelineStats()


def _run_ray_stages(stages: list[tuple[str, object]]) -> None:
    """Each stage after the one before, checked: datatrove's own chain (`depends`) waits forever,
    in two-minute sleeps, for a stage whose task failed."""
    earlier_had_work = False
    for stage, executor in stages:
        if earlier_had_work:  # it reads what the stage before wrote again: all of it runs again
            for marker in executor.logging_dir.list_files("completions"):
                executor.logging_dir.rm(marker)
        earlier_had_work = earlier_had_work or bool(executor.get_incomplete_ranks(range(executor.world_size)))
        executor.run()
        failed = executor.get_incomplete_ranks(range(executor.world_size))
        if failed:
            raise RuntimeError(f"{stage}: {len(failed)} of {executor.world_size} Ray task(s) did not finish (ranks {failed[:8]}); "
                               "run the same command again to resume")


def _quiet_ray() -> None:
    """Start Ray (or join the cluster RAY_ADDRESS names) without forwarding every worker's log lines
    to this terminal; they stay in Ray's session logs and datatrove's task logs."""
    import ray

    if not ray.is_initialized():
        try:
            ray.init(log_to_driver=False, logging_level="ERROR", include_dashboard=False)
        except ConnectionError as err:
            if "token" in str(err).lower() or "auth" in str(err).lower():
                raise ConnectionError(f"the Ray cluster at {os.environ.get('RAY_ADDRESS', '?')} wants token authentication: export "
                                      "RAY_AUTH_MODE=token (and the cluster's token) before running langmill") from None
            raise


def _slurm_jobs_file(stages) -> str:
    return os.path.join(os.path.dirname(stages[0][1].logging_dir.path.rstrip("/")), "slurm_jobs.json")


def _record_slurm_jobs(stages) -> None:
    ids = [int(executor.job_id) for _, executor in stages if executor.job_id not in (None, -1)]
    with open(_slurm_jobs_file(stages), "w") as f:
        json.dump({"jobs": ids}, f)


def _refuse_while_queued(stages) -> None:
    """A rerun while the jobs of the last submission still wait or run would submit their tasks a
    second time, two writers of the same files: refused with the ids to wait for."""
    try:
        with open(_slurm_jobs_file(stages)) as f:
            ids = json.load(f)["jobs"]
    except (OSError, ValueError, KeyError):
        return
    if not ids:
        return
    import subprocess

    try:
        queued = subprocess.run(["squeue", "-h", "-o", "%F", "-j", ",".join(map(str, ids))], capture_output=True, text=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return  # no squeue here: Slurm itself will say what is wrong at submission
    if queued:
        jobs = ",".join(sorted(set(queued)))
        raise RuntimeError(f"Slurm jobs {jobs} of this run are still queued or running; wait for them (squeue -j {jobs}) or scancel them, then rerun")


def run_stages(kind: str, stages: list[tuple[str, object]], verbose: bool = False) -> None:
    """Run (stage name, executor) pairs in order. Local: one after another, skipping finished
    stages, and running again every stage after one that had work to do (it reads what that one
    wrote); ray: one after another, a stage with an unfinished task fails the run; slurm: the last
    one submits the others through `depends`."""
    if not verbose:
        quiet_console()
    if kind != "local":
        if kind == "ray" and not verbose:
            _quiet_ray()
        click.echo(f"running {', '.join(name for name, _ in stages)} on {kind} (task logs: {stages[0][1].logging_dir.path}/..)", err=True)
        if kind == "ray":
            click.echo("note: on a multi-node Ray cluster, --out must be on a filesystem every node shares", err=True)
            _run_ray_stages(stages)
            return
        if kind == "slurm":
            _refuse_while_queued(stages)
        stages[-1][1].run()
        if kind == "slurm":  # the ids to wait on (squeue -j, --dependency=afterok:ID); -1: nothing left to do
            _record_slurm_jobs(stages)
            for n, (stage, executor) in enumerate(stages, 1):
                what = "already done" if executor.job_id == -1 else f"Slurm job {executor.job_id} ({executor.world_size} task{'s' if executor.world_size > 1 else ''})"
                click.echo(f"[{n}/{len(stages)}] {stage}: {what}", err=True)
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
