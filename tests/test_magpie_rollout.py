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
