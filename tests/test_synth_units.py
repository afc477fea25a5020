"""The parts of grounded synthesis and of the run-wide instruction dedup, on real text: Finnish
Dolly rows (answers against their own and another row's context, instructions with planted
duplicates) and the embedded sample documents."""

import gzip
import json
import os

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared_data
from langmill import schemas
from langmill.config import load_synth_config
from langmill.filters.dedup import CLUSTERS_FILE, InstructionDedup
from langmill.generators.grounded import (GroundedSettings, chunk_document, context_reference, load_synth_prompts, pair_schema, parse_pair,
                                          support_overlap)

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "langmill", "sample_data", "txt", "fi_paragraphs.txt")


def _dolly_fi() -> list[dict]:
    with gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def dolly():
    return _dolly_fi()


def test_chunks_are_whole_paragraphs_within_the_word_budget():
    text = open(SAMPLE, encoding="utf-8").read()
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    chunks = chunk_document(text, max_words=120, min_words=40)
    assert len(chunks) > 1 and all(len(c.split()) <= 120 for c in chunks)
    # Nothing lost or reordered, and no paragraph cut (each is under the budget).
    assert [p for c in chunks for p in c.split("\n\n")] == [" ".join(p.split()) for p in paragraphs]
    assert chunk_document(text, max_words=10_000, min_words=40) == ["\n\n".join(" ".join(p.split()) for p in paragraphs)]
    assert chunk_document("Liian lyhyt teksti.", max_words=120, min_words=40) == []
    # A paragraph longer than the budget is cut between words; a short tail joins the chunk before.
    long = " ".join(paragraphs)
    pieces = chunk_document(long, max_words=100, min_words=40)
    assert " ".join(pieces).split() == long.split() and all(len(p.split()) <= 100 + 40 for p in pieces)


def test_support_overlap_separates_answers_from_their_own_text(dolly):
    config = load_synth_config()
    rows = [r for r in dolly if r.get("context") and len(r["context"].split()) > 60 and len((r.get("response") or "").split()) >= 8][:400]
    own = [support_overlap(r["response"], r["context"], config) for r in rows]
    other = [support_overlap(r["response"], rows[(i + 7) % len(rows)]["context"], config) for i, r in enumerate(rows)]
    threshold = config["support"]["min_overlap"]
    assert sum(x is not None and x >= threshold for x in own) / len(rows) > 0.8
    assert sum(x is not None and x >= threshold for x in other) / len(rows) < 0.02
    # Inflected forms match on their first characters: perheelle / perheen.
    assert support_overlap("Talon katto vuoti perheelle.", "Perheen talon katto vuoti syksyllä.", config) == 1.0
    assert support_overlap("Talon katto vuoti perheelle.", "Kaupungin uimahalli suljetaan kesäkuussa.", config) == 0.0
    assert support_overlap("123 45", "mitä tahansa", config) is None  # no content word to judge


def test_context_reference_finds_pointers_to_an_unseen_text():
    config = load_synth_config()
    for lang, text in [("fi", "Mitä tekstissä sanotaan uimahallin remontista?"), ("fi", "Tiivistä yllä oleva kappale kolmeen lauseeseen."),
                       ("en", "According to the passage, when does the pool open?"), ("eu", "Zer dio testuak udazkenari buruz?"),
                       ("fi", "What does the text say about saunas?")]:
        assert context_reference(text, lang, config), text
    for lang, text in [("fi", "Milloin kaupungin uimahalli avataan remontin jälkeen?"), ("en", "When does the city pool reopen?"),
                       ("fi", "Kirjoita lyhyt runo syksystä maatilalla."), ("en", "Write a context-free grammar for arithmetic.")]:
        assert context_reference(text, lang, config) is None, text


def test_pair_schema_bounds_every_string_and_parse_pair_says_what_is_wrong():
    schema = pair_schema(60, 120)
    assert schema["required"] == ["instruction", "answer"] and schema["additionalProperties"] is False
    assert [schema["properties"][k]["maxLength"] for k in ("instruction", "answer")] == [60, 120]
    assert parse_pair('{"instruction": " Mikä? ", "answer": "Tämä."}') == ("Mikä?", "Tämä.")
    assert parse_pair('{"instruction": "Mikä?", "answer": "Tä').startswith("not JSON (")
    assert parse_pair('{"instruction": "Mikä?"}').startswith("JSON without string instruction and answer")
    assert parse_pair("[1, 2]").startswith("JSON without")


def test_task_types_rotate_and_prompts_name_the_language_and_rule():
    settings = GroundedSettings(lang="fi", per_doc=2)
    seen = [settings.task_of("doc-1", c, j) for c in range(5) for j in range(2)]
    assert sorted(seen) == sorted(list(settings.tasks) * 2)  # every type equally often over 10 pairs
    system, user = settings.messages("Kaupungin uimahalli suljetaan.", "qa")
    assert "Finnish" in system["content"] and "Kaupungin uimahalli suljetaan." in user["content"]
    assert "will NOT see the text" in user["content"]
    with_context = GroundedSettings(lang="fi", with_context=True).messages("x", "qa")[1]["content"]
    assert "right above the request" in with_context
    assert len({settings.request_seed("doc-1#0", j) for j in range(50)}) == 50


def test_prompt_file_may_add_a_task_type_and_typos_fail(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("tasks:\n  dialogue: Write a dialogue.\n")
    assert "dialogue" in load_synth_prompts(str(good))["tasks"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("sytem: Hello\n")
    with pytest.raises(ValueError, match="sytem"):
        load_synth_prompts(str(bad))


# --- the run-wide dedup of instructions ------------------------------------------------------------------


def _rows(instructions: list[str], prefix: str, start: int) -> list[dict]:
    return [{"id": f"{prefix}-{start + k:08d}", "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "Vastaus."}],
             "lang": "fi", "source": "magpie", "model": "m", "task": None, "generation": "{}"} for k, text in enumerate(instructions)]


def _stage(folder, rows: list[dict], shards: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for r in range(shards):  # as `shards` tasks would write them: slot k to task k % shards
        part = rows[r::shards]
        pq.write_table(pa.Table.from_pylist(part, schema=schemas.SYNTH_SFT), os.path.join(folder, f"{r:05d}_chunk_00000.parquet"))


def _run_dedup(out, rows, shards):
    staged = os.path.join(out, "work", "staged")
    _stage(staged, rows, shards)
    list(InstructionDedup(staged, str(out), load_synth_config()["dedup"]).run())  # a datatrove step: a generator
    kept = pl.read_parquet(os.path.join(out, "data", "*.parquet"))
    dropped = pl.read_parquet(os.path.join(out, "excluded", "*.parquet"))
    return kept, dropped, json.load(open(os.path.join(staged, CLUSTERS_FILE)))


def test_instruction_dedup_over_a_run_on_real_instructions(dolly, tmp_path):
    distinct = list(dict.fromkeys(r["instruction"].strip() for r in dolly if len(r["instruction"].split()) >= 8))[:300]
    planted = [distinct[0].upper() + "!!",  # the same words: an exact duplicate after normalisation
               distinct[1].replace(distinct[1].split()[-1], "") + " kiitos paljon",  # last word swapped for two: near
               distinct[2] + " Vastaa lyhyesti."]  # two words added: near
    rows = _rows(distinct, "magpie", 0) + _rows(planted, "magpie", 300)
    kept, dropped, clusters = _run_dedup(tmp_path / "a", rows, shards=3)
    assert kept.height + dropped.height == len(rows)
    by_id = {r["id"]: r for r in dropped.to_dicts()}
    assert by_id["magpie-00000300"]["reason"] == "exact_dup" and "of magpie-00000000" in by_id["magpie-00000300"]["detail"]
    assert by_id["magpie-00000301"]["reason"] == "near_dup" and "of magpie-00000001" in by_id["magpie-00000301"]["detail"]
    assert by_id["magpie-00000302"]["reason"] == "near_dup" and "of magpie-00000002" in by_id["magpie-00000302"]["detail"]
    # Real Dolly instructions rarely match each other; the first of a cluster (by id) is the one kept.
    assert dropped.height - 3 <= 0.05 * len(distinct)
    assert {"magpie-00000000", "magpie-00000001", "magpie-00000002"} <= set(kept["id"])
    assert clusters["clusters"] >= 3 and clusters["largest"][0]["size"] >= 2 and clusters["largest"][0]["duplicates"]
    # Dropped rows keep their conversation, as JSON, for a look.
    assert json.loads(by_id["magpie-00000302"]["messages"])[0]["content"] == planted[2]
    # The same choices whatever the number of tasks that generated the rows.
    kept_one, dropped_one, _ = _run_dedup(tmp_path / "b", rows, shards=1)
    assert sorted(kept_one["id"]) == sorted(kept["id"]) and sorted(dropped_one["detail"]) == sorted(dropped["detail"])
