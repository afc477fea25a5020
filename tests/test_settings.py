"""Settings are checked before a run starts: unknown keys (with a did-you-mean), types, ranges and
rules across keys, for corpus --config, qc --config, translate --qc-config/--prompt-file and
--executor-config, and --lid-model. Every problem is one line that names the file and the dotted
key; the command exits with 2 and never creates --out."""

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from langmill.config import CONFIG_DIR, QC_OFF, ConfigError, corpus_schema, dump_config, load_config, load_qc_config, load_quality_config, qc_schema
from langmill.filters.lid import check_lid_model, default_lid_model
from langmill.generators.translate import load_prompts
from langmill.settings_schema import AT_LEAST_1, PROBABILITY, Schema, check_settings, dataclass_template
from tests.conftest import SAMPLE_DIR, run_langmill, shared_data, write_jsonl


def config_error(tmp_path: Path, text: str, load=lambda path: load_config("fi", path)) -> str:
    """The ConfigError message `load` gives for a file holding `text`."""
    path = tmp_path / "my.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(str(path))
    message = str(err.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def qc_error(tmp_path: Path, text: str) -> str:
    return config_error(tmp_path, text, load_qc_config)


# --- the validator on each kind of problem ---------------------------------------------------------------


def test_unknown_keys_get_a_did_you_mean(tmp_path):
    assert config_error(tmp_path, "lid: {treshold: 0.9}") == "unknown setting lid.treshold (did you mean lid.threshold?)"
    assert config_error(tmp_path, "gopher_repetiton: {enabled: false}") == "unknown section gopher_repetiton (did you mean gopher_repetition?)"
    assert config_error(tmp_path, "executor:\n  slurm: {partiton: cpu}\n") == "unknown setting executor.slurm.partiton (did you mean executor.slurm.partition?)"
    assert qc_error(tmp_path, "length_ratio:\n  languages:\n    sv: {mni: 0.4}\n") == (
        "unknown setting length_ratio.languages.sv.mni (did you mean length_ratio.languages.sv.min?)")
    # Nothing close: the known names instead.
    message = qc_error(tmp_path, "fluency: {enabled: false}")
    assert message == "unknown section fluency (known: lid, length_ratio, compression_ratio, non_alnum_share, structure, prompt_artifacts, truncation, model_identity)"
    # structure's checks are switched one by one; it has no `enabled` that would be silently ignored.
    assert qc_error(tmp_path, "structure: {enabled: false}").startswith("unknown setting structure.enabled (known: code, ")


def test_wrong_types_name_the_key_and_the_value(tmp_path):
    assert config_error(tmp_path, "lid: {threshold: high}") == "lid.threshold must be a number between 0 and 1, not 'high'"
    assert config_error(tmp_path, "normalize: {fix_mojibake: 'no'}") == "normalize.fix_mojibake must be true or false, not 'no'"
    assert config_error(tmp_path, "dedup: {ngram: 5.5}") == "dedup.ngram must be an integer >= 1, not 5.5"
    assert config_error(tmp_path, "dedup: {bands: true}") == "dedup.bands must be an integer between 1 and 254, not true"  # bool is not an int
    assert config_error(tmp_path, "lid: {model: 5}") == "lid.model must be a string, not 5 (quote it in the YAML)"
    assert config_error(tmp_path, "c4: {terminal_punctuation: '.!?'}") == "c4.terminal_punctuation must be a list of strings, not '.!?'"
    assert config_error(tmp_path, "pii: [email]") == "pii must be a mapping of settings, not a list"
    # YAML 1.1 reads a bare `on` as true and 2:00:00 as 7200 seconds.
    assert config_error(tmp_path, "gopher_quality: {stop_words: [ja, on, ei]}") == "gopher_quality.stop_words[1] must be a string, not true (quote it in the YAML)"
    assert config_error(tmp_path, "executor: {slurm: {time: 2:00:00}}") == "executor.slurm.time must be a string, not 7200 (quote it in the YAML)"
    assert qc_error(tmp_path, "prompt_artifacts: {patterns: ['(here is']}") == (
        "prompt_artifacts.patterns[0] is not a regular expression (missing ), unterminated subpattern at position 0): '(here is'")


def test_ranges(tmp_path):
    assert config_error(tmp_path, "dedup: {bands: 0}") == "dedup.bands must be an integer between 1 and 254, not 0"
    assert config_error(tmp_path, "dedup: {bands: 255, num_perm: 255, rows: 1}") == "dedup.bands must be an integer between 1 and 254, not 255"  # a byte in the dedup index
    assert config_error(tmp_path, "lid: {threshold: 1.5}") == "lid.threshold must be a number between 0 and 1, not 1.5"
    assert config_error(tmp_path, "gopher_quality: {min_doc_words: -10}") == "gopher_quality.min_doc_words must be an integer >= 0, not -10"
    assert config_error(tmp_path, "c4: {min_words_per_line: -1}") == "c4.min_words_per_line must be an integer >= 0, not -1"
    assert config_error(tmp_path, "gopher_quality: {max_separator_ratio: 1.5}") == (
        "gopher_quality.max_separator_ratio must be a number between 0 and 1, not 1.5")
    assert config_error(tmp_path, "gopher_quality: {separator_chars: '|>'}") == (
        "gopher_quality.separator_chars must be a list of strings, not '|>'")
    assert config_error(tmp_path, "gopher_repetition:\n  max_dup_ngram_char_frac: {5: 1.2}\n") == (
        "gopher_repetition.max_dup_ngram_char_frac.5 must be a number between 0 and 1, not 1.2")
    # a top n-gram's overlapping occurrences may cover more than the text ("ha ha ha"): limits above 1 are fine
    assert config_error(tmp_path, "gopher_repetition:\n  max_top_ngram_char_frac: {2: -0.1}\n") == (
        "gopher_repetition.max_top_ngram_char_frac.2 must be a number >= 0, not -0.1")
    assert config_error(tmp_path, "gopher_repetition:\n  max_dup_ngram_char_frac: {five: 0.1}\n") == (
        "gopher_repetition.max_dup_ngram_char_frac keys must be integers >= 1, not 'five'")
    assert qc_error(tmp_path, "non_alnum_share: {max: 30}") == "non_alnum_share.max must be a number between 0 and 1, not 30"
    # Every problem of the file, in one line.
    assert config_error(tmp_path, "lid: {threshold: high}\ndedup: {bands: 0, row: 8}\n") == (
        "lid.threshold must be a number between 0 and 1, not 'high'; dedup.bands must be an integer between 1 and 254, not 0; "
        "unknown setting dedup.row (did you mean dedup.rows?)")


def test_rules_across_keys_look_at_the_merged_settings(tmp_path):
    assert config_error(tmp_path, "dedup: {bands: 20}") == "dedup.bands x dedup.rows (20 x 8 = 160) must be <= dedup.num_perm (112)"
    assert config_error(tmp_path, "dedup: {num_perm: 64}") == "dedup.bands x dedup.rows (14 x 8 = 112) must be <= dedup.num_perm (64)"
    # fi's own max_mean_word_length (calibrated, above the neutral 10): its whole part is fine for Finnish, one more is not.
    fi_max = load_quality_config("fi")[0]["gopher_quality"]["max_mean_word_length"]
    assert fi_max > 10  # the neutral default
    load_config("fi", str(write(tmp_path / "ok.yaml", f"gopher_quality: {{min_mean_word_length: {int(fi_max)}}}")))
    assert config_error(tmp_path, f"gopher_quality: {{min_mean_word_length: {int(fi_max) + 1}}}") == (
        f"gopher_quality.min_mean_word_length ({int(fi_max) + 1}) must be <= gopher_quality.max_mean_word_length ({fi_max})")
    assert qc_error(tmp_path, "length_ratio:\n  languages:\n    fi: {min: 1.8}\n") == (
        "length_ratio.languages.fi.min (1.8) must be <= length_ratio.languages.fi.max (1.6)")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_good_values_pass(tmp_path):
    text = ("lid: {threshold: 1, model: null}\n"  # an int where a float is expected; null where the default is null
            "gopher_quality: {min_mean_word_length: 3.5, stop_words: [ja, 'on']}\n"
            "gopher_repetition:\n  max_top_ngram_char_frac: {2: 0.25, 5: 0.1}\n"
            "executor:\n  slurm: {partition: cpu, time: '02:00:00', gpus_per_task: 1, sbatch_args: {account: proj}}\n"
            "pii:\n")  # a section with every setting commented out changes nothing
    settings, _ = load_config("fi", str(write(tmp_path / "good.yaml", text)))
    assert settings.lid.threshold == 1 and settings.pii.email is True
    fi_top = load_quality_config("fi")[0]["gopher_repetition"]["max_top_ngram_char_frac"]  # fi.yaml's (calibrated)
    assert settings.quality["gopher_repetition"]["max_top_ngram_char_frac"] == {2: 0.25, 3: fi_top[3], 4: fi_top[4], 5: 0.1}
    assert settings.executor.slurm["gpus_per_task"] == 1  # datatrove's own executor options pass through
    qc = load_qc_config(str(write(tmp_path / "qc.yaml", "length_ratio:\n  languages: {sw: {min: 0.6, max: 1.4}}\nlid: {enabled: false}\n")))
    assert qc["length_ratio"]["languages"]["sw"] == {"min": 0.6, "max": 1.4} and qc["lid"]["enabled"] is False


def test_every_packaged_file_passes():
    for path in sorted((CONFIG_DIR / "languages").glob("*.yaml")):
        check_settings(yaml.safe_load(path.read_text(encoding="utf-8")), corpus_schema(), str(path))
    check_settings(yaml.safe_load(Path(QC_OFF).read_text(encoding="utf-8")), qc_schema(), QC_OFF)
    # language_names: a bare `no` (Norwegian) would be the key false.
    assert load_prompts()["language_names"]["no"] == "Norwegian"


def test_a_schema_is_its_defaults():
    """What a recipe loader would do: the defaults dict is the schema; ranges and free keys on top."""
    defaults = {"model": None, "steps": {"dedup": {"threshold": 0.8, "num_perm": 112}}, "langs": {"fi": {"weight": 1.0}}}
    schema = Schema(defaults, rules={"steps.dedup.num_perm": AT_LEAST_1, "langs.*.weight": PROBABILITY}, free={"langs"})
    check_settings({"model": "x", "langs": {"sv": {"weight": 0.5}}}, schema, "recipe.yaml")
    with pytest.raises(ConfigError, match=r"^recipe\.yaml: unknown setting steps\.dedup\.num_prem \(did you mean steps\.dedup\.num_perm\?\)$"):
        check_settings({"steps": {"dedup": {"num_prem": 64}}}, schema, "recipe.yaml")
    with pytest.raises(ConfigError, match=r"^recipe\.yaml: langs\.sv\.weight must be a number between 0 and 1, not 2$"):
        check_settings({"langs": {"sv": {"weight": 2}}}, schema, "recipe.yaml")
    with pytest.raises(ConfigError, match=r"^recipe\.yaml: steps\.dedup\.threshold must be a number between 0 and 1, not 'x'$"):
        check_settings({"steps": {"dedup": {"threshold": "x"}}}, defaults, "recipe.yaml")  # a plain dict works too


def test_a_new_dataclass_field_is_checked_from_its_annotation():
    @dataclass
    class Section:
        share: float = 1  # a float field with a whole-number default
        limit: int | None = None
        name: str = "a"

    template = {"section": dataclass_template(Section)}
    check_settings({"section": {"share": 0.5, "limit": 3}}, template, "x.yaml")
    with pytest.raises(ConfigError, match=r"section\.limit must be an integer >= 0, not 'many'"):
        check_settings({"section": {"limit": "many"}}, template, "x.yaml")


def test_print_config_output_round_trips(tmp_path):
    for command in (["corpus", "--lang", "fi"], ["qc"]):
        printed = run_langmill(*command, "--print-config")
        assert printed.returncode == 0, printed.stderr
        path = write(tmp_path / "printed.yaml", printed.stdout)
        again = run_langmill(*command, "--print-config", "--config", path)
        assert again.returncode == 0, again.stderr
        assert again.stdout == printed.stdout
    settings, _ = load_config("fi")
    assert load_config("fi", str(write(tmp_path / "dumped.yaml", dump_config(settings.to_dict()))))[0] == settings


# --- language-ID models ----------------------------------------------------------------------------------


def damaged_models(tmp_path: Path) -> dict[str, Path]:
    """What a --lid-model that is not a model usually is: a saved error page, a cut-off download."""
    page = write(tmp_path / "lid.bin", "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n")
    cut = tmp_path / "cut.ftz"
    cut.write_bytes(Path(default_lid_model()).read_bytes()[:200_000])
    return {"page": page, "cut": cut}


def test_check_lid_model(tmp_path):
    check_lid_model(default_lid_model())
    models = damaged_models(tmp_path)
    with pytest.raises(ConfigError, match=r"lid\.bin: not a fastText language-ID model \(not a fastText \.bin/\.ftz file\)$"):
        check_lid_model(str(models["page"]))
    with pytest.raises(ConfigError, match=r"cut\.ftz: not a fastText language-ID model \(damaged or truncated: "):
        check_lid_model(str(models["cut"]))


# --- the commands: exit 2, one line, no --out ------------------------------------------------------------


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, Path]:
    """Real rows: Dolly instructions in English, and the same ones in Finnish as translated rows."""
    folder = tmp_path_factory.mktemp("rows")
    with gzip.open(shared_data("instructions", "dolly-15k-en.from-docx.jsonl.gz"), "rt", encoding="utf-8") as f:
        en = [json.loads(next(f)) for _ in range(4)]
    with gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt", encoding="utf-8") as f:
        fi = [json.loads(next(f)) for _ in range(4)]

    def chat(r):
        return [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}]

    return {
        "dolly": write_jsonl(folder / "dolly.jsonl", [{k: r.get(k, "") for k in ("instruction", "context", "response")} for r in en]),
        "translated": write_jsonl(folder / "fi.jsonl", [{"messages": chat(f), "source_messages": chat(e)} for e, f in zip(en, fi)]),
    }


def assert_refused(result, out: Path, *expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("langmill: error: ")
    assert all(part in lines[0] for part in expected), lines[0]
    assert not out.exists()


def test_corpus_refuses_bad_settings_before_creating_out(tmp_path):
    out = tmp_path / "out"
    corpus = SAMPLE_DIR / "corpus.jsonl"
    bad = write(tmp_path / "my.yaml", "lid: {treshold: 0.9}\n")
    assert_refused(run_langmill("corpus", corpus, "--lang", "fi", "--out", out, "--config", bad),
                   out, f"{bad}: unknown setting lid.treshold (did you mean lid.threshold?)")
    bad = write(tmp_path / "my.yaml", "dedup: {bands: 0}\n")
    assert_refused(run_langmill("corpus", corpus, "--lang", "fi", "--out", out, "--config", bad),
                   out, f"{bad}: dedup.bands must be an integer between 1 and 254, not 0")
    assert_refused(run_langmill("corpus", corpus, "--lang", "fi", "--out", out, "--lid-threshold", "65"),
                   out, "--lid-threshold: lid.threshold must be a number between 0 and 1, not 65.0")
    for model in damaged_models(tmp_path).values():
        assert_refused(run_langmill("corpus", corpus, "--lang", "fi", "--out", out, "--lid-model", model),
                       out, f"{model}: not a fastText language-ID model (")


def test_qc_and_translate_refuse_bad_settings_before_creating_out(tmp_path, rows):
    out = tmp_path / "out"
    threshold = write(tmp_path / "strict.yaml", "lid:\n  threshold: high\n")
    message = f"{threshold}: lid.threshold must be a number between 0 and 1, not 'high'"
    assert_refused(run_langmill("qc", rows["translated"], "--to", "fi", "--out", out, "--config", threshold), out, message)
    assert_refused(run_langmill("qc", rows["translated"], "--to", "fi", "--out", out, "--lid-model", damaged_models(tmp_path)["page"]),
                   out, "lid.bin: not a fastText language-ID model")
    executor = write(tmp_path / "cluster.yaml", "executor:\n  slurm: {partition: cpu, mem_per_cpu: 4}\n")
    assert_refused(run_langmill("qc", rows["translated"], "--to", "fi", "--out", out, "--executor-config", executor),
                   out, f"{executor}: unknown setting executor.slurm.mem_per_cpu (did you mean executor.slurm.mem_per_cpu_gb?)")

    translate = ["translate", rows["dolly"], "--to", "fi", "--out", out, "--model", "m", "--endpoint-url", "http://127.0.0.1:9/v1"]
    assert_refused(run_langmill(*translate, "--qc-config", threshold), out, message)
    prompt = write(tmp_path / "prompt.yaml", "zeroshot:\n  usr: 'Translate into {target_language}: {text}'\n")
    assert_refused(run_langmill(*translate, "--prompt-file", prompt), out, f"{prompt}: unknown setting zeroshot.usr (did you mean zeroshot.user?)")
    prompt = write(tmp_path / "prompt.yaml", "fewshot:\n  stop: '\\n\\n'\n")
    assert_refused(run_langmill(*translate, "--prompt-file", prompt), out, f"{prompt}: fewshot.stop must be a list of strings, not")
    model = tmp_path / "glotlid.bin"
    shutil.copy(damaged_models(tmp_path)["cut"], model)
    assert_refused(run_langmill(*translate, "--lid-model", model), out, f"{model}: not a fastText language-ID model (damaged or truncated")
