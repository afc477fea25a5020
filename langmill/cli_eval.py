"""`langmill eval winrate` and `langmill eval mtbench`: options -> an EvalJob -> run (no logic of its own)."""

import os
import time

import click

from langmill.cli import _check_engine, _check_language, _engine_options, _fail, _finish, _model_endpoint, _run_job, _run_options, _start


@click.group(name="eval")
def eval_group():
    """Judged evaluation in the target language: win rate of two answer sets, MT-Bench(-X)."""


def _judge_options(command):
    for option in reversed((
        click.option("--lang", help="Target language of the answers (ISO 639-1 such as fi, or 639-3)."),
        click.option("--judge", help="The judge model: NAME (started by langmill, or served by --endpoint-url) or NAME=URL (its own endpoint)."),
        click.option("--out", "out", type=click.Path(file_okay=False), help="Output folder: results.json, report.html, data/ (judgements), excluded/, answers/."),
        click.option("--judge-max-tokens", type=click.IntRange(min=16), default=1024, help="Upper bound of tokens of one judgement."),
        click.option("--max-rationale-chars", type=click.IntRange(min=10), default=1000, help="maxLength of the judge's rationale in the JSON schema."),
        click.option("--judge-prompts", type=click.Path(dir_okay=False), help="YAML replacing sections of langmill/generators/prompts/judge.yaml (localized judge prompts)."),
        click.option("--system", help="System message of generated answers. [default: none: the model as its users meet it, so that language fidelity measures the model]"),
        click.option("--max-tokens", type=click.IntRange(min=1), default=1024, help="Upper bound of tokens per generated answer."),
        click.option("--seed", type=int, default=0, help="Seed of the requests and of the bootstrap intervals."),
        click.option("--limit", type=click.IntRange(min=1), help="Only the first N prompts (for a quick look)."),
    )):
        command = option(command)
    return command


def _side(label: str, value: str, flags: dict, option: str):
    """A side of the evaluation: an answers file or folder (a path that exists and is not a model
    folder) or a model."""
    from langmill.generators.engine import EngineConfig
    from langmill.pipelines.evaluate import Side

    if os.path.exists(value) and not os.path.isfile(os.path.join(value, "config.json")):
        from langmill.answers import read_answers
        from langmill.readers import InputError

        try:
            answers = read_answers(value)
        except InputError as err:
            _fail(f"{option}: {err}")
        if not answers.answers:
            _fail(f"{option} {value}: no answers in it")
        return Side(label, answers.model, answers=value)
    if value.endswith((".jsonl", ".json", ".parquet", ".gz", ".zst")):
        _fail(f"{option} {value}: no such answers file")
    name, url = _model_endpoint(value, flags["endpoint_url"])
    engine = EngineConfig(model=name, endpoint_url=url, **{k: v for k, v in flags.items() if k != "endpoint_url"})
    _check_engine(engine)
    return Side(label, name, engine=engine)


def _eval_job(kind, files, lang, sides, judge, out, judge_max_tokens, max_rationale_chars, judge_prompts, system, max_tokens, temperature, seed, limit,
              engine_flags, tasks, workers, executor, executor_config, verbose, **extra):
    """The EvalJob of either command, every setting checked first."""
    from langmill.config import ConfigError, load_executor_config
    from langmill.generators.engine import EngineConfig
    from langmill.generators.judge import JudgeSettings, load_judge_prompts
    from langmill.generators.prefs import PolicySettings
    from langmill.pipelines.evaluate import EvalJob

    try:
        prompts = load_judge_prompts(judge_prompts)
        executor_options = load_executor_config(executor_config)
    except ConfigError as err:
        _fail(str(err))
    judge_name, judge_url = _model_endpoint(judge, engine_flags["endpoint_url"])
    judge_engine = EngineConfig(model=judge_name, endpoint_url=judge_url, **{k: v for k, v in engine_flags.items() if k != "endpoint_url"},
                                structured_outputs_backend="guidance")
    _check_engine(judge_engine)
    judging = JudgeSettings(lang=lang, prompts=prompts, params={"temperature": 0.0, "max_tokens": judge_max_tokens},
                            max_rationale_chars=max_rationale_chars, seed=seed)
    policy = PolicySettings(lang=lang, samples=1, system=system or "", params={"temperature": temperature, "top_p": 1.0, "max_tokens": max_tokens}, seed=seed)
    return EvalJob(kind=kind, files=files, out=out, lang=lang, sides=sides, judge=judge_engine, judging=judging, policy=policy, limit=limit,
                   tasks=tasks, workers=workers, executor=executor, executor_options=executor_options, verbose=verbose, seed=seed, **extra)


def _run(job, fingerprint: dict, overwrite: bool, line: str) -> None:
    from langmill.pipelines.evaluate import run_eval

    run = _start(job.out, {**fingerprint, "files": job.files}, overwrite)
    click.echo(line, err=True)
    started = time.monotonic()
    _run_job(run_eval, job, job.executor)
    _finish(run, job.executor, started, lambda stats: "")
    results = (run.read_stats().get("results") or {})
    if job.kind == "winrate" and results.get("win_rate") is not None:
        s = results["summary"]
        click.echo(f"win rate of {results['a']} against {results['b']}: {results['win_rate']:.3f} (95 % {results['ci95'][0]:.3f}-{results['ci95'][1]:.3f}); "
                   f"wins {s['a_wins']} / ties {s['ties']} / losses {s['b_wins']}; results: {os.path.join(run.path, 'results.json')}")
    elif job.kind == "mtbench" and results.get("score") is not None:
        click.echo(f"MT-Bench score of {results['model']}: {results['score']:.2f} (95 % {results['ci95'][0]:.2f}-{results['ci95'][1]:.2f}); "
                   f"results: {os.path.join(run.path, 'results.json')}")


def _inputs(paths: list[str], option: str) -> list[str]:
    from langmill.readers import InputError, resolve_row_inputs

    try:
        return resolve_row_inputs(list(paths), "eval")
    except InputError as err:
        _fail(f"{option}: {err}")


@eval_group.command(context_settings={"show_default": True})
@click.option("--prompts", "prompt_files", multiple=True, help="Prompt rows: MT-Bench questions or any row format langmill reads (repeat for more files).")
@click.option("--a", "side_a", help="Side A: an answers file or folder (MT-Bench model_answer/*.jsonl, langmill outputs) or a model (NAME or NAME=URL) to answer the prompts.")
@click.option("--b", "side_b", help="Side B, like --a (the baseline).")
@click.option("--one-order", is_flag=True, help="Judge each pair once (A shown first) instead of in both orders.")
@click.option("--wrong-language-loss", is_flag=True, help="Headline win rate counts an answer not in --lang as a loss (both are always reported).")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, help="Sampling temperature of generated answers.")
@_judge_options
@_engine_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the prompts are split into.")
@_run_options
def winrate(prompt_files, side_a, side_b, one_order, wrong_language_loss, temperature, lang, judge, out, judge_max_tokens, max_rationale_chars,
            judge_prompts, system, max_tokens, seed, limit, engine_flags, tasks, workers, executor, executor_config, overwrite, verbose):
    """Judged win rate of answers A against answers B, in the target language.

    Each side is an answers file (FastChat MT-Bench model_answer format, a langmill SFT output or
    completions table) or a model langmill lets answer the prompts. The judge compares the two
    answers to each prompt's first turn, in both orders (a verdict that flips when the answers swap
    seats counts as a tie); results.json and report.html give win / tie / loss with 95 % bootstrap
    intervals (prompts resampled), per category, the flip rate and first-seat share, and the
    language fidelity of both sides (share of answers in the language by fastText), with the win
    rate also computed counting wrong-language answers as losses.

    \b
    Example:
      langmill eval winrate --prompts mt-bench/question_fi.jsonl --a mine.jsonl --b model_answer_fi/gpt-oss-20b-fi.jsonl \\
        --judge meta-llama/Llama-3.3-70B-Instruct --lang fi --out winrate-fi
    """
    from langmill.languages import canonical_lang

    for value, flag in ((prompt_files, "--prompts"), (side_a, "--a"), (side_b, "--b"), (judge, "--judge"), (lang, "--lang"), (out, "--out")):
        if not value:
            _fail(f"{flag} is required")
    lang = canonical_lang(lang)
    _check_language(lang, None, "--lang")
    files = _inputs(prompt_files, "--prompts")
    sides = [_side("a", side_a, engine_flags, "--a"), _side("b", side_b, engine_flags, "--b")]
    job = _eval_job("winrate", files, lang, sides, judge, out, judge_max_tokens, max_rationale_chars, judge_prompts, system, max_tokens, temperature,
                    seed, limit, engine_flags, tasks, workers, executor, executor_config, verbose, both_orders=not one_order,
                    wrong_language_loss=wrong_language_loss)
    fingerprint = {"command": "eval winrate", "lang": lang, "sides": [(s.name, s.answers, s.engine.endpoint_url if s.engine else None) for s in sides],
                   "judge": job.judge.model, "judging": job.judging.__dict__, "policy": job.policy.__dict__, "both_orders": job.both_orders,
                   "wrong_language_loss": wrong_language_loss, "limit": limit, "tasks": tasks}
    _run(job, fingerprint, overwrite, f"langmill eval winrate: {sides[0].name} vs {sides[1].name} on {len(files)} file(s), judge {job.judge.model} -> {job.out}")


@eval_group.command(context_settings={"show_default": True})
@click.option("--questions", help="MT-Bench questions in the target language: a question.jsonl, or a folder with question_<lang>.jsonl.")
@click.option("--model", help="The model to evaluate (NAME or NAME=URL); it answers both turns of every question.")
@click.option("--answers", type=click.Path(exists=True), help="Grade these answers (FastChat model_answer/*.jsonl or a langmill output) instead of generating them.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.7, help="Temperature of categories FastChat has none for (its own: 0 for math, coding, reasoning, extraction; 0.1 stem, humanities; 0.7 writing, roleplay).")
@_judge_options
@_engine_options
@click.option("--tasks", type=click.IntRange(min=1), default=1, help="Tasks the questions are split into.")
@_run_options
def mtbench(questions, model, answers, temperature, lang, judge, out, judge_max_tokens, max_rationale_chars, judge_prompts, system, max_tokens, seed,
            limit, engine_flags, tasks, workers, executor, executor_config, overwrite, verbose):
    """MT-Bench(-X) in the target language: single-answer grading 1-10 of both turns.

    The model answers the questions' two turns (the second after its own first answer), or
    --answers are graded as they are. The judge grades every turn 1-10 (the second with the whole
    conversation before it), against the reference answer for math, reasoning and coding where the
    question file has one. results.json and report.html give the score with its 95 % interval, per
    turn and category, the judge's failures, and the share of answers in the language.

    \b
    Example:
      langmill eval mtbench --questions mt-bench/ --model utter-project/EuroLLM-9B-Instruct \\
        --judge meta-llama/Llama-3.3-70B-Instruct --lang fi --out mtbench-fi
    """
    from langmill.languages import canonical_lang

    for value, flag in ((questions, "--questions"), (judge, "--judge"), (lang, "--lang"), (out, "--out")):
        if not value:
            _fail(f"{flag} is required")
    if bool(model) == bool(answers):
        _fail("pass either --model (to answer the questions) or --answers (to grade existing answers)")
    lang = canonical_lang(lang)
    _check_language(lang, None, "--lang")
    if os.path.isdir(questions):
        found = [os.path.join(questions, name) for name in (f"question_{lang}.jsonl", "question.jsonl" if lang == "en" else "")]
        found = [p for p in found if os.path.isfile(p)]
        if not found:
            _fail(f"--questions {questions}: no question_{lang}.jsonl there; pass the question file of your language")
        questions = found[0]
    files = _inputs([questions], "--questions")
    side = _side("model", answers or model, engine_flags, "--answers" if answers else "--model")
    job = _eval_job("mtbench", files, lang, [side], judge, out, judge_max_tokens, max_rationale_chars, judge_prompts, system, max_tokens, temperature,
                    seed, limit, engine_flags, tasks, workers, executor, executor_config, verbose)
    fingerprint = {"command": "eval mtbench", "lang": lang, "side": (side.name, side.answers, side.engine.endpoint_url if side.engine else None),
                   "judge": job.judge.model, "judging": job.judging.__dict__, "policy": job.policy.__dict__, "limit": limit, "tasks": tasks}
    _run(job, fingerprint, overwrite, f"langmill eval mtbench: {side.name} on {questions}, judge {job.judge.model} -> {job.out}")
