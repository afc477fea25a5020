"""`--executor ray` against a real Ray cluster started on its own (`ray start --head`), which each
command joins through RAY_ADDRESS, as on a real cluster: the same output as a local run, the tasks
seen on that cluster, translate through a vLLM endpoint, and a SIGKILLed worker mid-task."""

import gzip
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import API_KEY, API_KEY_ENV, REPO, SAMPLE_DIR, _free_port, read_out, run_langmill, shared_data
from test_translate import assert_accounted as assert_translated, inputs, n_rows  # noqa: F401 - `inputs` is a fixture

RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node Ray cluster (2 CPUs) in its own process group; `--block` makes SIGTERM to that one
    `ray start` shut down exactly this cluster (`ray stop` would stop every Ray on the machine)."""
    temp = tmp_path_factory.mktemp("ray")
    if len(str(temp)) > 40:  # Ray's unix sockets live under it (about 60 more bytes; the limit is 107)
        temp = Path(tempfile.mkdtemp(prefix="lmray-", dir="/tmp"))
    port = _free_port()
    # Token auth, with the test's own token: `ray start` turns it on by itself when ~/.ray/auth_token
    # exists (every local `ray.init()` writes one), and a driver given RAY_ADDRESS never does.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    ports = [f"--{name}={_free_port()}" for name in ("ray-client-server-port", "dashboard-port", "dashboard-agent-listen-port")]
    log = open(temp / "head.log", "w")
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
                             "--disable-usage-stats", "--include-dashboard=false", "--temp-dir", str(temp), *ports],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **auth, API_KEY_ENV: API_KEY})  # tasks see the env of `ray start`, not of langmill
    deadline = time.monotonic() + 120
    while "block forever" not in (temp / "head.log").read_text():
        assert head.poll() is None, (temp / "head.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "ray start did not finish in 120 s"
        time.sleep(0.5)
    yield {"env": {"RAY_ADDRESS": f"127.0.0.1:{port}", **auth}, "logs": temp / "session_latest" / "logs"}
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    finally:
        try:
            os.killpg(head.pid, signal.SIGKILL)  # anything of this cluster still there
        except ProcessLookupError:
            pass
        log.close()
        if not str(temp).startswith(str(tmp_path_factory.getbasetemp())):
            shutil.rmtree(temp, ignore_errors=True)


def on_cluster(cluster, *args, timeout: int = 400, env: dict | None = None, started=None) -> tuple[int, subprocess.CompletedProcess]:
    """Run langmill with RAY_ADDRESS set; (its pid, the result). `started(proc)` runs while it does."""
    cmd = [sys.executable, "-m", "langmill.cli", *map(str, args)]
    proc = subprocess.Popen(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {}), **cluster["env"]})
    try:
        if started:
            started(proc)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.pid, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def cluster_actors(cluster, pid: int) -> int:
    """Task actors the cluster ran for the driver with this pid: Ray names each driver's log after
    its job id and pid; a worker's log says which job it works for, then which actor it is."""
    drivers = list(cluster["logs"].glob(f"python-core-driver-*_{pid}.log"))
    assert len(drivers) == 1, f"no driver with pid {pid} joined the cluster started by the test"
    job = drivers[0].name.removeprefix("python-core-driver-")[:8]
    actors = 0
    for log in cluster["logs"].glob("worker-*.err"):  # a worker started ahead of time has no job in its name
        current = None
        for line in log.read_text(errors="replace").splitlines():
            current = line.removeprefix(":job_id:") if line.startswith(":job_id:") else current
            actors += current == job and line.startswith(":actor_name:") and "RankWorker" in line
    return actors


def tasks_run(out: Path) -> int:
    """Tasks of every stage (each writes its stats), whatever the stages are called."""
    return len(list((out / "logs").glob("*/stats/*.json")))


def rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("id", "text").sort("id")


def assert_same_output(out: Path, reference: Path) -> None:
    kept, excluded, stats = read_out(out)
    ref_kept, ref_excluded, ref_stats = read_out(reference)
    assert stats["rows_in_equals_kept_plus_excluded"] and stats["rows_in"] == kept.height + excluded.height == ref_stats["rows_in"]
    ids = kept["id"].to_list() + excluded["id"].to_list()
    assert len(ids) == len(set(ids)), "a row appears twice"
    assert rows(kept).equals(rows(ref_kept))
    assert rows(excluded).equals(rows(ref_excluded))
    assert stats["excluded_by_reason"] == ref_stats["excluded_by_reason"]


def test_corpus_on_a_started_cluster_matches_local(cluster, tmp_path):
    args = ["corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--tasks", "2", "--workers", "2"]
    local = run_langmill(*args, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stderr[-2000:]
    pid, result = on_cluster(cluster, *args, "--executor", "ray", "--out", tmp_path / "ray")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_output(tmp_path / "ray", tmp_path / "local")
    # Every task of every stage ran as an actor of this command's job on the test's cluster.
    assert cluster_actors(cluster, pid) == tasks_run(tmp_path / "ray") >= 2


def test_translate_on_a_started_cluster(cluster, server, inputs, tmp_path):
    files = [inputs["dolly"], inputs["alpaca"]]
    args = ["translate", *files, "--to", "fi", "--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV,
            "--no-qc", "--max-tokens", "8", "--tasks", "2"]
    local = run_langmill(*args, "--workers", "1", "--out", tmp_path / "local", env={API_KEY_ENV: API_KEY})
    assert local.returncode == 0, local.stderr[-2000:]
    pid, result = on_cluster(cluster, *args, "--workers", "2", "--executor", "ray", "--out", tmp_path / "ray", env={API_KEY_ENV: API_KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    kept, _, stats = assert_translated(tmp_path / "ray", n_rows(*files))  # rows in = kept + excluded, each once
    local_kept, _, _ = assert_translated(tmp_path / "local", n_rows(*files))
    assert sorted(kept["id"].to_list()) == sorted(local_kept["id"].to_list())
    assert stats["tasks"] == 2 and cluster_actors(cluster, pid) == tasks_run(tmp_path / "ray") >= 2


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            found[int(entry)] = (int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]), cmdline)
        except (OSError, ValueError, IndexError):
            continue
    return found


def _running_ranks(cluster) -> dict[int, int]:
    """rank process -> its actor, for the task actors of this cluster's raylet (their parent)."""
    procs = _processes()
    raylets = {pid for pid, (_, cmd) in procs.items() if "/raylet " in cmd and str(cluster["logs"].parent.parent) in cmd}
    actors = {pid for pid, (parent, cmd) in procs.items() if parent in raylets and "RankWorker" in cmd}
    return {pid: parent for pid, (parent, cmd) in procs.items() if parent in actors}


def _big_input(folder: Path, parts: int) -> int:
    """Real Finnish text (LibreOffice help pages, UD sentences), three times over with distinct ids
    (the copies are near duplicates): a few seconds per task. Returns the row count."""
    pages: dict = {}
    with gzip.open(shared_data("text", "libreoffice-help", "lo-help-7.4.7.fi.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            pages.setdefault(row["file"], []).append(row["text"])
    texts = ["\n".join(p) for p in pages.values()]
    for name in ("fi_tdt-ud-dev.txt", "fi_ftb-ud-dev.txt"):
        lines = [line for line in shared_data("text", "ud", name).read_text(encoding="utf-8").splitlines() if line.strip()]
        texts += ["\n".join(lines[i:i + 8]) for i in range(0, len(lines), 8)]
    docs = [{"id": f"{copy}-{i}", "text": text if copy == 0 else f"Kopio {copy}.\n{text}"} for copy in range(3) for i, text in enumerate(texts)]
    folder.mkdir()
    for k in range(parts):
        with open(folder / f"part{k}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[k::parts])
    return len(docs)


def test_killed_workers_are_run_again_and_a_rerun_changes_nothing(cluster, tmp_path):
    """SIGKILL, mid-task, of one rank's process (the datatrove task itself, forked by its actor) and
    of another task's actor: datatrove runs both tasks again (a lost actor is retried); the actor's
    rank process dies with it, so no two processes write one rank's files. The command finishes
    with every row once, and running it again changes nothing."""
    n = _big_input(tmp_path / "in", 4)
    args = ["corpus", tmp_path / "in", "--lang", "fi", "--tasks", "4", "--workers", "2"]
    local = run_langmill(*args, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stderr[-2000:]
    killed = {}

    def kill_two(proc):
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            ranks = _running_ranks(cluster)
            if len(ranks) == 2:  # two tasks running, each in a process forked by its actor
                time.sleep(1)  # mid-task
                (rank_a, _), (rank_b, actor_b) = sorted(ranks.items())
                os.kill(rank_a, signal.SIGKILL)
                os.kill(actor_b, signal.SIGKILL)
                killed.update(rank=rank_a, actor=actor_b, orphan=rank_b)
                break
            time.sleep(0.05)
        gone = time.monotonic() + 10
        while killed and os.path.exists(f"/proc/{killed['orphan']}") and time.monotonic() < gone:
            time.sleep(0.1)
        killed["orphan_alive"] = bool(killed) and os.path.exists(f"/proc/{killed['orphan']}")

    pid, result = on_cluster(cluster, *args, "--executor", "ray", "--out", tmp_path / "ray", started=kill_two)
    assert killed.get("rank"), "no two tasks were seen running"
    assert not killed["orphan_alive"], "the killed actor's rank process kept running"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RayActorError" in result.stderr  # datatrove's one warning per lost actor
    # Both killed tasks ran again, on new actors: two more than the tasks of all stages.
    assert cluster_actors(cluster, pid) == tasks_run(tmp_path / "ray") + 2
    kept, excluded, stats = read_out(tmp_path / "ray")
    assert stats["rows_in"] == n
    assert_same_output(tmp_path / "ray", tmp_path / "local")

    again_pid, again = on_cluster(cluster, *args, "--executor", "ray", "--out", tmp_path / "ray")
    assert again.returncode == 0, again.stderr[-3000:]
    assert cluster_actors(cluster, again_pid) == 0  # every task was complete: nothing ran
    assert_same_output(tmp_path / "ray", tmp_path / "local")


def test_a_failing_task_fails_the_run_instead_of_waiting(cluster, tmp_path):
    """A task that raises ends the command with an error: datatrove's `depends` chain would wait
    forever, in two-minute sleeps, for the stage after it."""
    script = f"""
import sys
from langmill.executors import make_executor, run_stages
def boom(data, rank, world_size):
    if rank == 1:
        raise ValueError("task 1 breaks")
    return []
first = make_executor("ray", [boom], stage="first", tasks=2, workers=2, logging_dir={str(tmp_path / "first")!r})
second = make_executor("ray", [lambda data, rank, world_size: []], stage="second", tasks=1, workers=1,
                       logging_dir={str(tmp_path / "second")!r}, depends=first)
try:
    run_stages("ray", [("first", first), ("second", second)])
except RuntimeError as err:
    sys.exit(f"failed: {{err}}")
"""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=110,
                            env={**os.environ, **cluster["env"]})
    assert result.returncode == 1 and "failed: first: 1 of 2 Ray task(s) did not finish (ranks [1])" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "second" / "completions").exists()
    assert time.monotonic() - started < 100
