"""`langmill prefs` and `langmill eval` end to end with real vLLM (the tiny random Llama: its
answers and judgements are noise, so these tests check mechanics: the judge's structured outputs
parse, every prompt and game is accounted for, models are served one after another)."""

import json
import os

import polars as pl

from conftest import API_KEY, API_KEY_ENV, run_langmill, shared_data, write_jsonl

KEY = {API_KEY_ENV: API_KEY}
SMALL = ["--max-tokens", "24", "--judge-max-tokens", "120", "--max-rationale-chars", "60"]
NO_LID = "lid:\n  enabled: false\nrepetition:\n  enabled: false\n"  # noise is no language; let some completions be clean


def _questions(tmp_path, n: int):
    lines = shared_data("instructions", "mt-bench", "question_fi.jsonl").read_text().splitlines()[:n]
    return write_jsonl(tmp_path / "questions.jsonl", [json.loads(line) for line in lines])


def _endpoint(server, judge: bool = True) -> list[str]:
    return ["--model", server["model"], *(["--judge", server["model"]] if judge else []), "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV]


def test_prefs_with_vllm_policy_and_judge(tmp_path, server):
    config = tmp_path / "checks.yaml"
    config.write_text(NO_LID)
    out = tmp_path / "prefs"
    r = run_langmill("prefs", _questions(tmp_path, 4), "--lang", "fi", *_endpoint(server), "--samples", "3", "--out", out, "--config", config,
                     "--margin", "1", *SMALL, env=KEY)
    assert r.returncode == 0, r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    completions = pl.read_parquet(out / "completions" / "*.parquet")
    data, excluded = pl.read_parquet(out / "data" / "*.parquet"), pl.read_parquet(out / "excluded" / "*.parquet")
    assert completions.height == 12 and stats["rows_in"] == 4 == data["source"].n_unique() + excluded.height
    # Every judgement came back through the schema: parsed, or cut off at max_tokens, never free text.
    coverage = stats["judge_coverage"]
    assert coverage["judged"] == 12 and set(coverage["failures"]) <= {"truncated"}
    assert coverage["parsed"] == completions.filter(pl.col("score").is_not_null()).height
    assert completions.filter(pl.col("score").is_not_null())["score"].is_between(1, 10).all()
    for row in data.iter_rows(named=True):
        assert row["chosen"] != row["rejected"] and row["chosen_model"] == server["model"]
    assert set(excluded["reason"]) <= {"no_usable_completion", "judge_error", "identical", "tie", "small_margin", "too_few_completions"}


def test_prefs_serves_two_policies_and_the_judge_one_after_another(tmp_path, tiny_model):
    other = tmp_path / "tiny-copy"
    other.mkdir()
    for name in os.listdir(tiny_model):
        os.symlink(os.path.join(tiny_model, name), other / name)
    out = tmp_path / "prefs-local"
    r = run_langmill("prefs", _questions(tmp_path, 2), "--lang", "fi", "--model", tiny_model, "--model", other, "--judge", tiny_model,
                     "--samples", "1", "--out", out, *SMALL, "--dtype", "float32", "--max-model-len", "2048", "--vllm-arg=--enforce-eager",
                     "--vllm-arg=--kv-cache-memory-bytes=268435456")
    assert r.returncode == 0, r.stderr[-3000:]
    # Three stages, each with its own vLLM server, each stopped before the next started.
    for stage in ("complete-1", "complete-2", "judge"):
        assert list((out / "logs" / stage / "server").glob("*")), stage
    assert r.stderr.index("[1/4] complete-1 finished") < r.stderr.index("[2/4] complete-2 (") < r.stderr.index("[3/4] judge (")
    completions = pl.read_parquet(out / "completions" / "*.parquet")
    assert sorted(completions["model"].to_list()) == sorted([tiny_model, str(other)] * 2)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == 2 and stats["rows_in_equals_kept_plus_excluded"] and stats["judge_coverage"]["judged"] == 4


def test_eval_mtbench_and_winrate_with_vllm(tmp_path, server):
    questions = _questions(tmp_path, 3)
    out = tmp_path / "mtbench"
    r = run_langmill("eval", "mtbench", "--questions", questions, *_endpoint(server), "--lang", "fi", "--out", out, *SMALL, env=KEY)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == 6 == stats["kept"] + stats["excluded"]  # 3 questions x 2 turns
    answers = pl.read_parquet(out / "answers" / "model" / "*.parquet")
    assert answers.height == 3 and all(len(m) >= 4 for m in answers["messages"])  # both turns answered, the second after the first
    assert results["model"] == server["model"] and results["summary"]["grades"] == stats["kept"]
    out = tmp_path / "winrate"
    reference = shared_data("instructions", "mt-bench", "model_answer_fi", "Llama-3.1-8B-base-finnish.jsonl")
    r = run_langmill("eval", "winrate", "--prompts", questions, "--a", server["model"], "--b", reference, "--judge", server["model"],
                     "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV, "--lang", "fi", "--out", out, *SMALL, env=KEY)
    assert r.returncode == 0, r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == 3 == stats["kept"] + stats["excluded"]
    data = pl.read_parquet(out / "data" / "*.parquet")
    assert data.height == 0 or set(data["b_model"]) == {"Llama-3.1-8B-base-finnish"}
    assert all(len(orders) == 2 for orders in data["orders"])
