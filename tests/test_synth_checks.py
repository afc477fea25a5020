"""Checks of generated instruction/answer pairs, on real instructions (Dolly en/fi) with planted faults."""

import gzip
import json

import pytest

from conftest import shared_data
from langmill.config import ConfigError, load_synth_config
from langmill.filters.lid import LanguageFilter
from langmill.synth_checks import check_pair


def _dolly(lang: str, n: int = 40) -> list[dict]:
    rows = []
    with gzip.open(shared_data("instructions", f"dolly-15k-{lang}.from-docx.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("response") and len(row["response"].split()) >= 8:
                rows.append(row)
            if len(rows) == n:
                break
    return rows


@pytest.fixture(scope="module")
def lid():
    return LanguageFilter("fi")


def reasons(instruction, answer, lang="fi", lid=None, **kw):
    return [f.reason for f in check_pair(instruction, answer, lang, load_synth_config(), lid, **kw)]


def test_real_finnish_pairs_pass_and_english_ones_fail_lid(lid):
    fi, en = _dolly("fi"), _dolly("en")
    passed = sum(not reasons(r["instruction"], r["response"], lid=lid) for r in fi)
    assert passed >= 0.85 * len(fi)  # a few real instructions are one- or two-word questions
    wrong_language = [reasons(r["instruction"], r["response"], lid=lid) for r in en]
    assert sum("lid" in r for r in wrong_language) >= 0.9 * len(en)


def test_planted_faults_each_get_their_reason(lid):
    row = _dolly("fi")[0]
    q, a = row["instruction"], row["response"]
    assert reasons("Listaa seuraavat:", a, lid=lid) == ["instruction_shape"]
    assert reasons("<|user|> " + q, a, lid=lid)[0] == "instruction_shape"
    assert reasons("User: " + q, a, lid=lid)[0] == "instruction_shape"
    assert reasons(q, "Valitettavasti en voi auttaa tämän pyynnön kanssa, koska se on vastoin ohjeitani.", lid=lid) == ["refusal"]
    assert reasons(q, "I'm sorry, but I can't help with that.", lid=lid)[:2] == ["lid", "refusal"]
    assert reasons(q, a + " Minut on kehittänyt OpenAI.", lid=lid) == ["model_identity"]
    assert reasons(q, "Helsinki on kaunis kaupunki. " * 30, lid=lid) == ["repetition"]
    assert reasons(q, a, lid=lid, finish_reason="length") == ["truncated"]
    assert reasons(q, a, lid=lid, finish_reason="stop") == []


def test_synth_config_is_validated():
    assert load_synth_config({"lid": {"threshold": 0.7}})["lid"]["threshold"] == 0.7
    assert load_synth_config({"refusal": {"phrases": {"sw": ["Samahani, siwezi"]}}})["refusal"]["phrases"]["sw"] == ["Samahani, siwezi"]
    with pytest.raises(ConfigError, match="did you mean lid.threshold"):
        load_synth_config({"lid": {"treshold": 0.7}})
    with pytest.raises(ConfigError, match="repetition.min_compression_ratio"):
        load_synth_config({"repetition": {"min_compression_ratio": 2}})
