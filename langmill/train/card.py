"""The model card of a `langmill train` run (OUT/model/README.md): what it was trained on (every
input with the counts of the stage that made it), the realised mix, the settings and the result."""

from __future__ import annotations

import yaml


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _input_rows(job, manifest: dict) -> list[str]:
    taken = {part["part"]: part for part in manifest["sources"]}
    lines = ["| input | stage | rows in the stage (kept / excluded) | weight | rows taken | times seen |", "|---|---|---|---|---|---|"]
    for source in job.sources:
        stats, part = source.stats or {}, taken.get(source.spec, {})
        counts = f"{stats.get('rows_in', '-')} ({stats.get('kept', '-')} / {stats.get('excluded', '-')})" if stats else "- (not a langmill output folder)"
        lines.append(f"| `{source.path}` | {stats.get('stage', '-')} | {counts} | {source.weight:g} | {part.get('taken', '-')} | {part.get('times_seen', '-')} |")
    return lines


def model_card(job, args, metrics: dict, manifest: dict) -> str:
    languages = [lang for lang in manifest.get("realised_languages", {}) if lang not in (None, "None", "null")]
    header = {"base_model": job.model, "library_name": "transformers" if not job.lora else "peft", "language": languages or None,
              "tags": ["langmill", "trl", job.kind] + (["lora"] if job.lora else []), "pipeline_tag": "text-generation"}
    header = {k: v for k, v in header.items() if v is not None}
    final = metrics.get("train") or {}
    evaluation = metrics.get("eval") or {}
    settings = {"learning rate": args.learning_rate, "epochs": args.num_train_epochs, "max steps": args.max_steps,
                "batch size per device": args.per_device_train_batch_size, "gradient accumulation": args.gradient_accumulation_steps,
                "max length": getattr(args, "max_length", None), "packing": getattr(args, "packing", None), "beta (DPO)": getattr(args, "beta", None),
                "chat template": job.chat_template or "the tokenizer's", "loss on": "every token" if job.all_tokens or job.kind == "cpt" else
                ("assistant turns" if job.kind == "sft" else "chosen vs rejected"), "LoRA": job.lora or "no (full fine-tuning)", "seed": job.seed}
    lines = [
        "---", yaml.safe_dump(header, allow_unicode=True, sort_keys=False).strip(), "---", "",
        f"# {job.kind.upper()} of {job.model} with langmill", "",
        f"Trained with `langmill train {job.kind}` (TRL {_trl_version()}) on the shards below, "
        f"{manifest['train_rows']:,} training rows and {manifest['eval_rows']:,} held out"
        + (f"; TRL left out {manifest['rows_trl_dropped']:,} rows with nothing to learn after truncation to max_length" if manifest.get("rows_trl_dropped") else "")
        + ".", "",
        "## Training data", "", *_input_rows(job, manifest), "",
    ]
    if manifest.get("languages"):
        lines += ["Mixed by language (`--mix`, shares of the rows by the `lang` column):", "",
                  "| lang | rows available | target share | rows taken | realised share |", "|---|---|---|---|---|",
                  *[f"| {p['part']} | {p['rows']} | {p['target_share']} | {p['taken']} | {p['realised_share']} |" for p in manifest["languages"]], ""]
    lines += ["Languages of the training rows: " + (", ".join(f"{k} {v:,}" for k, v in manifest.get("realised_languages", {}).items()) or "-"), "",
              "## Settings", "", *[f"- {k}: {_number(v)}" for k, v in settings.items() if v is not None], "",
              "## Result", "", f"- steps: {metrics.get('global_step')}",
              *[f"- {k}: {_number(v)}" for k, v in final.items() if k in ("train_loss", "train_runtime", "train_samples_per_second")],
              *[f"- {k}: {_number(v)}" for k, v in evaluation.items() if k.startswith("eval_") and "runtime" not in k and "per_second" not in k], ""]
    return "\n".join(lines)


def _trl_version() -> str:
    import trl

    return trl.__version__
