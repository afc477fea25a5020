"""Shared test helpers: paths of the embedded sample data and of ../shared/data, a CLI runner, and
the tiny model and one vLLM server (endpoint mode) shared by every test module that translates."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
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


def kill_langmill_when(marker: Path, *args: str, timeout: float = 300) -> None:
    """Start `langmill ARGS...` and SIGKILL its whole process group as soon as `marker` exists
    (or it exits, or `timeout` passes): a crash at a known point, for resume tests."""
    proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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


# --- a real vLLM server for endpoint mode (tests/tiny_model.py's random Llama on the CPU) ---------------

API_KEY_ENV = "LANGMILL_TEST_API_KEY"
API_KEY = "test-key-5f1c"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, key: str | None = API_KEY) -> tuple[int, str]:
    import httpx

    try:
        r = httpx.get(url, headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=5)
        return r.status_code, r.text
    except httpx.HTTPError:
        return 0, ""


@pytest.fixture(scope="session")
def server(tiny_model, tmp_path_factory):
    """An already running vLLM OpenAI-compatible server with an API key (endpoint mode), started
    once per test session."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "vllm.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", tiny_model, "--host", "127.0.0.1",
         "--port", str(port), "--api-key", API_KEY, "--max-model-len", "2048", "--enforce-eager",
         "--kv-cache-memory-bytes", "268435456", "--no-enable-chunked-prefill",  # see EngineConfig.vllm_command
         "--structured-outputs-config.backend", "guidance"],  # as langmill synth starts it
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while http_get(f"{base}/v1/models")[0] != 200:
        assert proc.poll() is None, f"vLLM exited; see {log.name}"
        assert time.monotonic() < deadline, f"vLLM did not start in 240 s; see {log.name}"
        time.sleep(1)
    yield {"url": f"{base}/v1", "base": base, "model": tiny_model}
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    log.close()


# --- a real PostgreSQL server and a real headless browser (tests/servers.py) -----------------------

@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    """SQLAlchemy URL (psycopg v3) of an empty database on a PostgreSQL server started once per session."""
    from servers import postgres_server

    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def browser(tmp_path_factory):
    """A fresh headless Chromium (Selenium webdriver.Chrome, 1280x1000) per test: no state leaks."""
    from servers import headless_chrome

    with headless_chrome(tmp_path_factory.mktemp("browser")) as driver:
        yield driver
