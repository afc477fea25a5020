"""`langmill train cpt|sft|dpo`: TRL does the training; langmill loads its shards, mixes them,
applies the chat template and records what was trained on what.

    --data DIR[:W] ...  -> load_source (checked) -> mix by weight (and --mix by language)
                        -> held-out split -> cpt: text (conversations rendered), packed
                                             sft: token ids + a mask of the assistant turns
                                             dpo: prompt/chosen/rejected message lists
                        -> TRL's SFTTrainer / DPOTrainer (full or LoRA) with checkpoints in
                           OUT/checkpoints/ (a rerun resumes from the last)
                        -> OUT/model/ (weights + tokenizer), OUT/train_metrics.json,
                           OUT/config.json (the effective TRL config), OUT/mix.json, OUT/README.md
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from langmill.train.data import CHATML, CHATML_TOKENS, Source, TrainDataError, load_source, mix_languages, mix_sources, render, split_eval, tokenize_chat

FLAG_DEFAULTS = {  # TRL's names; what the flags set unless --config sets them
    "sft": {"learning_rate": 2e-5, "num_train_epochs": 3.0},
    "cpt": {"learning_rate": 1e-4, "num_train_epochs": 1.0},
    "dpo": {"learning_rate": 5e-7, "num_train_epochs": 1.0, "beta": 0.1},
}


@dataclass
class TrainJob:
    """Everything one `langmill train` run needs; built by the CLI, usable from Python.

    trl: options of TRL's SFTConfig/DPOConfig (flags and the --config YAML merged); langmill sets
        output_dir, the CPU/precision switches and the evaluation schedule itself.
    """

    kind: str
    sources: list[Source]
    model: str
    out: str
    mix: dict[str, float] | None = None
    total: int | None = None
    eval_share: float = 0.05
    chat_template: str | None = None  # "chatml", a Jinja file's text, or None: the tokenizer's own
    all_tokens: bool = False  # sft: train on every token, user turns included
    lora: dict | None = None  # peft LoraConfig options, or None for full fine-tuning
    qlora: bool = False  # the base model loaded in 4 bits (bitsandbytes NF4, CUDA only) under the LoRA adapter
    trl: dict = field(default_factory=dict)
    seed: int = 0
    trust_remote_code: bool = False

    def __post_init__(self):
        self.out = os.path.abspath(self.out)

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.out, "checkpoints")


def load_rows(job: TrainJob):
    """(train rows, eval rows, manifest) as polars frames, mixed as the job says."""
    parts = [(source, load_source(source, job.kind)) for source in job.sources]
    rows, manifest = mix_sources(parts, job.seed, None if job.mix else job.total)
    language_manifest = None
    if job.mix:
        rows, language_manifest = mix_languages(rows, job.mix, job.seed, job.total)
    train, held_out = split_eval(rows, job.eval_share, job.seed)
    return train, held_out, {"sources": manifest, "languages": language_manifest, "train_rows": train.height, "eval_rows": held_out.height}


def realised_languages(rows) -> dict[str, int]:
    return {str(k): v for k, v in sorted(rows.group_by("lang").len().iter_rows(), key=lambda kv: -kv[1])}


def _template(job: TrainJob) -> str | None:
    return CHATML if job.chat_template == "chatml" else job.chat_template


def load_tokenizer(job: TrainJob):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(job.model, trust_remote_code=job.trust_remote_code)
    if job.chat_template == "chatml":
        missing = [t for t in CHATML_TOKENS if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
    template = _template(job)
    if template:
        tokenizer.chat_template = template
    if job.kind != "cpt" and not tokenizer.chat_template:
        raise TrainDataError(f"{job.model}: the tokenizer has no chat template (a base model?); pass --chat-template chatml")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def to_dataset(job: TrainJob, rows, tokenizer):
    """The `datasets.Dataset` TRL gets: cpt `text`; sft `input_ids` + `assistant_masks` (or
    `messages` with --all-tokens); dpo `prompt`/`chosen`/`rejected`."""
    from datasets import Dataset

    if job.kind == "cpt":
        texts = [r["text"] if r["text"] is not None else render(tokenizer, r["messages"], None) for r in rows.iter_rows(named=True)]
        return Dataset.from_dict({"text": texts})
    if job.kind == "dpo":
        return Dataset.from_dict({k: rows[k].to_list() for k in ("prompt", "chosen", "rejected")})
    if job.all_tokens:
        return Dataset.from_dict({"messages": rows["messages"].to_list()})
    tokenized = [tokenize_chat(tokenizer, m, None) for m in rows["messages"].to_list()]
    empty = sum(1 for t in tokenized if 1 not in t["assistant_masks"])
    if empty == len(tokenized):
        raise TrainDataError("no assistant turn in any conversation: nothing to train on (the chat template drops them?)")
    return Dataset.from_dict({"input_ids": [t["input_ids"] for t in tokenized], "assistant_masks": [t["assistant_masks"] for t in tokenized]})


def trl_config(job: TrainJob, has_eval: bool):
    """TRL's config for the job: the user's options over langmill's defaults, and the switches
    this machine needs (TRL defaults to bf16 and gradient checkpointing, which a CPU cannot use)."""
    import torch
    from trl import DPOConfig, SFTConfig

    cls = DPOConfig if job.kind == "dpo" else SFTConfig
    gpu = torch.cuda.is_available()
    options = {
        **FLAG_DEFAULTS[job.kind], "output_dir": job.checkpoints, "seed": job.seed, "report_to": "none", "logging_steps": 5,
        "save_strategy": "steps", "save_steps": 50, "save_total_limit": 2, "use_cpu": not gpu,
        "bf16": bool(gpu and torch.cuda.is_bf16_supported()), "gradient_checkpointing": gpu,
        **({"eval_strategy": "steps", "eval_steps": 50} if has_eval else {"eval_strategy": "no"}),
    }
    if job.kind == "cpt":
        options.update(packing=True, dataset_text_field="text")
    options.update(job.trl)
    return cls(**options)


def _lora(job: TrainJob):
    if not job.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", **job.lora)


def quantization(job: TrainJob) -> dict:
    """from_pretrained's arguments for QLoRA: 4-bit NF4 weights, double quantisation, bf16 compute."""
    if not job.qlora:
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise TrainDataError("--qlora needs a CUDA GPU (bitsandbytes 4-bit); use --lora on this machine")
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
    return {"quantization_config": config, "device_map": {"": int(os.environ.get("LOCAL_RANK", "0"))}}


def last_checkpoint(job: TrainJob) -> str | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it is one a kill interrupted (resuming from it would fail or lose the optimizer)."""
    if not os.path.isdir(job.checkpoints):
        return None
    found = [(int(name.split("-")[1]), name) for name in os.listdir(job.checkpoints) if name.startswith("checkpoint-") and name.split("-")[1].isdigit()]
    for _, name in sorted(found, reverse=True):
        if os.path.isfile(os.path.join(job.checkpoints, name, "trainer_state.json")):
            return os.path.join(job.checkpoints, name)
    return None


def run_train(job: TrainJob, echo=print) -> dict:
    """Train, write OUT/model/ and the records; returns train_metrics (as written)."""
    from transformers import AutoModelForCausalLM

    started = time.monotonic()
    train_rows, eval_rows, manifest = load_rows(job)
    tokenizer = load_tokenizer(job)
    train_set, eval_set = to_dataset(job, train_rows, tokenizer), (to_dataset(job, eval_rows, tokenizer) if eval_rows.height else None)
    args = trl_config(job, eval_set is not None)
    # Full fine-tuning keeps float32 master weights (a bf16 checkpoint loaded as bf16 loses most
    # updates below its rounding step: DPO at lr 5e-7 changed 0.8 % of the weights instead of 89 %);
    # mixed precision still computes in bf16 on a GPU. A LoRA base stays in its own dtype.
    dtype = "auto" if job.lora else "float32"
    model = AutoModelForCausalLM.from_pretrained(job.model, trust_remote_code=job.trust_remote_code, dtype=dtype, **quantization(job))
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # ChatML tokens added
        model.resize_token_embeddings(len(tokenizer))
    if job.kind == "dpo":
        from trl import DPOTrainer

        trainer = DPOTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set, processing_class=tokenizer, peft_config=_lora(job))
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set, processing_class=tokenizer, peft_config=_lora(job))
    manifest["rows_trl_dropped"] = len(train_set) - len(trainer.train_dataset)  # too long to keep anything to learn from
    if manifest["rows_trl_dropped"]:
        echo(f"warning: TRL left out {manifest['rows_trl_dropped']:,} of {len(train_set):,} training rows: nothing to learn from after "
             f"truncation to max_length {args.max_length} (the prompt fills it); raise --max-length to keep them")
    manifest["train_rows_trained"] = len(trainer.train_dataset)
    resume = last_checkpoint(job)
    if resume:
        echo(f"Resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    metrics = {"train": result.metrics, "eval": trainer.evaluate() if eval_set is not None else None, "log_history": trainer.state.log_history,
               "global_step": trainer.state.global_step, "resumed_from": resume, "seconds": round(time.monotonic() - started, 1),
               "train_samples_per_second": result.metrics.get("train_samples_per_second")}
    if trainer.is_world_process_zero():
        model_dir = os.path.join(job.out, "model")
        trainer.save_model(model_dir)
        tokenizer.save_pretrained(model_dir)
        manifest["realised_languages"] = realised_languages(train_rows)
        write_records(job, args, metrics, manifest)
    return metrics


def _write_json(path: str, data) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False, default=str)
    os.replace(tmp, path)


def write_records(job: TrainJob, args, metrics: dict, manifest: dict) -> None:
    from langmill.train.card import model_card

    _write_json(os.path.join(job.out, "train_metrics.json"), metrics)
    trl = args.to_dict()  # hides every *_token field; the two that are not secrets are written as they are
    trl.update({k: getattr(args, k) for k in ("eos_token", "pad_token") if hasattr(args, k)})
    _write_json(os.path.join(job.out, "config.json"), {"kind": job.kind, "model": job.model, "trl": trl, "lora": job.lora,
                                                         "chat_template": job.chat_template, "all_tokens": job.all_tokens, "seed": job.seed})
    _write_json(os.path.join(job.out, "mix.json"), manifest)
    with open(os.path.join(job.out, "model", "README.md"), "w", encoding="utf-8") as f:
        f.write(model_card(job, args, metrics, manifest))
