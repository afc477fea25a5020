"""`langmill run`: recipes parse and resolve, stages are wired by name, finished stages are skipped,
changed ones start over (with the stages that read them), and every mistake is one line."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE_DIR, run_langmill

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def commands(printed: str) -> dict[str, str]:
    """stage -> its command line, from `langmill run --print`."""
    lines = printed.splitlines()
    return {lines[i - 1].split(":")[0][2:]: line for i, line in enumerate(lines) if line.startswith("langmill ")}


def test_there_is_a_recipe_per_seed_paper_and_a_demo():
    assert {p.stem for p in RECIPES} >= {"demo", "poro-finnish", "latxa-basque", "aya-multilingual-prefs", "parallel-instruct"}


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_parses_and_resolves(recipe, tmp_path):
    result = run_langmill("run", "--print", recipe, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    import yaml

    stages = yaml.safe_load(recipe.read_text())["stages"]
    printed = commands(result.stdout)
    assert list(printed) == list(stages)  # one resolved command per stage, in order
    for name, line in printed.items():
        if line.startswith("langmill publish "):  # to the Hub or its --dry-run folder
            assert "--out" not in line
        else:
            assert line.endswith(f"--out {tmp_path / 'out' / name}")
        assert "${" not in line  # every var resolved
    assert not (tmp_path / "out" / "run-state.json").exists()  # --print runs nothing


def test_wiring_by_stage_name(tmp_path):
    recipe = write(tmp_path / "r.yaml", """
name: wiring
vars:
  base: some-org/base-model
  rows: ${recipe}/rows.jsonl
defaults: {lang: fi, dtype: float32}
stages:
  corpus: {inputs: "${langmill}/sample_data"}
  translate: {inputs: ["${rows}"], to: fi, model: "${base}", vllm_arg: [--enforce-eager]}
  sft: {run: train sft, data: [translate, "corpus:0.2"], model: "${base}", lora: true, trust-remote-code: false}
  eval: {run: eval mtbench, model: sft, questions: q.jsonl}
  publish: {inputs: [corpus, translate, sft], repo-id: me/x, license: mit}
""")
    result = run_langmill("run", "--print", recipe, "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    c = commands(result.stdout)
    o = tmp_path / "o"
    assert c["corpus"] == f"langmill corpus {SAMPLE_DIR} --lang fi --out {o}/corpus"
    # translate has --dtype (an engine option), corpus does not: defaults go where the option exists
    assert c["translate"] == (f"langmill translate {tmp_path}/rows.jsonl --to fi --model some-org/base-model "
                              f"--vllm-arg=--enforce-eager --dtype float32 --out {o}/translate")
    assert c["sft"] == (f"langmill train sft --data {o}/translate/data --data {o}/corpus/data:0.2 "
                        f"--model some-org/base-model --lora --out {o}/sft")
    assert f"--model {o}/sft/model " in c["eval"]  # a train stage hands on its model/
    assert c["publish"].startswith(f"langmill publish {o}/corpus {o}/translate {o}/sft ")  # publish takes folders
    assert "# sft: to run; reads translate, corpus" in result.stdout


@pytest.mark.parametrize("body, message", [
    ("stages: {corpus: {inputs: x, lang: fi, lid-treshold: 0.5}}", "stages.corpus.lid-treshold: not an option of langmill corpus (did you mean 'lid-threshold'?)"),
    ("stages: {clean: {inputs: x}}", "stages.clean: run: 'clean' is not a langmill command (one of: calibrate, corpus,"),
    ("stages: {a: {run: train sft, data: b}, b: {run: corpus, inputs: x}}", None),  # b is not a stage yet: a plain path
    ("stages: {corpus: {inputs: x, out: y}}", "stages.corpus.out: set by `langmill run`"),
    ("stages: {corpus: {inputs: x, lid-threshold: high}}", "stages.corpus.lid-threshold: 'high' is not a valid float"),
    ("stages: {corpus: {inputs: x, lang: [fi, en]}}", "stages.corpus.lang: takes one value, not a list"),
    ("stages: {corpus: {inputs: x, verbose: 1}}", "stages.corpus.verbose: a flag: true or false"),
    ("stages: {corpus: {inputs: x, lang: '${language}'}}", "stages.corpus.lang: ${language} is not defined"),
    ("vars: {a: '${b}', b: '${a}'}\nstages: {corpus: {inputs: x}}", "vars.a: vars refer to each other in a cycle"),
    ("stages: {corpus: {inputs: [${langmill}/x]}}", "quote values with ${...} inside [ ] lists"),
    ("defaults: {lnag: fi}\nstages: {corpus: {inputs: x}}", "defaults.lnag: no stage's command has this option"),
    ("steps: {}", "a recipe is a mapping with a `stages:` mapping"),
    ("stages: {corpus: {inputs: x, config: {lid: {threshold: 0.9}}}, translate: {inputs: corpus, lang: {a: 1}}}", "stages.translate.lang: a mapping is only for file options"),
])
def test_mistakes_are_one_line(tmp_path, body, message):
    recipe = write(tmp_path / "bad.yaml", body)
    result = run_langmill("run", "--print", recipe)
    if message is None:
        assert result.returncode == 0, result.stderr
        assert "--data b " in result.stdout  # a later stage's name is not wired backwards
        return
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"langmill: error: {recipe}"), result.stderr
    assert message in result.stderr


def test_set_overrides_vars_and_refuses_unknown_ones(tmp_path):
    recipe = write(tmp_path / "r.yaml", "vars: {lang: fi}\nstages: {corpus: {inputs: x, lang: '${lang}'}}")
    assert "--lang eu " in run_langmill("run", "--print", recipe, "--set", "lang=eu").stdout
    result = run_langmill("run", "--print", recipe, "--set", "lnag=eu")
    assert result.returncode == 2 and "--set lnag: not a var of" in result.stderr


def test_inline_settings_are_written_as_files(tmp_path):
    recipe = write(tmp_path / "r.yaml", """
stages:
  corpus: {inputs: "${langmill}/sample_data/txt", lang: fi, config: {lid: {threshold: 0.3}, gopher_quality: {min_doc_words: 5}}}
""")
    result = run_langmill("run", recipe, "--out", tmp_path / "o", timeout=300)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "o" / "recipe" / "corpus.config.yaml"
    assert "threshold: 0.3" in written.read_text()
    job = json.loads((tmp_path / "o" / "corpus" / "logs" / "job.json").read_text())
    assert "0.3" in json.dumps(job)  # the stage ran with the inline settings


def _stage_lines(stderr: str) -> dict[str, str]:
    return {line.split()[2].rstrip(":"): line for line in stderr.splitlines() if line.startswith("── ")}


def test_finished_stages_are_skipped_and_changed_ones_start_over(tmp_path):
    rows = tmp_path / "docs"
    rows.mkdir()
    (rows / "a.txt").write_text((SAMPLE_DIR / "txt" / "fi_paragraphs.txt").read_text(), encoding="utf-8")
    recipe = write(tmp_path / "r.yaml", f"""
name: skip
vars: {{threshold: "0.5"}}
defaults: {{lang: fi}}
stages:
  first: {{run: corpus, inputs: {rows}, split: paragraphs, lid-threshold: "${{threshold}}"}}
  second: {{run: corpus, inputs: first}}
  other: {{run: corpus, inputs: {SAMPLE_DIR}/txt/fi_kirje_mokilta.txt}}
""")
    out = tmp_path / "o"
    run = lambda *extra: run_langmill("run", recipe, "--out", out, *extra, timeout=300)  # noqa: E731

    first = run()
    assert first.returncode == 0, first.stderr
    state = json.loads((out / "run-state.json").read_text())["stages"]
    assert [state[s]["status"] for s in ("first", "second", "other")] == ["finished"] * 3
    assert "Recipe skip: 3 stage(s)" in first.stderr and "3 ran, 0 skipped" in first.stderr
    kept = json.loads((out / "first" / "stats.json").read_text())["kept"]
    assert kept == json.loads((out / "second" / "stats.json").read_text())["rows_in"]  # second read first's data/
    assert (out / "commands.sh").read_text().count("langmill corpus") == 3

    again = run()
    assert again.returncode == 0 and "0 ran, 3 skipped" in again.stderr
    assert all("finished before, skipped" in line for line in _stage_lines(again.stderr).values())

    changed = run("--set", "threshold=0.6")  # first's settings change: it starts over, and so does second
    lines = _stage_lines(changed.stderr)
    assert changed.returncode == 0, changed.stderr
    assert "settings changed since its last run: starting it over" in lines["first"]
    assert "stage first ran again changed since its last run" in lines["second"]
    assert "skipped" in lines["other"]

    time.sleep(0.01)
    (rows / "a.txt").write_text((rows / "a.txt").read_text() + "\n\nUusi kappale, joka lisättiin myöhemmin aineistoon.\n", encoding="utf-8")
    touched = _stage_lines(run("--set", "threshold=0.6").stderr)
    assert "input files changed" in touched["first"] and "skipped" in touched["other"]

    only = run("--set", "threshold=0.6", "--only", "second")
    assert only.returncode == 0 and "1 stage(s)" in only.stderr and "0 ran, 1 skipped" in only.stderr


def test_only_needs_the_stages_it_reads(tmp_path):
    recipe = write(tmp_path / "r.yaml", f"stages: {{a: {{run: corpus, inputs: {SAMPLE_DIR}/txt, lang: fi}}, b: {{run: corpus, inputs: a, lang: fi}}}}")
    result = run_langmill("run", recipe, "--out", tmp_path / "o", "--only", "b")
    assert result.returncode == 2
    assert "stage b reads stage a, which has not finished: run up to it first (--until a)" in result.stderr
    until = run_langmill("run", recipe, "--out", tmp_path / "o", "--until", "a", timeout=300)
    assert until.returncode == 0 and "1 ran" in until.stderr and not (tmp_path / "o" / "b").exists()


def test_a_failing_stage_stops_the_run_with_its_exit_code(tmp_path):
    recipe = write(tmp_path / "r.yaml", f"stages: {{a: {{run: corpus, inputs: {tmp_path}/missing.jsonl, lang: fi}}, b: {{run: corpus, inputs: a, lang: fi}}}}")
    result = run_langmill("run", recipe, "--out", tmp_path / "o")
    assert result.returncode != 0
    assert "missing.jsonl" in result.stderr  # the stage's own one-line error
    assert "langmill: error: stage a failed (exit 2); run the same command again to resume it" in result.stderr
    assert not (tmp_path / "o" / "b").exists()
    assert json.loads((tmp_path / "o" / "run-state.json").read_text())["stages"]["a"]["status"] == "started"
