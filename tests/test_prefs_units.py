"""The logic of judging and pairing on real text: pairing rules (ties, margins, flawed answers,
identical texts, judge failures; chosen != rejected always), judge output parsing, the checks of a
policy's answer, and prompts from every row format."""

import asyncio
import gzip
import json
import random
from types import SimpleNamespace

import pytest

from conftest import shared_data
from langmill.config import load_synth_config
from langmill.filters.lid import LanguageFilter
from langmill.generators.judge import Judge, JudgeSettings, parse_judgement, score_schema, verdict_schema
from langmill.generators.prefs import choose_pairs
from langmill.prompt_rows import prompt_of
from langmill.readers import BadRow
from langmill.synth_checks import check_answer


def c(text, score=None, issue=None):
    return {"text": text, "score": score, "issue": issue}


def test_best_against_worst_when_the_margin_holds():
    pairs, why = choose_pairs([c("a", 8), c("b", 3), c("c", 6)], margin=2)
    assert pairs == [(0, 1)] and why is None


def test_ties_and_small_margins_give_no_pair():
    assert choose_pairs([c("a", 7), c("b", 7)], margin=1)[1]["reason"] == "tie"
    assert choose_pairs([c("a", 7), c("b", 6)], margin=2)[1]["reason"] == "small_margin"
    assert choose_pairs([c("a", 7), c("b", 5)], margin=2)[0] == [(0, 1)]


def test_a_flawed_completion_is_rejected_whatever_its_score_and_never_chosen():
    # The wrong-language answer scored 9 (judges like fluent English): it is still the rejected one.
    pairs, _ = choose_pairs([c("fi", 6), c("en", 9, "lid"), c("fi2", 5)], margin=2)
    assert pairs == [(0, 1)]
    assert choose_pairs([c("x", 9, "lid"), c("y", 8, "truncated")])[1]["reason"] == "no_usable_completion"


def test_identical_texts_and_judge_failures():
    assert choose_pairs([c("same", 9), c("same ", 2)], margin=1)[1]["reason"] == "identical"
    assert choose_pairs([c("a", None), c("b", None)])[1]["reason"] == "judge_error"
    assert choose_pairs([c("a", 8), c("b", None)])[1]["reason"] == "judge_error"
    assert choose_pairs([c("a", 8)])[1]["reason"] == "too_few_completions"
    assert choose_pairs([c(None, issue="generation_error")] * 2)[1]["reason"] == "generation_error"


def test_all_mode_pairs_every_clean_answer_with_every_worse_one():
    pairs, _ = choose_pairs([c("a", 9), c("b", 6), c("c", 3), c("d", 5, "lid")], mode="all", margin=2)
    assert set(pairs) == {(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)}


def test_chosen_is_never_rejected_nor_flawed_nor_below_the_margin():
    rng = random.Random(7)
    texts = ["Helsinki", "Turku", "Tampere", "Oulu"]
    for _ in range(3000):
        comps = [c(rng.choice(texts + [None]), rng.choice([None, *range(1, 11)]), rng.choice([None, None, "lid", "truncated"]))
                 for _ in range(rng.randint(1, 6))]
        margin = rng.choice([0.5, 1, 2, 3])
        for mode in ("best-worst", "all"):
            pairs, why = choose_pairs(comps, mode, margin)
            assert bool(pairs) != bool(why)
            for i, j in pairs:
                chosen, rejected = comps[i], comps[j]
                assert chosen["text"] is not None and rejected["text"] is not None and chosen["text"].strip() != rejected["text"].strip()
                assert chosen["issue"] is None and chosen["score"] is not None
                assert rejected["issue"] is not None or chosen["score"] - rejected["score"] >= margin


def test_judge_outputs_are_parsed_strictly_and_failures_named():
    assert parse_judgement('{"rationale": "Hyvä.", "score": 8}', "stop", "score") == {"value": 8.0, "rationale": "Hyvä."}
    assert parse_judgement('```json\n{"rationale": "x", "verdict": "B"}\n```', "stop", "verdict")["value"] == "b"
    assert parse_judgement('{"rationale": "x", "score": 8', "length", "score")["error"] == "truncated"
    assert parse_judgement("The answer deserves a 7 out of 10.", "stop", "score")["error"] == "not_json"  # never a digit fished out of prose
    assert parse_judgement('{"rationale": "x", "score": 0}', "stop", "score")["error"] == "bad_fields"
    assert parse_judgement('{"rationale": "x", "score": true}', "stop", "score")["error"] == "bad_fields"
    assert parse_judgement('{"score": 5}', "stop", "score")["error"] == "bad_fields"
    assert parse_judgement('{"rationale": "x", "verdict": "C"}', "stop", "verdict")["error"] == "bad_fields"
    # Rationale first, every string bounded, the score an integer in 1..10.
    schema = score_schema(300)
    assert list(schema["properties"]) == ["rationale", "score"] and schema["properties"]["rationale"]["maxLength"] == 300
    assert schema["properties"]["score"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert verdict_schema(50)["properties"]["verdict"]["enum"] == ["A", "B", "tie"]


def test_both_orders_are_reported_in_terms_of_the_answers():
    seen = []

    async def always_first_seat(payload):  # a judge with pure position bias
        seen.append(payload)
        return SimpleNamespace(text='{"rationale": "A on parempi.", "verdict": "A"}', finish_reason="stop", usage={})

    judge = Judge(JudgeSettings("fi"))
    orders = asyncio.run(judge.compare(always_first_seat, [{"role": "user", "content": "Mikä on Suomen pääkaupunki?"}], "Helsinki.", "Turku."))
    assert [o["value"] for o in orders] == ["a", "b"]  # it flips with the seats: no preference at all
    first, second = (p["messages"][1]["content"] for p in seen)
    assert first.index("Helsinki.") < first.index("Turku.") and second.index("Turku.") < second.index("Helsinki.")
    assert seen[0]["seed"] != seen[1]["seed"] and seen[0]["response_format"]["json_schema"]["strict"] is True
    assert "Finnish" in seen[0]["messages"][0]["content"]


def _mtbench_answers(name: str) -> dict:
    path = shared_data("instructions", "mt-bench", "model_answer_fi", name)
    return {str(r["question_id"]): r["choices"][0]["turns"] for r in map(json.loads, path.read_text().splitlines())}


def test_answer_checks_on_real_answers():
    config, lid = load_synth_config(), LanguageFilter("fi")
    poro = _mtbench_answers("Poro-34B-chat-finnish.jsonl")
    assert check_answer(poro["81"][0], "fi", config, lid, "stop") == []
    minimax = _mtbench_answers("minimax-m1-fi.jsonl")
    english = [a[0] for a in minimax.values() if "the" in a[0].split()[:60] and "```" not in a[0]]
    assert english and check_answer(english[0], "fi", config, lid, "stop")[0].reason == "lid"
    reasons = [f.reason for f in check_answer(poro["81"][0], "fi", config, lid, "length")]
    assert reasons == ["truncated"]
    assert check_answer("<|im_end|>" + poro["82"][0], "fi", config, lid)[0].reason == "artifact"
    assert check_answer("Valitettavasti en voi auttaa tässä asiassa, koska se on vastoin ohjeitani.", "fi", config, lid)[0].reason == "refusal"
    assert check_answer("   ", "fi", config, lid)[0].reason == "empty"
    # Code is no language: a Finnish answer made mostly of code is still Finnish.
    code_answer = "Tässä on funktio, joka laskee luvun kertoman rekursiivisesti:\n```python\ndef factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)\n```"
    assert [f.reason for f in check_answer(code_answer, "fi", config, lid)] == []


def test_prompts_from_every_row_format_on_real_rows():
    question = json.loads(shared_data("instructions", "mt-bench", "question_fi.jsonl").read_text().splitlines()[-1])
    p = prompt_of(question)
    assert p["messages"] == [{"role": "user", "content": question["turns"][0]}] and p["turns"] == question["turns"][1:]
    assert p["category"] == question["category"]
    dolly = json.loads(gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt").readline())
    assert prompt_of(dolly)["messages"][0]["content"].startswith(dolly["instruction"])
    chat = {"messages": [{"role": "system", "content": "Vastaa lyhyesti."}, {"role": "user", "content": dolly["instruction"]},
                         {"role": "assistant", "content": dolly["response"]}]}
    assert [m["role"] for m in prompt_of(chat)["messages"]] == ["system", "user"]  # up to the answer that is replaced
    hh = json.loads(gzip.open(shared_data("instructions", "hh-rlhf-harmless-base.test.jsonl.gz"), "rt").readline())
    assert prompt_of(hh)["messages"][-1]["role"] == "user"
    assert prompt_of({"prompt": "Kerro vitsi."})["messages"] == [{"role": "user", "content": "Kerro vitsi."}]
    for bad in ({"text": "no prompt here"}, {"turns": []}, {"messages": [{"role": "system", "content": "s"}]}, {"turns": ["q"], "reference": "r"}):
        with pytest.raises(BadRow):
            prompt_of(bad)
