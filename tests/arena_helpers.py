"""Shared pieces of the arena tests (not a test module): a real `langmill arena serve` process on
127.0.0.1, invitation links made by the real CLI, and a participant that votes over HTTP."""

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MT_BENCH = REPO.parent / "shared" / "data" / "instructions" / "mt-bench"
MODELS = ("gpt-oss-120b-fi", "Poro-34B-chat-finnish", "llama-3.1-70B-Instruct_fi")


def mt_bench_args(models=MODELS) -> list[str]:
    """`serve` arguments for real Finnish MT-Bench answers of three models (80 prompts, 240 pairs)."""
    return ["--answers", *(str(MT_BENCH / "model_answer_fi" / f"{m}.jsonl") for m in models), "--prompts", str(MT_BENCH / "question_fi.jsonl")]


def langmill(*args, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "langmill.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ArenaServer:
    """`langmill arena serve ...` in its own process group; `kill()` is SIGKILL, `restart()` starts
    the same command again on the same port."""

    args: list[str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ArenaServer":
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", "arena", "serve", *map(str, self.args), "--port", str(self.port)],
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(self.url + "/", timeout=2)
                return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"arena serve exited with {self.proc.returncode}: {self.log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"arena serve did not answer in {timeout} s: {self.log.read_text()[-800:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> "ArenaServer":
        self.kill()
        return self.start()


def invite(db, n: int, base_url: str, out: Path, admin: bool = False) -> list[str]:
    """n new links from the real CLI (appended to `out`); returns just those."""
    before = sum(1 for _ in open(out)) - 1 if out.exists() else 0
    done = langmill("arena", "invite", "--db", db, "--n", n, "--base-url", base_url, "--out", out, *(["--admin"] if admin else []))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out)))
    return [r["link"] for r in rows[before:]]


FORM_FIELD = re.compile(r'name="(csrf|assignment)" value="([^"]*)"')


class Participant:
    """One person's browser session over plain HTTP: joins by link, reads the form, votes."""

    def __init__(self, link: str):
        self.base = link.split("/join/")[0]
        self.link = link
        self.client = httpx.Client(follow_redirects=False, timeout=30)

    def join(self) -> int:
        return self.client.get(self.link).status_code

    def page(self) -> httpx.Response:
        return self.client.get(self.base + "/vote")

    @staticmethod
    def form(page: str) -> dict[str, str]:
        return dict(FORM_FIELD.findall(page))

    def post(self, form: dict[str, str], choice: str, reason: str = "") -> httpx.Response:
        return self.client.post(self.base + "/vote", data={**form, "choice": choice, "reason": reason})
