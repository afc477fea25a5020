"""`--executor slurm` on a real one-node Slurm cluster (scripts/slurm_local.sh): real sbatch, job
arrays and dependencies between stages, real munge/slurmctld/slurmd. Each run's output folder must
equal a local run of the same command; a cancelled array task is redone by rerunning the command.

The tests know the stages only through the CLI's `[n/N] stage: Slurm job ID` lines."""

import gzip
import json
import re
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import API_KEY, API_KEY_ENV, REPO, SAMPLE_DIR, read_out, run_langmill, shared_data, write_jsonl
from test_translate import assert_accounted, inputs, n_rows  # noqa: F401 - `inputs` is a fixture used here

SCRIPT = REPO / "scripts" / "slurm_local.sh"
SLURM_YAML = "executor:\n  slurm:\n    partition: debug\n    time: '00:20:00'\n    mem_per_cpu_gb: 1\n"


@pytest.fixture(scope="session")
def slurm():
    """The local cluster, up (started here unless .ci/run or a developer already started it; then
    stopped again at the end)."""
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"scripts/slurm_local.sh failed: {r.stderr.strip() or r.stdout.strip()}"
    yield
    if " started " in f" {r.stdout} ":
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=60)


@pytest.fixture
def config(tmp_path) -> Path:
    """The executor section; after the test, its jobs still queued (if it failed) are cancelled."""
    (tmp_path / "slurm.yaml").write_text(SLURM_YAML)
    yield tmp_path / "slurm.yaml"
    r = subprocess.run(["squeue", "-h", "-o", "%A %j"], capture_output=True, text=True, timeout=30)
    left = [job for job, name in (line.split(" ", 1) for line in r.stdout.splitlines()) if name.startswith("langmill-")]
    if left:
        subprocess.run(["scancel", *left], timeout=30)


def queue() -> list[str]:
    """Jobs Slurm has not finished: 'ID STATE REASON' per array task."""
    r = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T %r"], capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.split("\n")[:-1]


def wait_for_queue(timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while jobs := queue():
        assert time.monotonic() < deadline, f"Slurm jobs still queued after {timeout} s: {jobs}"
        time.sleep(0.5)


def submit(*args, env: dict | None = None, finished: bool = False) -> list[str]:
    """Run a langmill command with --executor slurm (it submits and returns; on a finished run it
    prints the summary instead); the submitted stages' job ids, first stage first."""
    r = run_langmill(*args, "--executor", "slurm", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert ("rows in " if finished else "Submitted to Slurm") in r.stdout, r.stdout
    return re.findall(r"^\[\d+/\d+\] [\w-]+: Slurm job (\d+) ", r.stderr, re.MULTILINE)


def run_local(*args, env: dict | None = None) -> None:
    try:
        r = run_langmill(*args, env=env, timeout=300)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"local run timed out: {(err.stderr or b'').decode(errors='replace')[-3000:]}")
    assert r.returncode == 0, r.stderr[-3000:]


def assert_same_output(out: Path, local: Path) -> None:
    kept, excluded, stats = read_out(out)
    local_kept, local_excluded, local_stats = read_out(local)
    assert stats["rows_in_equals_kept_plus_excluded"] and stats["rows_in"] == kept.height + excluded.height
    ids = kept["id"].to_list() + excluded["id"].to_list()
    assert len(ids) == len(set(ids)), "a row appears twice"
    assert kept.select("id", "text").sort("id").equals(local_kept.select("id", "text").sort("id"))
    assert excluded.select("id", "reason").sort("id").equals(local_excluded.select("id", "reason").sort("id"))
    for key in ("rows_in", "kept", "excluded", "excluded_by_reason"):
        assert stats[key] == local_stats[key], key
    assert stats["executor"] == "slurm"


def test_corpus_through_sbatch_equals_a_local_run(slurm, tmp_path, config):
    args = ("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--tasks", "2", "--workers", "2")
    jobs = submit(*args, "--config", config, "--out", tmp_path / "slurm")
    assert jobs, "nothing was submitted"
    run_local(*args, "--out", tmp_path / "local")
    wait_for_queue()
    assert_same_output(tmp_path / "slurm", tmp_path / "local")
    # The task logs are where the docs say: OUT/logs/<stage>/, Slurm's own under slurm_logs/.
    assert list((tmp_path / "slurm" / "logs").glob("*/logs/task_*.log"))
    assert list((tmp_path / "slurm" / "logs").glob("*/slurm_logs/*.out"))
    # Rerunning a finished run submits nothing and prints its summary.
    assert submit(*args, "--config", config, "--out", tmp_path / "slurm", finished=True) == []


def test_translate_through_sbatch_equals_a_local_run(slurm, tmp_path, config, server, inputs):  # noqa: F811
    files = [inputs["dolly"], inputs["alpaca"]]
    args = ("translate", *files, "--to", "fi", "--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV,
            "--no-qc", "--max-tokens", "8", "--tasks", "2", "--workers", "2")
    env = {API_KEY_ENV: API_KEY}  # sbatch --export=ALL hands it to the jobs
    run_local(*args, "--out", tmp_path / "local", env=env)
    assert submit(*args, "--executor-config", config, "--out", tmp_path / "slurm", env=env)
    wait_for_queue()
    kept, excluded, stats = assert_accounted(tmp_path / "slurm", n_rows(*files))
    local_kept, _, _ = assert_accounted(tmp_path / "local", n_rows(*files))
    assert sorted(kept["id"].to_list()) == sorted(local_kept["id"].to_list())
    assert stats["rows_in"] == stats["kept"] + stats["excluded"] and stats["tasks"] == 2


def help_pages(*langs: str) -> list[dict]:
    """LibreOffice help pages (paragraphs joined per page) in these languages, with English left
    untranslated in them: ~2,500 pages per language."""
    pages: dict[str, list[str]] = {}
    for lang in langs:
        with gzip.open(shared_data("text", "libreoffice-help", f"lo-help-7.4.7.{lang}.jsonl.gz"), "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                pages.setdefault(f"{lang}/{row['file']}", []).append(row["text"])
    return [{"id": name, "text": "\n".join(lines)} for name, lines in pages.items()]


def test_a_cancelled_task_is_redone_by_rerunning_the_command(slurm, tmp_path, config):
    # Big enough for filter tasks of a few seconds each: time to cancel one while it writes.
    corpus = write_jsonl(tmp_path / "pages.jsonl", help_pages("fi", "et", "eu"))
    args = ("corpus", corpus, "--lang", "fi", "--tasks", "4", "--workers", "2")
    run_local(*args, "--out", tmp_path / "local")
    out = tmp_path / "slurm"
    first_stage = submit(*args, "--config", config, "--out", out)[0]
    # A rerun while the run's jobs wait or run would submit its tasks twice: refused, naming them.
    again = run_langmill(*args, "--config", config, "--out", out, "--executor", "slurm")
    assert again.returncode == 2 and f"Slurm jobs {first_stage}" in again.stderr and "still queued or running" in again.stderr, again.stderr
    # Cancel the first stage's task 1 while it runs (its pipeline has started writing its log).
    task, deadline = f"{first_stage}_1", time.monotonic() + 120
    while not any(line.startswith(f"{task} RUNNING") for line in queue()) or not list(out.glob("logs/*/logs/task_00001.log")):
        assert time.monotonic() < deadline, f"task {task} did not start: {queue()}"
        time.sleep(0.2)
    subprocess.run(["scancel", task], check=True, timeout=30)
    wait_for_queue()  # the other tasks finish; the later stages are cancelled (their dependency failed)
    assert not (out / "stats.json").exists()
    jobs = submit(*args, "--config", config, "--out", out)
    assert jobs and jobs[0] != first_stage
    # Only the cancelled task of the first stage was submitted again.
    assert [1] in [json.loads(p.read_text()) for p in out.glob("logs/*/ranks_to_run.json")]
    wait_for_queue()
    assert_same_output(out, tmp_path / "local")
    assert read_out(out)[2]["rows_in"] == n_rows(corpus)
