"""The `langmill` command line."""

import json
import os
import shutil
import sys
import time

import click

from langmill import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="langmill")
def main():
    """langmill: training data for languages that have little of it."""


def _fail(message: str) -> None:
    click.echo(f"langmill: error: {message}", err=True)
    sys.exit(2)


def _check_inputs_out_model(inputs, out, lid_model: str | None) -> None:
    """The arguments every data command needs, checked before any work starts."""
    if not inputs:
        _fail("no INPUT given (files, directories or globs)")
    if not out:
        _fail("--out is required")
    if lid_model and not os.path.isfile(lid_model):
        _fail(f"{lid_model}: language-ID model not found")


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--lang", help="Target language (ISO 639-1 such as fi, or 639-3 such as fin / fin_Latn).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/.")
@click.option("--text-key", default="text", help="Field (JSONL) or column (Parquet) that holds the text.")
@click.option("--id-key", default="id", help="Field or column with the document id; ids are generated as FILE:LINE when absent.")
@click.option("--split", type=click.Choice(["document", "paragraphs"]), default="document", help="For .txt inputs: one document per file, or one per blank-line-separated block.")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model (GlotLID, OpenLID, ...). Default: the embedded lid.176.ftz.")
@click.option("--lid-threshold", type=float, help="Minimum language-ID probability of the target language. [default: 0.65]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file overriding any default setting (see --print-config).")
@click.option("--print-config", is_flag=True, help="Print the settings for --lang (defaults merged with --config) and exit.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Tasks run in parallel.")
@click.option("--tasks", type=click.IntRange(min=1), help="Tasks the input is split into (by file, or within files when there are fewer files than tasks). [default: --workers]")
@click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default="local", help="datatrove executor; slurm/ray options come from the executor section of --config.")
@click.option("--overwrite", is_flag=True, help="Delete OUT first instead of resuming the run found there.")
@click.option("--verbose", is_flag=True, help="Show datatrove's task logs and stats tables on the terminal (they are always in OUT/logs/).")
def corpus(inputs, lang, out, text_key, id_key, split, lid_model, lid_threshold, config_path, print_config, workers, tasks, executor, overwrite, verbose):
    """Raw text -> clean, deduplicated Parquet shards in one language.

    INPUT is any mix of files, directories and globs of .jsonl/.jsonl.gz/.jsonl.zst, .parquet,
    .txt (one document per file, or per paragraph with --split paragraphs) and .warc/.warc.gz
    (main text extracted from HTML responses).

    \b
    Steps: normalise (NFC, mojibake repair, whitespace) -> language ID (fastText) -> Gopher
    repetition -> Gopher quality -> C4 lines -> FineWeb quality -> mask e-mail/IP addresses ->
    exact + MinHash-LSH near-duplicate removal. Every dropped row is kept in OUT/excluded/ with
    its reason. Rerunning the same command after a crash resumes and finishes the job.

    \b
    Example:
      langmill corpus crawl/*.jsonl.gz wiki.parquet --lang fi --out fi-corpus --workers 2
    """
    from langmill.config import ConfigError, dump_config, load_config
    from langmill.filters.lid import canonical_lang

    if not lang:
        _fail("--lang is required (e.g. --lang fi)")
    lang = canonical_lang(lang)
    try:
        config, known_language = load_config(lang, config_path)
    except ConfigError as err:
        _fail(str(err))
    if lid_model:
        config["lid"]["model"] = lid_model
    if lid_threshold is not None:
        config["lid"]["threshold"] = lid_threshold
    if print_config:
        click.echo(dump_config(config), nl=False)
        return
    if not known_language:
        click.echo(f"langmill: warning: no quality settings for {lang!r}; using language-neutral defaults (no stop-word rule)", err=True)
    _check_inputs_out_model(inputs, out, config["lid"].get("model"))
    if executor == "slurm" and not config["executor"]["slurm"].get("partition"):
        _fail("--executor slurm needs executor.slurm.partition in a --config file")

    from langmill.pipelines.corpus import CorpusJob, run_corpus
    from langmill.readers import InputError, check_parquet_columns, resolve_inputs

    try:
        files = resolve_inputs(list(inputs))
        check_parquet_columns(files, text_key)
    except InputError as err:
        _fail(str(err))

    if overwrite and os.path.isdir(out):
        if os.listdir(out) and not os.path.exists(os.path.join(out, "logs", "job.json")):
            _fail(f"{out} is not a langmill output folder; refusing to delete it with --overwrite")
        shutil.rmtree(out)
    job = CorpusJob(files=files, lang=lang, out=out, config=config, text_key=text_key, id_key=id_key, split=split,
                    tasks=tasks or workers, workers=workers, executor=executor, verbose=verbose,
                    fork_workers=True)
    fingerprint = {"files": files, "lang": lang, "config": config, "text_key": text_key, "id_key": id_key, "split": split, "tasks": job.tasks}
    fingerprint_path = os.path.join(job.out, "logs", "job.json")
    if os.path.exists(fingerprint_path):
        with open(fingerprint_path) as f:
            if json.load(f) != json.loads(json.dumps(fingerprint)):
                _fail(f"{out} holds a run with other inputs or settings; use another --out, or --overwrite")
        click.echo(f"Resuming the run in {out} (finished tasks are skipped)", err=True)
    os.makedirs(os.path.dirname(fingerprint_path), exist_ok=True)
    with open(fingerprint_path, "w") as f:
        json.dump(fingerprint, f, indent=1)

    input_mb = sum(os.path.getsize(p) for p in files) / 1e6
    click.echo(f"langmill corpus: {len(files)} file(s), {input_mb:,.1f} MB -> {job.out} (lang={lang}, tasks={job.tasks}, workers={workers}, executor={executor})", err=True)
    started = time.monotonic()
    run_corpus(job)
    if executor == "slurm":
        click.echo(f"Submitted to Slurm; outputs appear in {job.out} when the jobs finish.")
        return
    elapsed = time.monotonic() - started
    with open(os.path.join(job.out, "stats.json")) as f:
        stats = json.load(f)
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats["excluded_by_reason"].items()) or "none"
    click.echo(f"rows in {stats['rows_in']:,} | kept {stats['kept']:,} | excluded {stats['excluded']:,} ({reasons})")
    click.echo(f"time {elapsed:.1f} s, {input_mb / elapsed:.2f} MB/s of input")
    click.echo(f"shards:   {os.path.join(job.out, 'data')}/")
    click.echo(f"excluded: {os.path.join(job.out, 'excluded')}/")
    click.echo(f"report:   {os.path.join(job.out, 'report.html')}")
    if not stats["rows_in_equals_kept_plus_excluded"]:
        _fail("rows in != kept + excluded; see stats.json")


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--to", "lang", help="Language the rows were translated into (ISO 639-1 such as fi, or 639-3 such as fin).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json (a previous qc result there is replaced).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file overriding any QC threshold of langmill/configs/qc.yaml (see --print-config).")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model (GlotLID, OpenLID, ...). Default: the embedded lid.176.ftz.")
@click.option("--print-config", is_flag=True, help="Print the QC settings (defaults merged with --config) and exit.")
def qc(inputs, lang, out, config_path, lid_model, print_config):
    """Re-check already translated rows against their English sources, with any thresholds.

    INPUT is any mix of files, directories and globs of .jsonl/.jsonl.gz/.jsonl.zst and .parquet
    with SFT rows (`messages` and `source_messages`, lists of {role, content}) or preference rows
    (`prompt`, `chosen`, `rejected` and `source_prompt`, `source_chosen`, `source_rejected`, each a
    string or a message list).

    \b
    Every message is checked against the source message at the same position: language ID of the
    output, length ratio, compression ratio (repetition), share of non-alphanumeric characters,
    fenced and inline code, URLs, placeholders and markdown structure unchanged, leftover prompt
    lines ("Käännös:", removed when they are a whole first or last line), model-identity words.
    Kept rows go to OUT/data/ (cleaned texts, a `qc` column); every other row to OUT/excluded/ with
    `reason` (its first failed check, or bad_row) and `detail` (all of them).

    \b
    Example:
      langmill qc translated/*.jsonl.gz --to fi --out fi-qc --config strict.yaml
    """
    from langmill.config import ConfigError, dump_config
    from langmill.filters.lid import canonical_lang
    from langmill.filters.output_qc import load_qc_config

    try:
        config = load_qc_config(config_path)
    except ConfigError as err:
        _fail(str(err))
    if lid_model:
        config["lid"]["model"] = lid_model
    if print_config:
        click.echo(dump_config(config), nl=False)
        return
    if not lang:
        _fail("--to is required (e.g. --to fi)")
    lang = canonical_lang(lang)
    _check_inputs_out_model(inputs, out, config["lid"].get("model"))

    from langmill.readers import InputError, input_format, resolve_inputs

    try:
        files = resolve_inputs(list(inputs))
    except InputError as err:
        _fail(str(err))
    for path in files:
        if input_format(path) not in ("jsonl", "parquet"):
            _fail(f"{path}: langmill qc reads .jsonl(.gz/.zst) and .parquet rows only")
    if os.path.isdir(out) and os.listdir(out):
        previous = os.path.join(out, "stats.json")
        try:
            with open(previous) as f:
                is_qc = json.load(f).get("stage") == "qc"
        except (OSError, ValueError):
            is_qc = False
        if not is_qc:
            _fail(f"{out} exists and holds no langmill qc result; use another --out")

    from langmill.filters.lid import LanguageFilter
    from langmill.pipelines.qc import run_qc

    lid = LanguageFilter(lang, model_path=config["lid"].get("model"))
    click.echo(f"langmill qc: {len(files)} file(s) -> {out} (to={lang})", err=True)
    stats = run_qc(files, lang, out, config, lid, progress=lambda n: click.echo(f"  {n:,} rows checked", err=True))
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats["excluded_by_reason"].items()) or "none"
    click.echo(f"rows in {stats['rows_in']:,} | kept {stats['kept']:,} | excluded {stats['excluded']:,} ({reasons})")
    click.echo(f"time {stats['time_s']:.1f} s")
    click.echo(f"shards:   {os.path.join(out, 'data')}/")
    click.echo(f"excluded: {os.path.join(out, 'excluded')}/")
    if not stats["rows_in_equals_kept_plus_excluded"]:
        _fail("rows in != kept + excluded; see stats.json")


if __name__ == "__main__":
    main()
