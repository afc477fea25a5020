"""Statistics of judged evaluations (`langmill.evalstats`) and answer files (`langmill.answers`), on the
Finnish MT-Bench answers of 31 models in ../shared/data: the real language-fidelity table (real
fastText), and win-rate/MT-Bench aggregation of real answers judged by a scripted judge, checked
against a plain recount."""

import gzip
import json
import math
import re
import shutil
import statistics
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared_data
from langmill.answers import read_answers, strip_reasoning
from langmill.evalstats import (
    answer_language,
    bootstrap_interval,
    combine_orders,
    language_fidelity,
    mtbench_summary,
    wilson_interval,
    winrate_summary,
)
from langmill.filters.lid import LanguageFilter
from langmill.readers import InputError


def mt_bench(*parts):
    return shared_data("instructions", "mt-bench", *parts)


def answer_files():
    return sorted(mt_bench("model_answer_fi").glob("*.jsonl"))


@pytest.fixture(scope="module")
def lid():
    return LanguageFilter("fi")


@pytest.fixture(scope="module")
def questions():
    with open(mt_bench("question_fi.jsonl"), encoding="utf-8") as f:
        return {str(q["question_id"]): q for q in map(json.loads, f)}


@pytest.fixture(scope="module")
def answer_sets():
    return {path.stem: read_answers(str(path)) for path in answer_files()}


# --- Wilson and bootstrap intervals ---------------------------------------------------------------


def wilson_by_hand(k, n, z=1.96):
    # The quadratic's two roots, written out: (2k + z² ± z·sqrt(z² + 4k(n-k)/n)) / (2(n + z²)).
    root = z * math.sqrt(z * z + 4 * k * (n - k) / n)
    return (2 * k + z * z - root) / (2 * (n + z * z)), (2 * k + z * z + root) / (2 * (n + z * z))


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (5, 10), (1, 1), (0, 1), (37, 80), (145, 149), (0, 2452)])
def test_wilson_matches_the_formula_by_hand(k, n):
    low, high = wilson_interval(k, n)
    want_low, want_high = wilson_by_hand(k, n)
    assert low == pytest.approx(max(0.0, want_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, want_high), abs=1e-12)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_known_values_and_edges():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)  # the textbook "rule of three" case
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(3, 4, z=2.576)[0] < wilson_interval(3, 4)[0]  # 99 % is wider than 95 %
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_bootstrap_is_deterministic_and_contains_the_mean():
    values = [1.0] * 13 + [0.5] * 4 + [0.0] * 7
    once = bootstrap_interval(values, seed=3)
    assert once == bootstrap_interval(values, seed=3)
    assert once != bootstrap_interval(values, seed=4)
    mean = sum(values) / len(values)
    assert once[0] < mean < once[1]
    assert bootstrap_interval(values, level=0.99, seed=3)[0] <= once[0]
    assert bootstrap_interval([0.7] * 5) == pytest.approx((0.7, 0.7))
    with pytest.raises(ValueError):
        bootstrap_interval([])
    with pytest.raises(ValueError):
        bootstrap_interval([1.0, 0.0], clusters=["q1"])


def test_cluster_resampling_follows_the_correlation_inside_clusters():
    # Two turns per question. When both turns agree, the 2n values carry only n observations: the
    # clustered interval is wider. When they always differ, every question's mean is 0.5: no spread.
    agree = [1.0, 1.0] * 30 + [0.0, 0.0] * 30
    agree_ids = [f"q{i // 2}" for i in range(len(agree))]
    naive, clustered = bootstrap_interval(agree), bootstrap_interval(agree, clusters=agree_ids)
    assert clustered[1] - clustered[0] > 1.3 * (naive[1] - naive[0])
    differ = [1.0, 0.0] * 60
    differ_ids = [f"q{i // 2}" for i in range(len(differ))]
    assert bootstrap_interval(differ, clusters=differ_ids) == pytest.approx((0.5, 0.5))
    assert bootstrap_interval(differ)[1] - bootstrap_interval(differ)[0] > 0.1


# --- both orders and the win-rate summary ---------------------------------------------------------


def test_combine_orders_truth_table():
    table = {
        ("a", "a"): "a", ("b", "b"): "b", ("tie", "tie"): "tie",
        ("a", "b"): "tie", ("b", "a"): "tie", ("a", "tie"): "tie", ("tie", "b"): "tie",
        ("tie", "a"): "tie", ("b", "tie"): "tie",
        (None, "a"): None, ("b", None): None, (None, None): None, (None, "tie"): None,
    }
    for (first, second), want in table.items():
        assert combine_orders(first, second) == want, (first, second)
    with pytest.raises(ValueError):
        combine_orders("A", "a")  # a judge's raw label must be mapped to the answers first


HANDMADE = [
    # id, category, turn, orders (v1: A shown first; v2: B shown first), a_in_lang, b_in_lang
    ("1", "writing", 1, ["a", "a"], True, True),  # A, both orders
    ("1", "writing", 2, ["a", "b"], True, True),  # first seat both times: flip -> tie
    ("2", "math", 1, ["b", "b"], True, True),
    ("2", "math", 2, ["tie", "tie"], True, True),
    ("3", "math", 1, [None, "a"], True, True),  # first order unparsable
    ("3", "math", 2, ["a"], True, None),  # one order judged
    ("4", None, 1, ["a", "a"], False, True),  # judge prefers A, which is in the wrong language
    ("4", None, 2, ["b", None], False, False),  # both wrong language, second order unparsable
    ("5", "writing", 1, ["b", "a"], True, True),  # second seat both times: flip -> tie
    ("5", "writing", 2, ["a", "a"], True, False),  # the rule agrees with the judge
]


def handmade_games():
    keys = ("id", "category", "turn", "orders", "a_in_lang", "b_in_lang")
    return [dict(zip(keys, game)) for game in HANDMADE]


def test_winrate_summary_on_handmade_games():
    s = winrate_summary(handmade_games())
    assert (s["games"], s["judged"], s["a_wins"], s["b_wins"], s["ties"]) == (10, 8, 4, 1, 3)
    assert s["win_rate"] == pytest.approx(5.5 / 8)
    assert s["loss_rate"] == pytest.approx(1 / 8)
    assert s["decisive_win_rate"] == pytest.approx(4 / 5)
    assert s["wilson95"] == pytest.approx(list(wilson_interval(4, 5)))
    assert s["ci95"][0] <= s["win_rate"] <= s["ci95"][1]
    assert s["flip_rate"] == pytest.approx(2 / 7)
    assert s["order_verdicts"] == {"parsed": 17, "first_seat": 7, "second_seat": 8, "ties": 2}
    assert s["first_seat_wins"] == pytest.approx(7 / 17)
    assert s["parse_failures"] == {"games": 2, "first_order": 1, "second_order": 1}
    assert (s["language_losses"], s["language_changed"], s["wrong_language"]) == (0, 0, {"a": 2, "b": 2})
    assert list(s["per_category"]) == ["math", "writing"]  # games without a category are left out
    writing, math_ = s["per_category"]["writing"], s["per_category"]["math"]
    assert (writing["games"], writing["judged"], writing["a_wins"], writing["b_wins"], writing["ties"]) == (4, 4, 2, 0, 2)
    assert (math_["games"], math_["judged"], math_["a_wins"], math_["b_wins"], math_["ties"]) == (4, 3, 1, 1, 1)
    assert (writing["win_rate"], math_["win_rate"]) == (0.75, 0.5)
    assert [(t["games"], t["judged"], t["a_wins"], t["b_wins"], t["ties"]) for t in s["per_turn"].values()] == [(5, 4, 2, 1, 1), (5, 4, 2, 0, 2)]
    assert json.loads(json.dumps(s)) == s  # results.json takes it as it is


def test_wrong_language_answers_lose_whatever_the_judge_said():
    s = winrate_summary(handmade_games(), wrong_language_loss=True)
    # game 4/1: A out of language -> B (was A); 4/2: both out -> tie (was unparsable); 5/2: A either way
    assert (s["language_losses"], s["language_changed"]) == (3, 2)
    assert (s["judged"], s["a_wins"], s["b_wins"], s["ties"]) == (9, 3, 2, 4)
    assert s["win_rate"] == pytest.approx(5 / 9)
    assert s["parse_failures"] == {"games": 1, "first_order": 1, "second_order": 1}
    assert s["flip_rate"] == pytest.approx(2 / 7)  # the judge's behaviour is reported as it was


def test_winrate_summary_of_nothing_and_of_one_order():
    empty = winrate_summary([])
    assert (empty["games"], empty["win_rate"], empty["ci95"], empty["flip_rate"], empty["first_seat_wins"]) == (0, None, None, None, None)
    assert empty["wilson95"] == [0.0, 1.0]
    one_order = winrate_summary([{**g, "orders": g["orders"][:1]} for g in handmade_games()])
    assert one_order["flip_rate"] is None
    assert one_order["parse_failures"] == {"games": 1, "first_order": 1, "second_order": 0}
    with pytest.raises(ValueError):
        winrate_summary([{"id": "1", "category": None, "turn": 1, "orders": []}])


# --- answer files ---------------------------------------------------------------------------------


def raw_rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_all_31_fastchat_answer_files(answer_sets):
    assert len(answer_sets) == 31
    rows = {stem: raw_rows(mt_bench("model_answer_fi", f"{stem}.jsonl")) for stem in answer_sets}
    assert sum(map(len, rows.values())) == 2452
    for stem, answers in answer_sets.items():
        assert answers.model == stem  # the file stem, not model_id (shared by reasoning/plain runs)
        assert all(len(turns) == 2 and all(isinstance(t, str) for t in turns) for turns in answers.answers.values())
        if stem != "finnish-mistral-7b-base-test":
            assert (len(answers.answers), answers.bad_rows) == (80, [])
    assert rows["gpt-oss-20b-fi"][0]["model_id"] == rows["gpt-oss-20b-reasoning-fi"][0]["model_id"]

    # The 52-row file holds 44 questions: 8 were answered twice (identical reruns); the first is kept.
    mistral = answer_sets["finnish-mistral-7b-base-test"]
    assert len(mistral.answers) == 44
    assert len(mistral.bad_rows) == 8
    assert all(re.fullmatch(r"id \d+ repeats finnish-mistral-7b-base-test\.jsonl:\d+ \(the first is kept\)", d) for _, d in mistral.bad_rows)
    first = {}
    for line, row in enumerate(rows["finnish-mistral-7b-base-test"], 1):
        first.setdefault(str(row["question_id"]), (line, row["choices"][0]["turns"]))
    kept_lines = {line for line, _ in first.values()}
    assert {w for w, _ in mistral.bad_rows} == {f"finnish-mistral-7b-base-test.jsonl:{n}" for n in range(1, 53) if n not in kept_lines}
    assert mistral.answers == {pid: turns for pid, (_, turns) in first.items()}
    assert sum(len(a.answers) for a in answer_sets.values()) == 2444


def test_responses_of_reasoning_runs_give_their_content_not_their_reasoning(answer_sets):
    # The *-reasoning files hold whole chat-completion responses per turn, reasoning apart.
    row = raw_rows(mt_bench("model_answer_fi", "gpt-oss-20b-reasoning-fi.jsonl"))[0]
    message = row["choices"][0]["turns"][0]["choices"][0]["message"]
    answer = answer_sets["gpt-oss-20b-reasoning-fi"].answers[str(row["question_id"])][0]
    assert answer == message["content"] and message["reasoning"] and message["reasoning"] not in answer
    # Stream errors left empty contents; FastChat's $ERROR$ marks failed calls: both are no answer.
    raw_errors = sum(t.strip() == "$ERROR$" for r in raw_rows(mt_bench("model_answer_fi", "gpt-oss-20b-fi.jsonl")) for t in r["choices"][0]["turns"])
    assert raw_errors == 2
    assert sum(t == "" for turns in answer_sets["gpt-oss-20b-fi"].answers.values() for t in turns) == 3  # 2 errors + 1 empty
    assert not any("$ERROR$" in t or "<think>" in t for a in answer_sets.values() for turns in a.answers.values() for t in turns)


def test_strip_reasoning():
    assert strip_reasoning("<think>Käyttäjä kysyy...</think>\n\nVastaus on 42.") == "Vastaus on 42."
    assert strip_reasoning("\n <think>a\nb</think>Vastaus") == "Vastaus"
    assert strip_reasoning("Okay, the user asks...\n</think>\n\nVastaus") == "Vastaus"  # <think> was in the prompt
    assert strip_reasoning("<think>cut off while thinking") == ""
    assert strip_reasoning("Käytä tagia <think> ja sulje se </think>.") == "Käytä tagia <think> ja sulje se </think>."
    assert strip_reasoning("Vastaus ilman päättelyä.") == "Vastaus ilman päättelyä."


def test_gzipped_answers_and_langmill_shards(tmp_path, answer_sets, questions):
    source = mt_bench("model_answer_fi", "gpt-oss-20b-fi.jsonl")
    gz = tmp_path / "gpt-oss-20b-fi.jsonl.gz"
    with open(source, "rb") as f, gzip.open(gz, "wb") as out:
        shutil.copyfileobj(f, out)
    assert read_answers(str(gz)).answers == answer_sets["gpt-oss-20b-fi"].answers
    assert read_answers(str(gz)).model == "gpt-oss-20b-fi"

    # langmill SFT shards (OUT/data/*.parquet): the model column names the set, else the run folder.
    answers = answer_sets["kimi-k2_fi"].answers
    ids = sorted(answers, key=int)

    def sft_rows(chunk, model):
        def chat(pid):
            pairs = zip(questions[pid]["turns"], answers[pid])
            return [m for q, a in pairs for m in ({"role": "user", "content": q}, {"role": "assistant", "content": a})]
        return [{"id": pid, "messages": chat(pid), **model} for pid in chunk]

    data = tmp_path / "run-kimi" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(sft_rows(ids[:40], {"model": "moonshotai/kimi-k2"})), data / "00000.parquet")
    pq.write_table(pa.Table.from_pylist(sft_rows(ids[40:], {"model": "moonshotai/kimi-k2"})), data / "00001.parquet")
    shards = read_answers(str(data))
    assert (shards.model, shards.answers, shards.bad_rows) == ("moonshotai/kimi-k2", answers, [])
    plain = tmp_path / "plain" / "data"
    plain.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(sft_rows(ids, {})), plain / "00000.parquet")
    assert read_answers(str(plain)).model == "plain"


def test_completion_rows_with_damage(tmp_path, answer_sets):
    answers = answer_sets["Poro-34B-chat-finnish"].answers
    rows = [json.dumps({"id": pid, "turn": t + 1, "completion": answers[pid][t], "model": "poro-chat"}) for pid in answers for t in (1, 0)]
    rows[0:0] = [json.dumps({"question": "not an answer"})]  # before the first answer row
    rows += [
        json.dumps({"id": "81", "turn": 1, "completion": "toinen vastaus", "model": "poro-chat"}),  # repeats 81/1
        json.dumps({"id": "900", "turn": 2, "completion": "vain toinen vuoro", "model": "poro-chat"}),  # no turn 1
        json.dumps({"id": "901", "completion": ["ei", "merkkijono"]}),
        json.dumps({"id": "902", "completion": "x", "turn": "1"}),
        json.dumps({"id": "903", "completion": "toisen mallin vastaus", "model": "gpt-4o"}),
        '{"id": "904", "completion": "katkennut',
        json.dumps({"id": "905", "response": "<think>Käyttäjä tervehtii.</think>\nHei vain!"}),
        json.dumps({"id": "906", "output": "$ERROR$"}),
        json.dumps({"question_id": 81, "choices": [{"turns": ["väärä muoto"]}]}),
    ]
    path = tmp_path / "completions.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    got = read_answers(str(path))
    assert got.model == "poro-chat"
    assert {pid: got.answers[pid] for pid in answers} == answers  # turns placed by `turn`, not by row order
    assert (got.answers["905"], got.answers["906"]) == (["Hei vain!"], [""])
    assert set(got.answers) == set(answers) | {"905", "906"}
    details = dict(got.bad_rows)
    assert len(details) == 8  # 905 and 906 are answers (a stripped <think> block, an API error)
    n = len(answers) * 2 + 1
    assert details["completions.jsonl:1"].startswith("not an answer row (fields: question)")
    first_81 = rows.index(json.dumps({"id": "81", "turn": 1, "completion": answers["81"][0], "model": "poro-chat"})) + 1
    assert details[f"completions.jsonl:{n + 1}"] == f"id 81 turn 1 repeats completions.jsonl:{first_81} (the first is kept)"
    assert details[f"completions.jsonl:{n + 2}"] == "id 900 turn 2 has no turn 1 before it"
    assert details[f"completions.jsonl:{n + 3}"] == "completion is list, not a string"
    assert details[f"completions.jsonl:{n + 4}"] == "turn is '1', not an integer >= 1"
    assert "differs from the file's model 'poro-chat'" in details[f"completions.jsonl:{n + 5}"]
    assert details[f"completions.jsonl:{n + 6}"].startswith("malformed JSON")
    assert details[f"completions.jsonl:{n + 9}"] == "a fastchat row in a file of completion rows"


def test_unusable_paths_raise_one_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_answers(str(tmp_path / "missing.jsonl"))
    wrong = tmp_path / "questions.jsonl"
    shutil.copy(mt_bench("question_fi.jsonl"), wrong)  # the questions, not answers
    with pytest.raises(InputError) as err:
        read_answers(str(wrong))
    assert str(wrong) in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .parquet or .jsonl"):
        read_answers(str(tmp_path / "empty"))


# --- the real language-fidelity table -------------------------------------------------------------


@pytest.fixture(scope="module")
def fidelity(answer_sets, lid):
    return {stem: language_fidelity([t for turns in a.answers.values() for t in turns], "fi", lid) for stem, a in answer_sets.items()}


def test_real_language_fidelity_table(fidelity):
    for row in fidelity.values():
        assert row["in_lang"] + sum(row["other"].values()) == row["judged"]
        assert row["judged"] + row["too_short"] + row["empty"] == row["answers"]
        assert row["wilson95"][0] <= row["share"] <= row["wilson95"][1]
    # Models trained on Finnish (Poro, the Finnish Llamas, the Finnish Mistral) answer in Finnish.
    finnish_trained = ["Poro-34B-chat-finnish", "Poro-34B-base-finnish", "Llama-3.1-8B-base-finnish", "finnish-llama-3.1-lr-3e-4",
                       "finnish-llama-3.1_llama70B_cpt_iter_0011920_bfloat16_fi", "finnish-mistral-7b-base-test",
                       "finnish-llama-chat-70b-instruction-collection-packed-eng-fin-epochs-3-batch-64_fi"]
    assert all(fidelity[m]["share"] > 0.95 for m in finnish_trained)
    assert fidelity["deepseek-chat-v3-0324-fi"]["share"] == fidelity["deepseek-r1-0528-reasoning-fi"]["share"] == 1.0
    # MiniMax-M1 answers more than a quarter of the questions in English, with or without reasoning:
    # the two lowest of the 31, and every non-Finnish answer of theirs is English.
    ranked = sorted(fidelity, key=lambda m: fidelity[m]["share"])
    assert set(ranked[:2]) == {"minimax-m1-fi", "minimax-m1-reasoning-fi"}
    for model in ranked[:2]:
        assert fidelity[model]["share"] < 0.75 and fidelity[model]["other"] == {"en": 41}
    # Then gpt-oss-20b and two of the europa SFT mixes, below 90 %, mostly in English too.
    assert set(ranked[2:6]) == {"gpt-oss-20b-fi", "gpt-oss-20b-reasoning-fi", "europa_100pct_sft_data_mix_v0.1_fi", "europa_90pct_sft_fi"}
    assert all(fidelity[m]["share"] < 0.9 and fidelity[m]["other"]["en"] >= 14 for m in ranked[2:6])
    assert all(fidelity[m]["share"] > 0.94 for m in ranked[6:])


def test_which_answers_are_not_finnish(answer_sets, questions, lid):
    # MiniMax's English answers are mostly to coding, math and reasoning questions.
    english = Counter()
    for pid, turns in answer_sets["minimax-m1-fi"].answers.items():
        english[questions[pid]["category"]] += sum((answer_language(t, "fi", lid) or ("",))[0] == "en" for t in turns)
    assert sum(english.values()) == 41
    assert english["coding"] + english["math"] + english["reasoning"] >= 30
    # gpt-oss-20b with reasoning answered the second turn of question 128 in Estonian.
    assert answer_language(answer_sets["gpt-oss-20b-reasoning-fi"].answers["128"][1], "fi", lid)[0] == "et"
    # Answers that are only numbers, JSON of numbers or code are too short to tell.
    assert answer_language("[4, 1, 3]", "fi", lid) is None
    assert answer_language("```python\nprint('hello world, this is code only')\n```", "fi", lid) is None
    assert answer_language("<think>The user wants a list of many things in Finnish.</think>Kyllä.", "fi", lid) is None


# --- a scripted judge on real answers --------------------------------------------------------------


def scripted_judge(question_id, first, second, fi):
    """A judge's raw output for answers shown in seats 1 and 2: the Finnish one wins; of two Finnish
    ones the longer, unless the lengths are within 10 %, where it picks seat 1 (position bias); of two
    non-Finnish ones neither. Every 7th question's judgement with B first comes back garbled, and so
    does every 11th question's with A first."""
    if fi[first] != fi[second]:
        return "[[A]]" if fi[first] else "[[B]]"
    if not fi[first]:
        return "[[C]]"
    if abs(len(first) - len(second)) <= 0.1 * max(len(first), len(second)):
        return "[[A]]"
    return "[[A]]" if len(first) > len(second) else "[[B]]"


def parse_verdict(output, a_first):
    """FastChat's [[A]]/[[B]]/[[C]] for the seats, as a verdict on the answers."""
    label = re.fullmatch(r"\[\[([ABC])\]\]", output)
    if not label:
        return None
    return {"A": "a" if a_first else "b", "B": "b" if a_first else "a", "C": "tie"}[label.group(1)]


def judged_games(answer_sets, questions, lid):
    a, b = answer_sets["minimax-m1-fi"].answers, answer_sets["gpt-oss-20b-fi"].answers
    games, facts = [], []
    for pid in sorted(a, key=int):
        for turn in (1, 2):
            x, y = a[pid][turn - 1], b[pid][turn - 1]
            lang_x, lang_y = answer_language(x, "fi", lid), answer_language(y, "fi", lid)
            fi = {x: lang_x is not None and lang_x[0] == "fi", y: lang_y is not None and lang_y[0] == "fi"}
            out1 = "I cannot decide." if int(pid) % 11 == 0 else scripted_judge(pid, x, y, fi)
            out2 = "Verdict: A is better" if int(pid) % 7 == 0 else scripted_judge(pid, y, x, fi)
            games.append({"id": pid, "category": questions[pid]["category"], "turn": turn,
                          "orders": [parse_verdict(out1, True), parse_verdict(out2, False)],
                          "a_in_lang": None if lang_x is None else lang_x[0] == "fi",
                          "b_in_lang": None if lang_y is None else lang_y[0] == "fi"})
            facts.append((pid, questions[pid]["category"], fi[x], fi[y], len(x), len(y), out1, out2, games[-1]))
    return games, facts


def recount(facts, wrong_language_loss):
    """What the summary must say, counted straight from what the judge was given and said."""
    counts, per_category = Counter(), {}
    for pid, category, fi_a, fi_b, len_a, len_b, out1, out2, game in facts:
        parsed = [o for o in (out1, out2) if o.startswith("[[")]
        counts["parsed_orders"] += len(parsed)
        counts["first_seat"] += sum(o == "[[A]]" for o in parsed)
        close = abs(len_a - len_b) <= 0.1 * max(len_a, len_b)
        if len(parsed) == 2:
            counts["both_parsed"] += 1
            counts["flips"] += fi_a and fi_b and close
        if wrong_language_loss and False in (game["a_in_lang"], game["b_in_lang"]):
            a_ok, b_ok = game["a_in_lang"] is not False, game["b_in_lang"] is not False
            verdict = "tie" if a_ok == b_ok else ("a" if a_ok else "b")
        elif len(parsed) < 2:
            verdict = None
        elif fi_a != fi_b:
            verdict = "a" if fi_a else "b"
        elif not fi_a or close:
            verdict = "tie"
        else:
            verdict = "a" if len_a > len_b else "b"
        counts[verdict] += 1
        per_category.setdefault(category, Counter())[verdict] += 1
    return counts, per_category


@pytest.mark.parametrize("wrong_language_loss", [False, True])
def test_scripted_judge_on_real_answers_matches_a_recount(answer_sets, questions, lid, wrong_language_loss):
    games, facts = judged_games(answer_sets, questions, lid)
    s = winrate_summary(games, wrong_language_loss=wrong_language_loss)
    want, per_category = recount(facts, wrong_language_loss)
    judged = want["a"] + want["b"] + want["tie"]
    assert (s["games"], s["judged"], s["a_wins"], s["b_wins"], s["ties"]) == (160, judged, want["a"], want["b"], want["tie"])
    assert s["parse_failures"]["games"] == want[None]
    assert s["win_rate"] == pytest.approx((want["a"] + want["tie"] / 2) / judged)
    assert s["ci95"][0] < s["win_rate"] < s["ci95"][1]
    assert s["flip_rate"] == pytest.approx(want["flips"] / want["both_parsed"])
    assert s["first_seat_wins"] == pytest.approx(want["first_seat"] / want["parsed_orders"])
    for category, counts in per_category.items():
        got = s["per_category"][category]
        assert (got["a_wins"], got["b_wins"], got["ties"], got["games"] - got["judged"]) == (counts["a"], counts["b"], counts["tie"], counts[None])
    # The data gives every branch: both scripted failures, flips, and both kinds of language loss.
    questions_11, questions_7 = sum(int(p) % 11 == 0 for p in {f[0] for f in facts}), sum(int(p) % 7 == 0 for p in {f[0] for f in facts})
    assert s["parse_failures"]["first_order"] == 2 * questions_11 and s["parse_failures"]["second_order"] == 2 * questions_7
    assert want["flips"] >= 5 and s["wrong_language"]["a"] >= 30 and s["wrong_language"]["b"] >= 10
    if wrong_language_loss:
        assert s["language_losses"] == sum(False in (g["a_in_lang"], g["b_in_lang"]) for g in games) > 40
        assert s["parse_failures"]["games"] < winrate_summary(games)["parse_failures"]["games"]
    # gpt-oss-20b answers in Finnish far more often than MiniMax-M1: A loses.
    assert s["win_rate"] < 0.4


def test_mtbench_summary_on_scripted_grades(answer_sets, questions, lid):
    # A scripted grader of real answers: no parsable grade for an empty answer, 2 for one not in
    # Finnish, else 3 plus a point per 150 characters (at most 10).
    grades = []
    for pid, turns in answer_sets["gpt-oss-20b-fi"].answers.items():
        for turn, text in enumerate(turns, 1):
            lang = answer_language(text, "fi", lid)
            score = None if not text.strip() else 2.0 if lang is not None and lang[0] != "fi" else float(min(10, 3 + len(text) // 150))
            grades.append({"id": pid, "category": questions[pid]["category"], "turn": turn, "score": score})
    s = mtbench_summary(grades)
    parsed = [g for g in grades if g["score"] is not None]
    assert (s["grades"], s["graded"], s["parse_failures"]) == (160, len(parsed), 160 - len(parsed)) == (160, 157, 3)
    assert s["score"] == pytest.approx(statistics.mean(g["score"] for g in parsed))  # FastChat's "Average"
    assert s["ci95"][0] < s["score"] < s["ci95"][1]
    for turn in (1, 2):
        mine = [g["score"] for g in parsed if g["turn"] == turn]
        got = s["per_turn"][str(turn)]
        assert (got["graded"], got["score"], got["parse_failures"]) == (len(mine), pytest.approx(statistics.mean(mine)), 80 - len(mine))
    assert list(s["per_category"]) == sorted({q["category"] for q in questions.values()})
    for category, got in s["per_category"].items():
        mine = [g for g in parsed if g["category"] == category]
        assert got["graded"] == len(mine) and got["score"] == pytest.approx(statistics.mean(g["score"] for g in mine))
        assert got["turn_2"] == pytest.approx(statistics.mean(g["score"] for g in mine if g["turn"] == 2))
    assert mtbench_summary(grades, seed=1)["ci95"] != s["ci95"] and mtbench_summary(grades)["ci95"] == s["ci95"]
    nothing = mtbench_summary([{"id": "81", "category": "writing", "turn": 1, "score": None}])
    assert (nothing["score"], nothing["ci95"], nothing["parse_failures"]) == (None, None, 1)
    with pytest.raises(ValueError):
        mtbench_summary([{"id": "81", "category": "writing", "turn": 1, "score": "8"}])
