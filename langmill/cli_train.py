"""`langmill train cpt|sft|dpo` (also `python -m langmill.train ...`, e.g. under `accelerate launch`):
options -> a TrainJob -> run_train (no logic of its own)."""

import difflib
import os
import time

import click

from langmill.cli import _fail, _start


@click.group(name="train")
def train_group():
    """Train from langmill shards with TRL: continued pretraining, SFT, DPO; mixes by weight."""


def _train_options(command):
    for option in reversed((
        click.option("--data", "data", multiple=True, metavar="DIR[:WEIGHT]",
                     help="A langmill output folder (its data/ shards), a folder of shards or a file, with an optional weight (its share of the mix); repeat."),
        click.option("--model", help="Base model: a local folder or a Hub id."),
        click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: model/ (with its card), train_metrics.json, config.json, mix.json, checkpoints/."),
        click.option("--mix", help="Shares by the `lang` column, e.g. en:0.4,fi:0.4,cross:0.2 (rows of other languages are left out)."),
        click.option("--total-rows", type=click.IntRange(min=1), help="Rows of the mix (sources or languages repeated or sampled to their shares). [default: all rows]"),
        click.option("--eval-share", type=click.FloatRange(0, 0.5), default=0.05, show_default=True, help="Held-out share for eval loss (DPO: reward accuracy and margins)."),
        click.option("--chat-template", help="chatml (Poro's; its tokens are added when missing), a Jinja file, or the tokenizer's own (default)."),
        click.option("--lora", is_flag=True, help="Train a LoRA adapter (peft) instead of every weight."),
        click.option("--qlora", is_flag=True, help="LoRA on the base model loaded in 4 bits (bitsandbytes NF4; a CUDA GPU)."),
        click.option("--lora-r", type=click.IntRange(min=1), default=16, show_default=True),
        click.option("--lora-alpha", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML of TRL options (SFTConfig / DPOConfig names, e.g. lr_scheduler_type, warmup_steps (below 1: a share of the steps), deepspeed); flags win over it."),
        click.option("--epochs", type=click.FloatRange(min=0), help="num_train_epochs. [default: cpt 1, sft 3, dpo 1]"),
        click.option("--max-steps", type=int, help="max_steps (overrides --epochs)."),
        click.option("--lr", type=float, help="learning_rate. [default: cpt 1e-4, sft 2e-5, dpo 5e-7]"),
        click.option("--batch-size", type=click.IntRange(min=1), help="per_device_train_batch_size. [TRL: 8]"),
        click.option("--grad-accum", type=click.IntRange(min=1), help="gradient_accumulation_steps. [TRL: 1]"),
        click.option("--max-length", type=click.IntRange(min=8), help="max_length in tokens (cpt: the packed block). [TRL: 1024]"),
        click.option("--save-steps", type=click.IntRange(min=1), help="Checkpoint every N steps (a rerun resumes from the last). [default: 50]"),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of mixing, the split and training."),
        click.option("--trust-remote-code", is_flag=True, help="Run Python code from the model repository. Off unless you pass it."),
        click.option("--overwrite", is_flag=True, help="Delete OUT first instead of resuming the run found there."),
    )):
        command = option(command)
    return command


def _trl_options(kind: str, config_path: str | None, flags: dict) -> dict:
    """The --config YAML's TRL options, each checked against TRL's config, with the flags over them."""
    from trl import DPOConfig, SFTConfig

    from langmill.config import ConfigError, read_yaml

    known = set((DPOConfig if kind == "dpo" else SFTConfig).__dataclass_fields__)
    options = {}
    if config_path:
        try:
            options = read_yaml(config_path) or {}
        except ConfigError as err:
            _fail(str(err))
        if not isinstance(options, dict):
            _fail(f"{config_path}: not a mapping of TRL options")
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(key, known, 1)
                _fail(f"{config_path}: {key!r} is not an option of TRL's {'DPOConfig' if kind == 'dpo' else 'SFTConfig'}"
                      + (f" (did you mean {close[0]!r}?)" if close else ""))
        options.pop("output_dir", None)  # OUT/checkpoints, always
    return {**options, **{k: v for k, v in flags.items() if v is not None}}


def _run(kind: str, data, model, out, mix, total_rows, eval_share, chat_template, lora, qlora, lora_r, lora_alpha, config_path, epochs, max_steps, lr,
         batch_size, grad_accum, max_length, save_steps, seed, trust_remote_code, overwrite, extra_trl: dict | None = None, all_tokens: bool = False):
    from langmill.train.data import Source, TrainDataError, parse_mix
    from langmill.train.run import TrainJob, run_train

    for value, flag in ((data, "--data"), (model, "--model"), (out, "--out")):
        if not value:
            _fail(f"{flag} is required")
    if model.startswith(("/", ".", "~")) and not os.path.exists(os.path.expanduser(model)):
        _fail(f"--model {model}: no such model folder")
    if chat_template and chat_template != "chatml":
        if not os.path.isfile(chat_template):
            _fail(f"--chat-template {chat_template}: neither chatml nor a Jinja file")
        chat_template = open(chat_template, encoding="utf-8").read()
    try:
        sources = [Source(spec) for spec in data]
        shares = parse_mix(mix) if mix else None
    except TrainDataError as err:
        _fail(str(err))
    trl = _trl_options(kind, config_path, {"num_train_epochs": epochs, "max_steps": max_steps, "learning_rate": lr, "per_device_train_batch_size": batch_size,
                                           "gradient_accumulation_steps": grad_accum, "max_length": max_length, "save_steps": save_steps,
                                           **(extra_trl or {})})
    job = TrainJob(kind=kind, sources=sources, model=model, out=out, mix=shares, total=total_rows, eval_share=eval_share, chat_template=chat_template,
                   all_tokens=all_tokens, lora={"r": lora_r, "lora_alpha": lora_alpha, "lora_dropout": 0.05, "target_modules": "all-linear"} if lora or qlora else None,
                   qlora=qlora, trl=trl, seed=seed, trust_remote_code=trust_remote_code)
    files = [f for s in sources for f in s.files]
    fingerprint = {"command": f"train {kind}", "files": files, "weights": [s.weight for s in sources], "model": model, "mix": shares, "total": total_rows,
                   "eval_share": eval_share, "chat_template": chat_template, "all_tokens": all_tokens, "lora": job.lora, "qlora": qlora, "trl": trl, "seed": seed}
    if int(os.environ.get("RANK", "0")) == 0:  # one process of a multi-process launch owns OUT
        _start(out, fingerprint, overwrite)
    click.echo(f"langmill train {kind}: {len(sources)} input(s), {model} -> {job.out}", err=True)
    started = time.monotonic()
    try:
        metrics = run_train(job, echo=lambda line: click.echo(line, err=True))
    except TrainDataError as err:
        _fail(str(err))
    except OSError as err:  # a model or tokenizer that cannot be loaded
        _fail(f"--model {model}: {' '.join(str(err).split())[:300]}")
    if int(os.environ.get("RANK", "0")) != 0:
        return
    loss = (metrics.get("train") or {}).get("train_loss")
    evaluation = metrics.get("eval") or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in evaluation.items() if k in ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins"))
    click.echo(f"{metrics['global_step']} steps in {time.monotonic() - started:.1f} s; train loss {loss:.4g}" + (f"; {shown}" if shown else ""))
    click.echo(f"model:   {os.path.join(job.out, 'model')}/ (card: README.md)")
    click.echo(f"records: {os.path.join(job.out, 'train_metrics.json')}, config.json, mix.json")


@train_group.command()
@_train_options
def cpt(**options):
    """Continued pretraining on corpus shards (`text`), packed into --max-length blocks; SFT
    shards given too are rendered with the chat template and trained on as text (Latxa).

    \b
    Example:
      langmill train cpt --data corpus-eu:0.9 --data synth-eu:0.1 --model meta-llama/Llama-3.1-8B --out cpt-eu --max-length 4096
    """
    _run("cpt", **options)


@train_group.command()
@_train_options
@click.option("--all-tokens", is_flag=True, help="Train on every token, user turns included (default: the assistant turns and their end-of-turn only).")
@click.option("--packing", is_flag=True, help="Pack conversations into --max-length blocks (no attention across them).")
def sft(packing, all_tokens, **options):
    """Supervised fine-tuning on chat shards (`messages`: translate, magpie, synth outputs),
    with the loss on the assistant turns, the template's end-of-turn token included.

    \b
    Example (Poro's bilingual mix):
      langmill train sft --data sft-fi --data sft-en --mix en:0.4,fi:0.4,cross:0.2 --model M --out sft-fi --chat-template chatml
    """
    _run("sft", **options, extra_trl={"packing": True} if packing else None, all_tokens=all_tokens)


@train_group.command()
@_train_options
@click.option("--beta", type=float, help="DPO's beta. [default: 0.1; Poro used 0.05]")
def dpo(beta, **options):
    """Direct preference optimisation on preference shards (prompt/chosen/rejected from
    langmill prefs or translate); the held-out split reports reward accuracy and margins.

    \b
    Example:
      langmill train dpo --data prefs-fi --data prefs-en --model sft-fi/model --out dpo-fi --beta 0.05 --lr 5e-7
    """
    _run("dpo", **options, extra_trl={"beta": beta})

