"""A scripted OpenAI-compatible endpoint for judge and policy logic on real text (no model).

It answers `/v1/chat/completions` as a judge when the request carries a JSON schema (the
verdict of a pairwise comparison, or a score), and as a policy model otherwise, by a script that
tests can recompute on their own:
- verdict: the answer in Finnish (fastText) wins against one that is not; between two of the
  same kind, the longer wins unless their lengths are within 10 %, when the first seat wins
  (scripted position bias); every 13th comparison (by content hash) is garbage, not JSON.
- score: 7 with a reference answer; else 2 for an answer not in Finnish, else 3 + len % 7;
  every 17th (by hash) is cut off at max_tokens.
- policy: a text from POLICY_TEXTS picked by the request's seed.
Every request is counted by its payload's hash (`requests`), so a test can see what was re-sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POLICY_TEXTS = [
    "Suomen pääkaupunki on Helsinki, joka sijaitsee Suomenlahden rannalla ja on maan suurin kaupunki.",
    "Helsinki on Suomen pääkaupunki. Se on myös maan suurin kaupunki, ja siellä asuu noin 650 000 ihmistä.",
    "The capital of Finland is Helsinki, a city on the coast of the Gulf of Finland.",
    "Pääkaupunki on Helsinki.",
]

A_BLOCK = re.compile(r"\[Answer A\]\n(.*?)\n\[End of answer A\]", re.DOTALL)
B_BLOCK = re.compile(r"\[Answer B\]\n(.*?)\n\[End of answer B\]", re.DOTALL)
ANSWER_BLOCK = re.compile(r"\[Answer to evaluate\]\n(.*?)\n\[End of answer\]", re.DOTALL)

_LID = None


def finnish(text: str) -> bool:
    global _LID
    if _LID is None:
        from langmill.filters.lid import LanguageFilter

        _LID = LanguageFilter("fi")
    return _LID.predict(" ".join(text.split()))[0] == "fi"


def scripted_verdict(first: str, second: str) -> str | None:
    """"A", "B", "tie"... (never tie) or None (garbage) for `first` shown as answer A."""
    if zlib.crc32((first + "\x00" + second).encode()) % 13 == 0:
        return None
    fa, fb = finnish(first), finnish(second)
    if fa != fb:
        return "A" if fa else "B"
    if abs(len(first) - len(second)) <= 0.1 * max(len(first), len(second)):
        return "A"
    return "A" if len(first) > len(second) else "B"


def scripted_score(answer: str, reference: bool) -> int | None:
    """The score of `answer`, or None when the output is cut off."""
    if zlib.crc32(answer.encode()) % 17 == 0:
        return None
    if reference:
        return 7
    return 3 + len(answer) % 7 if finnish(answer) else 2


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _send(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"data": [{"id": name, "max_model_len": 32768} for name in self.server.models]})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests[hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()] += 1
        if server.delay:
            threading.Event().wait(server.delay)
        text, finish = self.answer(payload)
        self._send({"id": "x", "object": "chat.completion", "model": payload["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4), "total_tokens": 10 + len(text) // 4}})

    def answer(self, payload: dict) -> tuple[str, str]:
        schema = ((payload.get("response_format") or {}).get("json_schema") or {}).get("schema")
        user = payload["messages"][-1]["content"]
        if schema is None:
            return POLICY_TEXTS[payload.get("seed", 0) % len(POLICY_TEXTS)], "stop"
        if "verdict" in schema["properties"]:
            verdict = scripted_verdict(A_BLOCK.search(user).group(1), B_BLOCK.search(user).group(1))
            return (json.dumps({"rationale": "scripted", "verdict": verdict}) if verdict else "I think A is better."), "stop"
        score = scripted_score(ANSWER_BLOCK.search(user).group(1), "[Reference answer]" in user)
        return (json.dumps({"rationale": "scripted", "score": score}), "stop") if score else ('{"rationale": "scripted and cut', "length")


class ScriptedEndpoint:
    """The endpoint on 127.0.0.1 in a thread: `url`, `requests` (payload hash -> count)."""

    def __init__(self, models: list[str], delay: float = 0.0):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.models, self.server.delay = list(models), delay
        self.server.requests, self.server.lock = Counter(), threading.Lock()
        self.server.handle_error = lambda request, address: None  # a client killed mid-request is part of the test
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> Counter:
        return self.server.requests

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
