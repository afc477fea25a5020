"""The Magpie rollout through langmill's GenerationRunner and a real vLLM server (the tiny model).

The model's output is noise: these tests check the mechanics (a raw completion of the model's own
pre-query template, then a chat answer, per turn; both kinds of request in one run; every slot one
row in data/ or excluded/ with a reason). The checks themselves are tested on real text in
test_synth_checks.py.
"""

import polars as pl
from datatrove.data import Document

from conftest import API_KEY, API_KEY_ENV
from langmill.generators.engine import EngineConfig, GenerationRunner
from langmill.generators.magpie import MagpieGenerator, MagpieSettings, pre_query_template, stop_for, tokenizer_render, user_turn_end
from langmill.shards import RowShards


def magpie_rows(document: Document) -> list[tuple[str, dict]]:
    result = document.metadata["rollout_results"][0]
    if result["status"] == "kept":
        return [("data", {"id": document.id, "messages": result["messages"]})]
    return [("excluded", {"id": document.id, "reason": result["reason"], "detail": result["detail"]})]


def test_magpie_rollout_sends_completion_and_chat_requests(tmp_path, server, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    tokenizer = AutoTokenizer.from_pretrained(server["model"])
    render = tokenizer_render(tokenizer)
    settings = MagpieSettings(lang="fi", pre_query=pre_query_template(render, system="Vastaa suomeksi."), stop=stop_for(tokenizer, user_turn_end(render)),
                              model=server["model"], system="Vastaa suomeksi.", turns=2,
                              instruction={"temperature": 1.0, "top_p": 1.0, "max_tokens": 12}, answer={"temperature": 0.7, "top_p": 0.95, "max_tokens": 12})
    engine = EngineConfig(model=server["model"], endpoint_url=server["url"], api_key_env=API_KEY_ENV, max_concurrent=4)
    runner = GenerationRunner(MagpieGenerator(settings).rollout, engine, RowShards(str(tmp_path), magpie_rows, {"data": None, "excluded": None},
                              output_filename="${rank}_chunk_${chunk_index}"), checkpoints_local_dir=str(tmp_path / "checkpoints"), records_per_chunk=100)
    slots = [Document(text="", id=f"magpie-{k}", metadata={"slot": k}) for k in range(6)]
    runner.run(iter(slots), rank=0, world_size=1)
    kept = pl.read_parquet(tmp_path / "data" / "*.parquet") if list((tmp_path / "data").glob("*.parquet")) else pl.DataFrame()
    excluded = pl.read_parquet(tmp_path / "excluded" / "*.parquet")
    assert kept.height + excluded.height == 6  # every slot is one row
    assert sorted((kept["id"].to_list() if kept.height else []) + excluded["id"].to_list()) == sorted(d.id for d in slots)
    # Noise is not Finnish: every row is excluded with the check that failed first, and says which turn.
    assert set(excluded["reason"]) <= {"truncated", "instruction_shape", "lid", "refusal", "model_identity", "repetition"}
    assert all(d.startswith("turn 1: ") for d in excluded["detail"])
    assert runner.throughput.output_tokens > 0 and runner.throughput.last_answer is not None


def test_magpie_command_end_to_end_and_rerun(tmp_path, server):
    from conftest import run_langmill

    out = tmp_path / "magpie-fi"
    args = ["magpie", "--lang", "fi", "--model", server["model"], "--n", "5", "--out", out, "--endpoint-url", server["url"],
            "--api-key-env", API_KEY_ENV, "--system", "Vastaa aina suomeksi.", "--instruction-max-tokens", "12", "--answer-max-tokens", "12"]
    r = run_langmill(*args, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept = pl.read_parquet(out / "data" / "*.parquet")
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    import json

    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == 5 == kept.height + excluded.height and stats["rows_in_equals_kept_plus_excluded"]
    assert stats["requests_sent"] >= 10 and stats["output_tokens"] > 0  # a completion and a chat request per row
    assert sum(stats["instruction_words"]["histogram"].values()) == sum(len([m for m in ms if m["role"] == "user"]) for ms in kept["messages"].to_list())
    assert "Words per kept instruction" in (out / "report.html").read_text()
    assert sorted(kept["id"].to_list() + excluded["id"].to_list()) == [f"magpie-{k:08d}" for k in range(5)]
    assert set(excluded["reason"]) <= set(stats["excluded_by_reason"]) and excluded["detail"].str.starts_with("turn 1: ").all()
    # The conversation so far is kept with the excluded row: system message first.
    assert all(json.loads(m)[0] == {"role": "system", "content": "Vastaa aina suomeksi."} for m in excluded["messages"] if m)
    again = run_langmill(*args, env={API_KEY_ENV: API_KEY})
    assert again.returncode == 0 and "Resuming" in again.stderr and "already done" in again.stderr


def test_magpie_refuses_a_system_message_the_template_cannot_take(tmp_path, server):
    from conftest import REPO, run_langmill

    gemma = tmp_path / "gemma-tokenizer"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(server["model"])
    tok.chat_template = (REPO / "tests" / "fixtures" / "chat_templates" / "gemma-it.jinja").read_text()
    tok.save_pretrained(gemma)
    r = run_langmill("magpie", "--lang", "fi", "--model", server["model"], "--tokenizer", gemma, "--n", "2", "--out", tmp_path / "o",
                     "--endpoint-url", server["url"], "--system", "Vastaa suomeksi.")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("langmill: error: the model's chat template takes no system message")
    assert not (tmp_path / "o").exists()
