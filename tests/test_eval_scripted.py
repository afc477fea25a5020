"""`langmill eval` and `langmill prefs` end to end on real answers with a scripted judge
(tests/scripted_endpoint.py): the Finnish answers of real models to MT-Bench, judged by a script
the tests recompute on their own, so that aggregation, both-order combination, position bias,
the wrong-language penalty, parse failures, pairing rules and resume are checked exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from conftest import REPO, run_langmill, shared_data, write_jsonl
from scripted_endpoint import POLICY_TEXTS, ScriptedEndpoint, finnish, scripted_score, scripted_verdict

SEATS = {"A": "a", "B": "b"}  # a verdict with A's answer in the first seat
SWAPPED = {"A": "b", "B": "a"}  # with B's answer there


@pytest.fixture
def endpoint():
    with ScriptedEndpoint(["judge-x", "policy-a", "policy-b"]) as server:
        yield server


def _mtbench(*parts: str):
    return shared_data("instructions", "mt-bench", *parts)


def _results(out) -> tuple[dict, dict]:
    return json.loads((out / "results.json").read_text()), json.loads((out / "stats.json").read_text())


def _expected_games(a_file, b_file) -> dict[str, tuple[str, str] | str | None]:
    """Question id -> (order AB verdict, order BA verdict) in terms of the answers, recomputed from
    the script; None where the script returns garbage in either order, "missing" where an answer
    is empty (a failed API call in the answer file: FastChat's $ERROR$)."""
    from langmill.answers import read_answers

    a, b = read_answers(str(a_file)).answers, read_answers(str(b_file)).answers
    games = {}
    for qid in a:
        if not a[qid][0].strip() or not b[qid][0].strip():
            games[qid] = "missing"
            continue
        v1, v2 = scripted_verdict(a[qid][0], b[qid][0]), scripted_verdict(b[qid][0], a[qid][0])
        games[qid] = None if v1 is None or v2 is None else (SEATS[v1], SWAPPED[v2])
    return games


def test_winrate_on_real_answers_matches_a_recount(tmp_path, endpoint):
    a_file, b_file = _mtbench("model_answer_fi", "minimax-m1-fi.jsonl"), _mtbench("model_answer_fi", "gpt-oss-20b-fi.jsonl")
    out = tmp_path / "winrate"
    r = run_langmill("eval", "winrate", "--prompts", _mtbench("question_fi.jsonl"), "--a", a_file, "--b", b_file, "--judge", "judge-x",
                     "--endpoint-url", endpoint.url, "--lang", "fi", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    results, stats = _results(out)
    games = _expected_games(a_file, b_file)
    judged = {q: v for q, v in games.items() if v not in (None, "missing")}
    failed, missing = [q for q, v in games.items() if v is None], [q for q, v in games.items() if v == "missing"]
    verdicts = [v1 if v1 == v2 else "tie" for v1, v2 in judged.values()]
    s = results["summary"]
    assert (s["a_wins"], s["b_wins"], s["ties"]) == (verdicts.count("a"), verdicts.count("b"), verdicts.count("tie"))
    assert s["win_rate"] == pytest.approx((verdicts.count("a") + verdicts.count("tie") / 2) / len(verdicts))
    assert s["ci95"][0] <= s["win_rate"] <= s["ci95"][1]
    assert s["flip_rate"] == pytest.approx(sum(v1 != v2 for v1, v2 in judged.values()) / len(judged))
    # The script's position bias shows: equal-length answers go to the first seat in both orders.
    firsts = sum((v1 == "a") + (v2 == "b") for v1, v2 in judged.values())
    assert s["first_seat_wins"] == pytest.approx(firsts / (2 * len(judged)))
    # Every game accounted for: the garbage verdicts are judge errors with their kind, never a guess.
    assert stats["rows_in"] == 80 == stats["kept"] + stats["excluded"]
    assert stats["excluded_by_reason"] == {"missing_answer": len(missing), "judge_error": len(failed)} and failed and missing
    assert results["coverage"]["judge_failures"] == {"not_json": sum(
        (scripted_verdict(*pair) is None) for q in failed for pair in _pairs(a_file, b_file, q))}
    # Language fidelity next to the win rate, and the win rate with wrong-language answers as losses.
    data = pl.read_parquet(out / "data" / "*.parquet")
    fidelity = results["language_fidelity"]
    assert set(fidelity) == {"minimax-m1-fi", "gpt-oss-20b-fi"}
    assert fidelity["minimax-m1-fi"]["other"].get("en", 0) >= 5  # MiniMax answers coding and math in English
    penalised = []
    for row in data.iter_rows(named=True):
        verdict = row["verdict"]
        if row["a_in_lang"] is False and row["b_in_lang"] is not False:
            verdict = "b"
        elif row["b_in_lang"] is False and row["a_in_lang"] is not False:
            verdict = "a"
        elif row["a_in_lang"] is False and row["b_in_lang"] is False:
            verdict = "tie"
        penalised.append(verdict)
    p = results["with_wrong_language_as_loss"]
    assert (p["a_wins"], p["b_wins"], p["ties"]) == (penalised.count("a"), penalised.count("b"), penalised.count("tie"))
    assert p["win_rate"] < s["win_rate"]  # MiniMax loses the games it answered in English
    # Length bias: the script prefers the longer of two answers in the same language.
    decisive = data.filter(pl.col("verdict").is_in(["a", "b"]) & (pl.col("a_answer").str.len_chars() != pl.col("b_answer").str.len_chars()))
    longer = sum((v == "a") == (len(x) > len(y)) for v, x, y in zip(decisive["verdict"], decisive["a_answer"], decisive["b_answer"]))
    assert results["length"]["longer_answer_wins"] == pytest.approx(round(longer / decisive.height, 3)) and longer / decisive.height > 0.5
    assert "win rate of minimax-m1-fi against gpt-oss-20b-fi" in r.stdout
    report = (out / "report.html").read_text()
    assert "<svg" in report and "Language fidelity" in report


def _pairs(a_file, b_file, qid):
    from langmill.answers import read_answers

    a, b = read_answers(str(a_file)).answers[qid][0], read_answers(str(b_file)).answers[qid][0]
    return [(a, b), (b, a)]


def test_winrate_one_order_sends_half_the_judge_requests(tmp_path, endpoint):
    a_file, b_file = _mtbench("model_answer_fi", "Poro-34B-chat-finnish.jsonl"), _mtbench("model_answer_fi", "kimi-k2_fi.jsonl")
    out = tmp_path / "one-order"
    r = run_langmill("eval", "winrate", "--prompts", _mtbench("question_fi.jsonl"), "--a", a_file, "--b", b_file, "--judge", "judge-x",
                     "--endpoint-url", endpoint.url, "--lang", "fi", "--out", out, "--one-order", "--limit", "20")
    assert r.returncode == 0, r.stderr[-3000:]
    results, stats = _results(out)
    assert sum(endpoint.requests.values()) == 20 and results["summary"]["flip_rate"] is None
    data = pl.read_parquet(out / "data" / "*.parquet")
    assert all(len(orders) == 1 for orders in data["orders"]) and stats["rows_in"] == 20


def test_mtbench_grades_real_answers_per_turn_with_references(tmp_path, endpoint):
    answers = _mtbench("model_answer_fi", "gpt-oss-20b-fi.jsonl")
    out = tmp_path / "mtbench"
    r = run_langmill("eval", "mtbench", "--questions", _mtbench(), "--answers", answers, "--judge", "judge-x", "--endpoint-url", endpoint.url,
                     "--lang", "fi", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    results, stats = _results(out)
    from langmill.answers import read_answers

    got = read_answers(str(answers)).answers
    questions = [json.loads(line) for line in _mtbench("question_fi.jsonl").read_text().splitlines()]
    expected, missing, cut = {}, 0, 0
    for q in questions:
        for t in range(2):
            answer = got[str(q["question_id"])][t]
            if not answer.strip():
                missing += 1
                continue
            reference = q["category"] in ("math", "reasoning", "coding") and bool((q["reference"] or [None, None])[t])
            score = scripted_score(answer, reference)
            if score is None:
                cut += 1
            else:
                expected.setdefault(q["category"], []).append(score)
    assert stats["rows_in"] == 160 and stats["excluded_by_reason"] == {k: v for k, v in (("missing_answer", missing), ("judge_error", cut)) if v}
    every = [s for scores in expected.values() for s in scores]
    assert results["score"] == pytest.approx(sum(every) / len(every))
    for category, scores in expected.items():
        assert results["summary"]["per_category"][category]["score"] == pytest.approx(sum(scores) / len(scores))
    data = pl.read_parquet(out / "data" / "*.parquet")
    # Math questions with a reference were graded against it (the script gives them 7).
    math = data.filter((pl.col("category") == "math") & pl.col("reference_used"))
    assert math.height > 0 and set(math["score"]) == {7.0}
    assert set(data["turn"]) == {1, 2} and data["id"].n_unique() == data.height
    assert results["coverage"]["judge_failures"] == ({"truncated": cut} if cut else {})


def test_winrate_resumes_after_sigkill_without_resending_answered_judgements(tmp_path):
    a_file, b_file = _mtbench("model_answer_fi", "glm-4.5_fi.jsonl"), _mtbench("model_answer_fi", "kimi-k2_fi.jsonl")
    out = tmp_path / "killed"
    args = ["eval", "winrate", "--prompts", _mtbench("question_fi.jsonl"), "--a", a_file, "--b", b_file, "--judge", "judge-x",
            "--lang", "fi", "--out", out, "--max-concurrent", "4"]
    with ScriptedEndpoint(["judge-x"], delay=0.05) as endpoint:
        proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args), "--endpoint-url", endpoint.url], cwd=REPO,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while sum(endpoint.requests.values()) < 60:  # of 160: kill it mid-run
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (out / "results.json").exists()
        r = run_langmill(*args, "--endpoint-url", endpoint.url)
        assert r.returncode == 0 and "Resuming" in r.stderr, r.stderr[-3000:]
        resent = sum(n - 1 for n in endpoint.requests.values())
    results, stats = _results(out)
    assert stats["rows_in"] == 80 == stats["kept"] + stats["excluded"]
    judgeable = 80 - stats["excluded_by_reason"].get("missing_answer", 0)
    assert len(endpoint.requests) == 2 * judgeable and resent <= 4  # re-sent: only what was in flight at the kill


# --- prefs ---------------------------------------------------------------------------------------


def _dolly_prompts(tmp_path, n: int):
    import gzip

    rows = [json.loads(line) for line in gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt")][:n]
    path = write_jsonl(tmp_path / "dolly-fi.jsonl", rows)
    with open(path, "a") as f:
        f.write('{"instruction": 42, "response": "x"}\n{"broken\n')
    return path


def test_prefs_pairs_from_two_policies_follow_the_rules(tmp_path, endpoint):
    prompts = _dolly_prompts(tmp_path, 12)
    out = tmp_path / "prefs"
    args = ["prefs", prompts, "--lang", "fi", "--model", "policy-a", "--model", f"policy-b={endpoint.url}", "--judge", "judge-x",
            "--endpoint-url", endpoint.url, "--samples", "4", "--margin", "2", "--out", out]
    r = run_langmill(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    data = pl.read_parquet(out / "data" / "*.parquet")
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    completions = pl.read_parquet(out / "completions" / "*.parquet")
    assert stats["rows_in"] == 14 == data["source"].n_unique() + excluded.height
    assert excluded.filter(pl.col("reason") == "bad_row").height == 2
    assert completions.height == 12 * 2 * 4 and set(completions["model"]) == {"policy-a", "policy-b"}
    # Each completion is one of the scripted texts; the English one is flagged and never chosen.
    assert set(completions["completion"]) <= set(POLICY_TEXTS)
    english = completions.filter(pl.col("completion") == POLICY_TEXTS[2])
    assert english.height > 0 and set(english["issue"]) == {"lid"}
    for row in data.iter_rows(named=True):
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert chosen != rejected and finnish(chosen)
        assert row["chosen_score"] == scripted_score(chosen, False)
        if row["rejected_issue"] is None:
            assert row["margin"] >= 2 and row["rejected_score"] == scripted_score(rejected, False)
        else:
            assert row["rejected_issue"] == "lid" and rejected == POLICY_TEXTS[2]
        assert row["prompt"][-1]["role"] == "user" and row["judge_model"] == "judge-x" and len(row["scores"]) == 8
    # Prompts whose completions were all Finnish and scored within the margin are excluded as such.
    assert set(excluded["reason"]) <= {"bad_row", "tie", "small_margin", "identical", "judge_error"}
    # The report: the judge's coverage, the score it gave answers in another language, why rejected.
    assert stats["judge_coverage"]["judged"] == 96 and stats["judge_coverage"]["parsed"] == completions["score"].is_not_null().sum()
    assert stats["mean_score_by_language"]["other"] == 2.0 and stats["rejected_because"].get("lid", 0) == data["rejected_issue"].eq("lid").sum()
    assert stats["margins"].get("flawed rejected", 0) == data["rejected_issue"].is_not_null().sum()
    # TRL's conversational preference format, as the datasets loader reads it.
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names) and ds[0]["chosen"][0]["role"] == "assistant"
    # A rerun resumes: nothing is asked again.
    sent = sum(endpoint.requests.values())
    again = run_langmill(*args)
    assert again.returncode == 0 and "already done" in again.stderr and sum(endpoint.requests.values()) == sent


def test_prefs_all_pairs_and_pairwise_confirmation(tmp_path, endpoint):
    prompts = _dolly_prompts(tmp_path, 8)
    out = tmp_path / "prefs-all"
    r = run_langmill("prefs", prompts, "--lang", "fi", "--model", "policy-a", "--judge", "judge-x", "--endpoint-url", endpoint.url,
                     "--samples", "6", "--pairs", "all", "--margin", "1", "--pairwise", "--out", out, "--tasks", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    data = pl.read_parquet(out / "data" / "*.parquet")
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    # Two tasks: the judge's task r found the completions task r of the policy's stage wrote.
    assert len(list((out / "completions").glob("*.parquet"))) == 2
    # Several pairs per prompt; rows in still = prompts with a pair + excluded prompts.
    assert data.height > data["source"].n_unique() and stats["rows_in"] == 10 == data["source"].n_unique() + excluded.height
    for row in data.iter_rows(named=True):
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert chosen != rejected
        if row["rejected_issue"] is None:  # confirmed head to head in both orders
            assert row["pairwise"] == ["a", "a"]
            assert scripted_verdict(chosen, rejected) == "A" and scripted_verdict(rejected, chosen) == "B"
        else:
            assert row["pairwise"] is None
    assert len(set(data["id"])) == data.height  # the later pairs of a prompt get their own ids


def test_one_line_errors(tmp_path, endpoint):
    questions = _mtbench("question_fi.jsonl")
    cases = [
        (["eval", "winrate", "--prompts", questions, "--a", tmp_path / "nope.jsonl", "--b", questions, "--judge", "j", "--lang", "fi",
          "--out", tmp_path / "o1"], "--a"),
        (["eval", "winrate", "--prompts", questions, "--a", questions, "--b", questions, "--judge", "j", "--lang", "fi", "--out", tmp_path / "o2"],
         "no readable answer"),
        (["eval", "mtbench", "--questions", questions, "--judge", "j", "--lang", "fi", "--out", tmp_path / "o3"], "either --model"),
        (["eval", "mtbench", "--questions", tmp_path, "--answers", questions, "--judge", "j", "--lang", "fi", "--out", tmp_path / "o4"],
         "no question_fi.jsonl"),
        (["prefs", questions, "--lang", "fi", "--model", "m", "--out", tmp_path / "o5"], "--judge is required"),
        (["prefs", write_jsonl(tmp_path / "empty.jsonl", []), "--lang", "fi", "--model", "m", "--judge", "j", "--out", tmp_path / "o7"], "no prompt rows"),
        (["prefs", questions, "--lang", "fi", "--model", "m", "--model", "m", "--judge", "j", "--out", tmp_path / "o6", "--endpoint-url", endpoint.url],
         "named twice"),
    ]
    for args, expected in cases:
        r = run_langmill(*args)
        assert r.returncode == 2 and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr[-500:])
