"""Samples/s of `langmill train sft|dpo` against a plain TRL script on the same data, model and settings.

    .venv/bin/python bench/train_throughput.py [--model PATH_OR_ID] [--rows 512] [--max-steps S]
        [--batch-size 8] [--max-length 512] [--repeat 3] [--kinds sft,dpo] [--cpus 1]

Data: the first `--rows` Finnish dolly-15k rows (../shared/data) whose answer starts within
`--max-length` tokens (rows whose instruction + context fill it are passed over and counted: TRL drops
them on one side only, see below), written as a langmill SFT shard (`id`, `messages` = user: instruction
(+ context), assistant: response, `lang` fi) and a preference shard (`prompt` = the user message,
`chosen` = the row's real response, `rejected` = the next row's response).
For each kind:
  (a) `langmill train KIND --data SHARD --model M --out OUT --max-steps S ... --eval-share 0 --seed 0`
      as a subprocess: samples/s is TRL's own `train_samples_per_second` from OUT/train_metrics.json;
      also the in-run seconds (rows read -> training done) and the whole command's wall time;
  (b) a plain TRL script (`plain_trl` below, run as `train_throughput.py --plain KIND ...` in its own
      process): `datasets.load_dataset("parquet", ...)`, the model and tokenizer from `--model`, and
      SFTTrainer / DPOTrainer with an SFTConfig / DPOConfig built from the TRL config langmill recorded
      in (a)'s OUT/config.json (so every value is identical: steps, batch, lr, max_length, use_cpu, bf16,
      gradient checkpointing, seed, logging and save schedule), then `trainer.save_model` as a user would.
Each measurement runs `--repeat` times in a fresh process and a fresh output (and datasets cache)
folder; the best of each is kept. The default `--max-steps` is one epoch (rows / batch size), so both
sides train on the same samples (in another order: langmill shuffles its rows for the split, then
TRL's sampler shuffles both).

Differences a reader should know (the work per sample is the same):
- SFT: langmill tokenises the conversations itself and passes `input_ids` + `assistant_masks` (loss on
  the assistant turns); the plain script passes the conversational `messages` dataset with TRL's
  default (`assistant_only_loss=False`, loss on every token). A conversation becomes the same tokens
  on both sides (`num_tokens` checks it); only the labels differ. TRL drops a row whose labels are all
  masked after truncation to max_length, i.e. langmill's side only, so such rows are left out of the
  data (with them, langmill would train on fewer and shorter rows: `steps/epoch` would show it).
- Each run waits until the machine is quiet (< 25 % of the CPUs busy, at most 5 minutes) and reports
  the share of the CPUs other processes used while it ran: on 2 cores one busy neighbour halves a
  run's speed, so best-of is taken over repeats.
- The model is loaded in the dtype langmill trained in (its saved OUT/model/config.json: today the
  checkpoint's own, bfloat16 for the tiny Llama); a model id given to TRL as a string is loaded in
  float32 instead.
Without --model it builds the tests' tiny random Llama (CPU-friendly; its loss is noise, its tokens real).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from translate_throughput import DOLLY, REPO, model_and_flags

DOLLY_FI = DOLLY.with_name("dolly-15k-fi.from-docx.jsonl.gz")
TARGET = 0.98
LR = {"sft": "2e-5", "dpo": "5e-7"}  # langmill's defaults, passed explicitly


def fitting_rows(n: int, model: str, max_length: int) -> tuple[list[dict], int]:
    """The first `n` Finnish Dolly rows whose answer starts within `max_length` tokens, and how many
    were passed over. TRL drops a row whose prompt alone fills max_length (SFT with assistant masks,
    as langmill trains, and DPO; not SFT on every token), so these rows give both sides the same work."""
    from transformers import AutoTokenizer

    from langmill.formats import to_fields
    from langmill.train.data import tokenize_chat

    tokenizer = AutoTokenizer.from_pretrained(model)
    rows, skipped = [], 0
    with gzip.open(DOLLY_FI, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            row["messages"] = to_fields(row, "dolly")["messages"]
            if 1 in tokenize_chat(tokenizer, row["messages"])["assistant_masks"][:max_length]:
                rows.append(row)
            else:
                skipped += 1
            if len(rows) == n:
                break
    return rows, skipped


def write_shards(rows: list[dict], folder: Path) -> dict[str, Path]:
    """The rows as a langmill SFT shard and a preference shard (Parquet)."""
    import polars as pl

    messages = [r["messages"] for r in rows]
    ids, lang = [f"dolly-fi-{r['doc_index']}" for r in rows], ["fi"] * len(rows)
    folder.mkdir(parents=True, exist_ok=True)
    shards = {"sft": folder / "sft.parquet", "dpo": folder / "prefs.parquet"}
    pl.DataFrame({"id": ids, "messages": messages, "lang": lang}).write_parquet(shards["sft"])
    # rejected: the next row's answer (never the same text: a pair whose answers match is refused)
    chosen = [m[1:] for m in messages]
    rejected = [chosen[(i + 1) % len(chosen)] for i in range(len(chosen))]
    pl.DataFrame({"id": ids, "prompt": [m[:1] for m in messages], "chosen": chosen, "rejected": rejected, "lang": lang}).write_parquet(shards["dpo"])
    return shards


def token_stats(log_history: list[dict]) -> dict:
    """TRL's count of the tokens trained on (`num_tokens`: non-padding tokens seen, in its final log),
    and the steps of one epoch, which tell how many rows TRL kept (ceil(rows / batch size))."""
    last = next(h for h in reversed(log_history) if "num_tokens" in h)
    return {"tokens": int(last["num_tokens"]), "steps_per_epoch": round(last["step"] / last["epoch"])}


def busy_share(seconds: float = 1.0) -> float:
    """The share of all CPUs busy over `seconds` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    (total0, idle0), _, (total1, idle1) = sample(), time.sleep(seconds), sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(limit_s: float = 300, threshold: float = 0.25) -> float:
    """Wait (at most `limit_s`) until other work leaves the CPUs nearly idle: on a shared 2-core
    machine one other busy process halves a run's speed. Returns the busy share last seen."""
    deadline = time.monotonic() + limit_s
    while (share := busy_share()) > threshold and time.monotonic() < deadline:
        time.sleep(5)
    return share


def busy_cpu_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], env: dict, what: str) -> dict:
    """Wall seconds of `cmd`, and `others`: the share of the CPUs that other processes used meanwhile
    (busy CPU time of the machine minus the command's own), which flags a disturbed run."""
    wait_quiet()
    busy, own, started = busy_cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{what} failed:\n{proc.stderr[-3000:]}")
    own_s = (after.ru_utime + after.ru_stime) - (own.ru_utime + own.ru_stime)
    return {"wall": wall, "others": max(0.0, busy_cpu_seconds() - busy - own_s) / (wall * os.cpu_count())}


def launcher(cpus: str | None) -> list[str]:
    """`taskset -c CPUS` with --cpus (the same CPUs for both sides), else nothing."""
    return ["taskset", "-c", cpus] if cpus else []


def run_langmill(kind: str, shard: Path, model: str, args, out: Path, env: dict) -> dict:
    """`langmill train KIND` as a user runs it; its numbers from OUT/train_metrics.json."""
    cmd = [*launcher(args.cpus), sys.executable, "-m", "langmill.cli", "train", kind, "--data", str(shard), "--model", model, "--out", str(out),
           "--max-steps", str(args.max_steps), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
           "--eval-share", "0", "--lr", LR[kind], "--seed", "0"]
    run = timed(cmd, env, f"langmill train {kind}")
    metrics = json.loads((out / "train_metrics.json").read_text())
    return {"samples_s": metrics["train"]["train_samples_per_second"], "train_s": metrics["train"]["train_runtime"],
            "in_run_s": metrics["seconds"], **run, "steps": metrics["global_step"], **token_stats(metrics["log_history"])}


def run_plain(kind: str, shard: Path, model: str, config: Path, out: Path, env: dict, cpus: str | None) -> dict:
    cmd = [*launcher(cpus), sys.executable, str(Path(__file__).resolve()), "--plain", kind, "--data", str(shard), "--model", model,
           "--config", str(config), "--out", str(out)]
    run = timed(cmd, env, f"plain TRL {kind}")
    return {**json.loads((out / "metrics.json").read_text()), **run}


def trained_dtype(langmill_out: Path) -> str:
    """The dtype langmill trained in: that of the model it saved (OUT/model/config.json)."""
    saved = json.loads((langmill_out / "model" / "config.json").read_text())
    return saved.get("dtype") or saved.get("torch_dtype") or "auto"


def plain_trl(kind: str, data: str, model_path: str, config_json: str, out: str) -> None:
    """What a TRL user writes for the same run: load the Parquet shard with `datasets`, the model
    and tokenizer, and train with the very TRL config langmill used (its recorded config.json)."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    started = time.monotonic()  # as langmill's `seconds`: after the imports, up to the end of training

    config_cls, trainer_cls = (DPOConfig, DPOTrainer) if kind == "dpo" else (SFTConfig, SFTTrainer)
    recorded = json.loads(Path(config_json).read_text())["trl"]
    recorded["output_dir"] = os.path.join(out, "checkpoints")
    # langmill records eos_token / pad_token as they are (hub_token stays hidden: "<HUB_TOKEN>");
    # to_dict() hides every `*_token` field behind such a placeholder, so those are compared as set.
    options = {k: v for k, v in recorded.items() if v != f"<{k.upper()}>"}
    args = config_cls(**options)
    differ = {k: (v, recorded.get(k)) for k, v in args.to_dict().items()
              if v != recorded.get(k) and not (k.endswith("_token") and getattr(args, k) == recorded.get(k))}
    if differ:  # the recorded config must come back unchanged, or the comparison is off
        sys.exit(f"the plain TRL config differs from langmill's: {differ}")
    dataset = load_dataset("parquet", data_files=data, split="train")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=trained_dtype(Path(config_json).parent))
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    in_run = time.monotonic() - started
    trainer.save_model(os.path.join(out, "model"))
    metrics = {"samples_s": result.metrics["train_samples_per_second"], "train_s": result.metrics["train_runtime"], "in_run_s": round(in_run, 1),
               "steps": trainer.state.global_step, **token_stats(trainer.state.log_history)}
    Path(out, "metrics.json").write_text(json.dumps(metrics))


def best(runs: list[dict]) -> dict:
    """Best of the repeats: the highest samples/s and tokens/s, and each time's minimum; `low` is the
    lowest samples/s, so the spread between repeats of the very same run shows the noise."""
    return {"samples_s": max(r["samples_s"] for r in runs), "low": min(r["samples_s"] for r in runs), "tokens_s": max(r["tokens"] / r["train_s"] for r in runs),
            **{key: min(r[key] for r in runs) for key in ("train_s", "in_run_s", "wall")},
            **{key: runs[0][key] for key in ("steps", "steps_per_epoch", "tokens")}}


def measure(kind: str, shard: Path, model: str, args, work: Path) -> tuple[dict, dict]:
    """langmill and plain TRL, alternating, `--repeat` times each; every run in fresh folders."""
    ours, plain = [], []
    for k in range(args.repeat):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_CACHE": str(work / f"hf-datasets-{kind}-{k}"),
               **({"OMP_NUM_THREADS": str(len(args.cpus.split(",")))} if args.cpus else {})}
        out = work / f"langmill-{kind}-{k}"
        ours.append(run_langmill(kind, shard, model, args, out, env))
        plain.append(run_plain(kind, shard, model, out / "config.json", work / f"plain-{kind}-{k}", env, args.cpus))
        print(f"  {kind} run {k + 1}: langmill {ours[-1]['samples_s']:.1f} samples/s, {ours[-1]['wall']:.1f} s (others used "
              f"{ours[-1]['others']:.0%} of the CPUs); plain TRL {plain[-1]['samples_s']:.1f} samples/s, {plain[-1]['wall']:.1f} s "
              f"(others {plain[-1]['others']:.0%})", flush=True)
    return best(ours), best(plain)


def report(results: dict[str, tuple[dict, dict]]) -> None:
    print(f"\n{'':22}{'steps':>6}{'steps/epoch':>12}{'num_tokens':>11}{'samples/s':>10}{'(lowest)':>9}{'tokens/s':>9}{'train s':>9}{'in-run s':>9}{'wall s':>8}")
    for kind, (ours, plain) in results.items():
        for name, r in ((f"langmill train {kind}", ours), (f"plain TRL {kind}", plain)):
            print(f"{name:22}{r['steps']:>6}{r['steps_per_epoch']:>12}{r['tokens']:>11,}{r['samples_s']:>10.2f}{r['low']:>9.2f}{r['tokens_s']:>9.0f}"
                  f"{r['train_s']:>9.2f}{r['in_run_s']:>9.1f}{r['wall']:>8.1f}")
    print(f"\nratio langmill / plain TRL (target >= {TARGET}):")
    for kind, (ours, plain) in results.items():
        speed, wall = ours["samples_s"] / plain["samples_s"], plain["wall"] / ours["wall"]
        print(f"  {kind}: train_samples_per_second {speed:.3f} ({'meets' if speed >= TARGET else 'below'}), tokens/s {ours['tokens_s'] / plain['tokens_s']:.3f}, "
              f"whole command (samples / wall s) {wall:.3f} ({'meets' if wall >= TARGET else 'below'}); "
              f"outside training: langmill {ours['wall'] - ours['train_s']:.1f} s, plain {plain['wall'] - plain['train_s']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder or Hub id (default: the tests' tiny random Llama)")
    parser.add_argument("--rows", type=int, default=512, help="Finnish Dolly rows in each shard")
    parser.add_argument("--max-steps", type=int, help="training steps (default: one epoch, rows / batch size)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; best of")
    parser.add_argument("--kinds", default="sft,dpo")
    parser.add_argument("--cpus", help="run both sides under `taskset -c CPUS` with as many torch threads (steadier on a shared VM)")
    parser.add_argument("--plain", choices=["sft", "dpo"], help=argparse.SUPPRESS)  # the plain TRL run (internal)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        return plain_trl(args.plain, args.data, args.model, args.config, args.out)
    args.max_steps = args.max_steps or max(1, args.rows // args.batch_size)
    work = Path(tempfile.mkdtemp(prefix="lm-bench-train-"))
    model, _ = model_and_flags(args.model, [], work)  # the tiny Llama unless --model; no vLLM flags here
    rows, skipped = fitting_rows(args.rows, model, args.max_length)
    shards = write_shards(rows, work / "data")
    print(f"model: {model}\nrows: {len(rows)} Finnish Dolly ({skipped} passed over: instruction + context fill max_length); steps {args.max_steps}, "
          f"batch {args.batch_size}, max_length {args.max_length}, best of {args.repeat}; work folder {work}", flush=True)
    results = {kind: measure(kind, shards[kind], model, args, work) for kind in args.kinds.split(",")}
    report(results)


if __name__ == "__main__":
    main()
