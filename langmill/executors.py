"""datatrove's local executor with a quiet terminal.

datatrove prints every task's pipeline and stats tables to the console; on a real job that buries
what a user wants to see. Here the full logs still go to OUT/logs/<stage>/logs/task_*.log, and the
terminal gets one line per finished task plus the readers' progress lines (`--verbose` restores
datatrove's console output).
"""

import sys
import time

import click
import datatrove.executor.base as executor_base
from datatrove.executor import LocalPipelineExecutor
from loguru import logger

_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}"


def _console_warnings_only() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")


def _task_logger_to_file(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    logger.add(logfile, level="DEBUG", format=_FILE_FORMAT, colorize=False)
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")
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


class QuietLocalExecutor(LocalPipelineExecutor):
    """LocalPipelineExecutor that prints `<stage>: task i/n done` instead of datatrove's tables."""

    def __init__(self, *args, stage: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.stage = stage

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        # Runs in the worker process, where the patch must be applied (forkserver starts afresh).
        quiet_console()
        if self.is_rank_completed(rank):
            return super()._run_for_rank(rank, local_rank, node_rank)
        started = time.monotonic()
        stats = super()._run_for_rank(rank, local_rank, node_rank)
        click.echo(f"  {self.stage}: task {rank + 1}/{self.world_size} done in {time.monotonic() - started:.1f} s", err=True)
        return stats
