"""Every damaged or unusual input of tests/bad_inputs.py, through the real CLI of every command.

translate sends its requests to one real vLLM server (the tiny random model, --no-qc: its output is
noise); corpus and qc run their full pipelines. Each case checks the rule in bad_inputs.py.
"""

from pathlib import Path

import polars as pl
import pytest

from bad_inputs import CASES, good_rows, jsonl
from conftest import API_KEY, API_KEY_ENV, run_langmill

MATRIX = [pytest.param(case, command, id=f"{command}-{case.name}") for case in CASES for command in case.commands]


def command_args(command: str, inputs: list[Path], out: Path, lang: str, server: dict | None) -> list[str]:
    if command == "corpus":
        return ["corpus", *inputs, "--lang", lang, "--out", out]
    if command == "qc":
        return ["qc", *inputs, "--to", lang, "--out", out]
    return ["translate", *inputs, "--to", lang, "--out", out, "--model", server["model"], "--endpoint-url", server["url"],
            "--api-key-env", API_KEY_ENV, "--no-qc", "--max-tokens", "8"]


@pytest.fixture
def endpoint(request):
    """The shared vLLM server, started only when a translate case runs."""
    return request.getfixturevalue("server") if "translate" in request.node.callspec.id else None


def _one_line_error(r, *expected: str) -> None:
    assert r.returncode == 2, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("langmill: error: "), r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "Aborted" not in r.stderr
    for text in expected:
        assert text in lines[-1], lines[-1]


@pytest.mark.parametrize("case,command", MATRIX)
def test_bad_input(case, command, tmp_path, endpoint):
    inputs = case.make(tmp_path, command)
    out = tmp_path / "out"
    if case.out_under_file:
        (tmp_path / "a-file").write_text("not a folder")
        out = tmp_path / "a-file" / "out"
    r = run_langmill(*command_args(command, inputs, out, case.lang, endpoint), env={API_KEY_ENV: API_KEY}, timeout=600)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    if case.error:
        _one_line_error(r, case.error)
        assert not out.exists()
        return
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"report:   {out}/report.html" in r.stdout
    if case.warning:
        assert any(case.warning in line for line in r.stderr.splitlines() if line.startswith("langmill: warning:")), r.stderr
    # data/ and excluded/ each load as one dataset, whatever was kept.
    kept = pl.read_parquet(out / "data" / "*.parquet")
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    import json

    stats = json.loads((out / "stats.json").read_text())
    if command == "translate":
        kept = kept.filter(pl.col("lang") == stats["lang"])
    assert stats["rows_in"] == kept.height + excluded.height == stats["kept"] + stats["excluded"]
    if case.rows_in is not None:
        assert stats["rows_in"] == case.rows_in
    bad = excluded.filter(pl.col("reason") == "bad_row") if excluded.height else excluded
    found = [f"{row['id']} {row['detail']}" for row in bad.iter_rows(named=True)] if bad.height else []
    assert len(found) == len(case.bad_details), found
    for expected in case.bad_details:
        assert any(expected in f for f in found), (expected, found)
    if case.name == "duplicate_ids":
        repeated = kept.filter(pl.col("id") == "same-id").height - 1
        assert stats["duplicate_ids"]["rows"] == repeated
        if command != "qc":  # corpus keeps these sample documents; translate runs without QC
            assert repeated == 2 and "repeat the id of another kept row" in r.stdout


@pytest.mark.parametrize("command", ["corpus", "qc"])
def test_input_rewritten_in_place_is_not_resumed(command, tmp_path):
    """Resume trusts contents, not paths: a rerun over a changed input refuses (corpus) or
    redoes the run (qc, which is cheap to redo)."""
    source = tmp_path / "rows.jsonl"
    source.write_bytes(jsonl(good_rows(command, 3)))
    args = command_args(command, [source], tmp_path / "out", "fi", None)
    assert run_langmill(*args).returncode == 0
    source.write_bytes(jsonl(good_rows(command, 2)))  # same path, other rows
    r = run_langmill(*args)
    if command == "corpus":
        _one_line_error(r, "rows.jsonl changed since the run", "--overwrite")
        return
    assert r.returncode == 0, r.stderr
    assert "rows in 2 " in r.stdout


def test_touched_but_unchanged_input_still_resumes(tmp_path):
    source = tmp_path / "rows.jsonl"
    source.write_bytes(jsonl(good_rows("corpus", 2)))
    args = command_args("corpus", [source], tmp_path / "out", "fi", None)
    assert run_langmill(*args).returncode == 0
    source.touch()
    r = run_langmill(*args)
    assert r.returncode == 0 and "Resuming" in r.stderr and "already done" in r.stderr


def test_missing_local_model_folder_is_named(tmp_path):
    """A local --model path that does not exist is not mistaken for a Hub id."""
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(jsonl(good_rows("translate", 1)))
    for model in ("./models/llama-fi", str(tmp_path / "no" / "such" / "model")):
        r = run_langmill("translate", rows, "--to", "fi", "--model", model, "--out", tmp_path / "out")
        _one_line_error(r, f"{model}: no such model folder")
        assert not (tmp_path / "out").exists()
