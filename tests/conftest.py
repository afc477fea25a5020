"""Shared test helpers: paths of the embedded sample data and of ../shared/data, and a CLI runner."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "langmill" / "sample_data"
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the calling test with a clear message when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-text check skipped: {path} is absent (../shared/data is present on developer machines and in CI)")
    return path


def run_langmill(*args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `langmill` console entry point in a subprocess (`env`: extra variables)."""
    return subprocess.run(
        [sys.executable, "-m", "langmill.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def read_out(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(kept rows, excluded rows, stats.json) of a corpus output folder."""
    data_files = sorted((out / "data").glob("*.parquet"))
    excluded_files = sorted((out / "excluded").glob("*.parquet"))
    kept = pl.read_parquet(data_files) if data_files else pl.DataFrame()
    excluded = pl.read_parquet(excluded_files) if excluded_files else pl.DataFrame()
    return kept, excluded, json.loads((out / "stats.json").read_text())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
