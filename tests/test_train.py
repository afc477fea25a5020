"""`langmill train cpt|sft|dpo` with real TRL steps on the CPU (the tiny random Llama): loss falls on
a learnable shard, the DPO reward margin grows, the loss is on assistant turns with their end of
turn, mixes match their weights, a killed run resumes from its checkpoint, the card names every
input, and bad inputs are one-line errors."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from conftest import REPO, SAMPLE_DIR, run_langmill, shared_data
from langmill.train.data import CHATML, Source, allocate, mix_languages, mix_sources, tokenize_chat

FAST = ["--batch-size", "4", "--max-length", "256", "--seed", "0"]


def _dolly(n: int) -> list[dict]:
    return [json.loads(line) for line in gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt")][:n]


def _sft_shard(folder, n: int = 48, lang: str = "fi", answer: str | None = None):
    os.makedirs(folder / "data", exist_ok=True)
    rows = _dolly(n)
    messages = [[{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": answer or r["response"][:400]}] for r in rows]
    pl.DataFrame({"id": [f"{lang}-{i}" for i in range(n)], "messages": messages, "lang": [lang] * n}).write_parquet(folder / "data" / "00000.parquet")
    (folder / "stats.json").write_text(json.dumps({"stage": "translate", "rows_in": n + 2, "kept": n, "excluded": 2}))
    return folder


def _pref_shard(folder, n: int = 48):
    os.makedirs(folder, exist_ok=True)
    rows = _dolly(n)
    pl.DataFrame({"id": [str(i) for i in range(n)], "prompt": [[{"role": "user", "content": r["instruction"]}] for r in rows],
                  "chosen": [[{"role": "assistant", "content": r["response"][:300]}] for r in rows],
                  "rejected": [[{"role": "assistant", "content": "En tiedä."}] for _ in rows], "lang": ["fi"] * n}).write_parquet(folder / "prefs.parquet")
    return folder


def _metrics(out) -> dict:
    return json.loads((out / "train_metrics.json").read_text())


def _losses(metrics: dict, key: str = "loss") -> list[float]:
    return [h[key] for h in metrics["log_history"] if key in h]


def test_sft_loss_falls_on_a_learnable_shard_and_only_assistant_turns_count(tmp_path, tiny_model):
    data = _sft_shard(tmp_path / "sft-fi", answer="Helsinki on Suomen pääkaupunki.")
    out = tmp_path / "sft"
    r = run_langmill("train", "sft", "--data", data, "--model", tiny_model, "--out", out, "--max-steps", "40", "--lr", "1e-3", *FAST)
    assert r.returncode == 0, r.stderr[-3000:]
    losses = _losses(_metrics(out))
    assert losses[-1] < 0.5 * losses[0], losses
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "tokenizer.json").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["trl"]["max_steps"] == 40 and config["trl"]["use_cpu"] is True and config["trl"]["eos_token"] != "<EOS_TOKEN>"
    from trl import SFTConfig

    SFTConfig(**{k: v for k, v in config["trl"].items() if k not in ("hub_token",)})  # the effective config is a usable config
    card = (out / "model" / "README.md").read_text()
    assert str(data) in card and "translate" in card and "50 (48 / 2)" in card and "assistant turns" in card
    assert "40 steps" in r.stdout and "train loss" in r.stdout


def test_the_trained_tokens_are_the_assistant_turns_with_their_end_of_turn(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    row = _dolly(1)[0]
    messages = [{"role": "system", "content": "Vastaa suomeksi."}, {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["response"]}, {"role": "user", "content": "Kiitos! Entä lyhyemmin?"},
                {"role": "assistant", "content": "Lyhyesti: kyllä."}]
    for template, end in ((None, "<|end|>"), (CHATML, "<|im_end|>")):
        encoded = tokenize_chat(tokenizer, messages, template)
        trained = tokenizer.decode([t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m])
        assert trained.replace(" ", "") == f"{row['response']}{end}\nLyhyesti: kyllä.{end}\n".replace(" ", "")


def test_full_fine_tuning_keeps_float32_weights_and_rows_trl_drops_are_reported(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    data = _sft_shard(tmp_path / "long", n=24)
    out = tmp_path / "short-max-length"
    # The tiny model's checkpoint is bf16; a 24-token max_length leaves some Dolly prompts nothing to learn from.
    r = run_langmill("train", "sft", "--data", data, "--model", tiny_model, "--out", out, "--max-steps", "2", "--batch-size", "4",
                     "--max-length", "24", "--eval-share", "0", "--lr", "1e-6")
    assert r.returncode == 0, r.stderr[-3000:]
    weights = load_file(str(out / "model" / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}
    base = load_file(os.path.join(tiny_model, "model.safetensors"))
    changed = sum(int((weights[k].float() != base[k].float()).sum()) for k in base) / sum(t.numel() for t in base.values())
    assert changed > 0.5  # lr 1e-6 still moves most weights: updates are not rounded away
    mix = json.loads((out / "mix.json").read_text())
    assert mix["rows_trl_dropped"] > 0 and mix["train_rows_trained"] + mix["rows_trl_dropped"] == 24
    assert "TRL left out" in r.stderr and "TRL left out" in (out / "model" / "README.md").read_text()


def test_dpo_reward_margin_grows(tmp_path, tiny_model):
    out = tmp_path / "dpo"
    r = run_langmill("train", "dpo", "--data", _pref_shard(tmp_path / "prefs"), "--model", tiny_model, "--out", out, "--max-steps", "30",
                     "--lr", "5e-4", "--beta", "0.1", "--eval-share", "0.1", *FAST)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = _metrics(out)
    margins = _losses(metrics, "rewards/margins")
    assert margins[-1] > margins[0] and metrics["eval"]["eval_rewards/accuracies"] >= 0.8
    assert json.loads((out / "config.json").read_text())["trl"]["beta"] == 0.1
    assert "eval_rewards/margins" in r.stdout


def test_cpt_on_corpus_shards_with_instructions_mixed_in_and_lora(tmp_path, tiny_model):
    out = tmp_path / "cpt"
    sft = _sft_shard(tmp_path / "sft-fi", n=20)
    r = run_langmill("train", "cpt", "--data", f"{SAMPLE_DIR / 'corpus.jsonl'}:3", "--data", f"{sft}:1", "--total-rows", "160", "--model", tiny_model,
                     "--out", out, "--max-steps", "30", "--lr", "2e-3", "--lora", "--lora-r", "8", *FAST)
    assert r.returncode == 0, r.stderr[-3000:]
    losses = _losses(_metrics(out))
    assert losses[-1] < losses[0]
    mix = json.loads((out / "mix.json").read_text())
    corpus_rows = sum(1 for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip())
    assert [p["taken"] for p in mix["sources"]] == [120, 40] and [p["rows"] for p in mix["sources"]] == [corpus_rows, 20]
    assert mix["sources"][1]["times_seen"] == 2.0  # a source smaller than its share is repeated
    assert (out / "model" / "adapter_model.safetensors").exists()  # LoRA: the adapter is what is saved


def test_mixes_match_their_weights():
    assert allocate([100, 100, 100], [0.4, 0.4, 0.2], 1000) == [400, 400, 200]
    rows = pl.DataFrame({"lang": ["en"] * 700 + ["fi"] * 250 + ["en-fi"] * 50, "text": [str(i) for i in range(1000)]})
    mixed, manifest = mix_languages(rows, {"en": 0.4, "fi": 0.4, "en-fi": 0.2}, seed=3, total=1000)
    counts = dict(mixed.group_by("lang").len().iter_rows())
    assert counts == {"en": 400, "fi": 400, "en-fi": 200}
    assert {p["part"]: p["times_seen"] for p in manifest} == {"en": pytest.approx(400 / 700, abs=1e-3), "fi": 1.6, "en-fi": 4.0}
    # Sampling without replacement up to a source's size: no row twice until every row was taken.
    en = mixed.filter(pl.col("lang") == "en")
    assert en["text"].n_unique() == 400


def test_sft_language_mix_and_chatml(tmp_path, tiny_model):
    fi, en = _sft_shard(tmp_path / "fi", n=30), _sft_shard(tmp_path / "en", n=30, lang="en")
    out = tmp_path / "mixed"
    r = run_langmill("train", "sft", "--data", fi, "--data", en, "--mix", "fi:0.75,en:0.25", "--total-rows", "40", "--chat-template", "chatml",
                     "--model", tiny_model, "--out", out, "--max-steps", "4", "--eval-share", "0", *FAST)
    assert r.returncode == 0, r.stderr[-3000:]
    mix = json.loads((out / "mix.json").read_text())
    assert {p["part"]: p["taken"] for p in mix["languages"]} == {"fi": 30, "en": 10} and mix["realised_languages"] == {"fi": 30, "en": 10}
    tokenizer_config = (out / "model" / "chat_template.jinja").read_text()
    assert "<|im_start|>" in tokenizer_config
    card = (out / "model" / "README.md").read_text()
    assert str(fi) in card and str(en) in card and "| fi | 30 | 0.75 | 30 | 0.75 |" in card


def test_resume_after_sigkill_continues_from_the_checkpoint(tmp_path, tiny_model):
    data = _sft_shard(tmp_path / "sft-fi")
    out = tmp_path / "killed"
    args = ["train", "sft", "--data", data, "--model", tiny_model, "--out", out, "--max-steps", "400", "--save-steps", "10", "--lr", "1e-3", *FAST]
    proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args)], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / "checkpoints").glob("checkpoint-20")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # A kill during a save leaves a checkpoint without trainer_state.json (the Trainer writes it
    # last): make the newest one such, the run must resume from the one before it.
    complete = sorted(int(p.parent.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    if len(complete) > 1:
        (out / "checkpoints" / f"checkpoint-{complete[-1]}" / "trainer_state.json").unlink()
        complete.pop()
    last = complete[-1]
    r = run_langmill(*args)
    assert r.returncode == 0 and "Resuming from" in r.stderr, r.stderr[-3000:]
    metrics = _metrics(out)
    assert metrics["resumed_from"].endswith(f"checkpoint-{last}") and metrics["global_step"] == 400
    steps = [h["step"] for h in metrics["log_history"] if "loss" in h]
    assert steps[0] <= last + 5 and steps == sorted(set(steps)) and steps[-1] == 400  # continued, not restarted


def test_bad_inputs_are_one_line_errors(tmp_path, tiny_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    prefs = _pref_shard(tmp_path / "prefs")
    same = tmp_path / "same"
    same.mkdir()
    rows = pl.read_parquet(prefs / "prefs.parquet")
    rows.with_columns(pl.col("chosen").alias("rejected")).head(3).write_parquet(same / "prefs.parquet")
    config = tmp_path / "trl.yaml"
    config.write_text("learning_rat: 0.1\n")
    cases = [
        (["sft", "--data", empty, "--model", tiny_model], "no .parquet or .jsonl shards"),
        (["sft", "--data", prefs, "--model", tiny_model], "no `messages` column"),
        (["dpo", "--data", same, "--model", tiny_model], "chosen equals rejected"),
        (["sft", "--data", _sft_shard(tmp_path / "ok", n=4), "--model", tmp_path / "no-model"], "no such model folder"),
        (["dpo", "--data", prefs, "--model", tiny_model, "--config", config], "did you mean 'learning_rate'"),
        (["sft", "--data", f"{prefs}:x", "--model", tiny_model], "not a number"),
        (["sft", "--data", _sft_shard(tmp_path / "ok2", n=4), "--model", tiny_model, "--mix", "sv:1"], "no row has lang='sv'"),
        (["sft", "--data", _sft_shard(tmp_path / "ok3", n=4), "--model", tiny_model, "--qlora"], "--qlora needs a CUDA GPU"),
    ]
    for k, (args, expected) in enumerate(cases):
        r = run_langmill("train", *args, "--out", tmp_path / f"out-{k}")
        assert r.returncode == 2 and expected in r.stderr and len(r.stderr.strip().splitlines()) <= 2, (args, r.stderr[-800:])
        assert "Traceback" not in r.stderr


def _launcher(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    bin_dir = os.path.dirname(sys.executable)
    return subprocess.run([os.path.join(bin_dir, command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_multi_process_launchers_run_the_module(tmp_path, tiny_model):
    data = _sft_shard(tmp_path / "sft-fi", n=64)
    common = ["-m", "langmill.train", "sft", "--data", str(data), "--model", tiny_model, "--max-steps", "6", "--eval-share", "0", *FAST]
    # torchrun: two CPU processes (gloo), data parallel: each step sees twice the samples of one process.
    r = _launcher("torchrun", "--nproc_per_node", "2", "--nnodes", "1", *common, "--out", str(tmp_path / "ddp"))
    assert r.returncode == 0, r.stderr[-3000:]
    epoch = _metrics(tmp_path / "ddp")["train"]["epoch"]
    assert epoch == pytest.approx(6 * 4 * 2 / 64, abs=0.1)
    assert r.stdout.count("model:") == 1  # one process writes and reports
    # accelerate launch (one CPU process: `--cpu --num_processes 2` silently runs one, see FACTS.md).
    r = _launcher("accelerate", "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no", *common, "--out", str(tmp_path / "accelerate"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert _metrics(tmp_path / "accelerate")["train"]["epoch"] == pytest.approx(6 * 4 / 64, abs=0.1)
