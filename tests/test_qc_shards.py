"""`langmill qc` output loads as one dataset: every data/ shard has one schema and every excluded/
shard one schema, whatever odd rows the input holds; inputs of both kinds are refused. Real
translated chats (OpenAssistant threads, English and Finnish), real fastText, the real CLI."""

import gzip
import html
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from langmill import schemas

from conftest import run_langmill, shared_data, write_jsonl

ROLES = {"prompter": "user", "assistant": "assistant"}


def _read_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def chats() -> list[dict]:
    """Translated SFT rows: each OpenAssistant thread (root, then the best-ranked reply, ...) with
    its Finnish translation in `messages` and the English original in `source_messages`."""
    en = _read_gz(shared_data("instructions", "oasst1-en-validation.jsonl.gz"))
    fi = {m["message_id"]: m["text"] for m in _read_gz(shared_data("instructions", "oasst1-fi-validation.rebuilt.jsonl.gz"))}
    children: dict = {}
    for m in en:
        children.setdefault(m["parent_id"], []).append(m)
    rows = []
    for root in children[None]:
        thread = [root]
        while children.get(thread[-1]["message_id"]):
            thread.append(min(children[thread[-1]["message_id"]], key=lambda m: (m["rank"] is None, m["rank"] or 0)))
        rows.append({
            "id": root["message_tree_id"],
            "messages": [{"role": ROLES[m["role"]], "content": fi[m["message_id"]]} for m in thread],
            "source_messages": [{"role": ROLES[m["role"]], "content": m["text"]} for m in thread],
        })
    return rows


def _prose(row: dict) -> bool:
    """A short thread of plain prose (no code, no lists): one whose translation passes QC."""
    texts = [m["content"] for m in row["messages"] + row["source_messages"]]
    return len(row["messages"]) == 2 and not any(mark in t for t in texts for mark in ("```", "`", "\n-", "\n1", "\n*", "$"))


def _translate_shard(rows: list[dict], path: Path) -> Path:
    """`rows` as `langmill translate` writes them (schemas.TRANSLATED_SFT, with its qc column)."""
    qc = {"messages": 2, "segments": 3, "requests": 3, "retried_segments": 0, "artifacts_removed": 0,
          "min_lang_score": 0.9, "min_length_ratio": 0.8, "max_length_ratio": 1.1}
    full = [{**r, "lang": "fi", "source_lang": "en", "source_format": "messages", "source": f"oasst.jsonl:{i}", "model": "m", "qc": qc}
            for i, r in enumerate(rows, 1)]
    pq.write_table(pa.Table.from_pylist(full, schema=schemas.TRANSLATED_SFT), path)
    return path


def test_odd_rows_do_not_change_the_schema(tmp_path, chats):
    import datasets

    clean = _translate_shard(chats[:12], tmp_path / "clean.parquet")
    prose = next(r for r in chats[12:] if _prose(r))
    first, second = chats[13], chats[14]
    planted = [
        # A conversation flattened into one string (a plain string instead of a message list).
        {"id": "string_messages", "messages": "\n\n".join(m["content"] for m in first["messages"]), "source_messages": first["source_messages"]},
        # A translated preference row in a chat file.
        {"id": "preference_row", "prompt": first["messages"][0]["content"], "chosen": first["messages"][1]["content"],
         "rejected": second["messages"][1]["content"], "source_prompt": first["source_messages"][0]["content"],
         "source_chosen": first["source_messages"][1]["content"], "source_rejected": second["source_messages"][1]["content"]},
        # Every translated message came back empty, and a row with no messages at all.
        {"id": "empty_conversation", "messages": [{**m, "content": " \n"} for m in second["messages"]], "source_messages": second["source_messages"]},
        {"id": "no_messages", "messages": [], "source_messages": second["source_messages"]},
        # A tool call's output inside the conversation.
        {"id": "tool_role", "messages": first["messages"] + [{"role": "tool", "content": '{"temperature": 21}'}],
         "source_messages": first["source_messages"] + [{"role": "tool", "content": '{"temperature": 21}'}]},
        # ShareGPT roles, a message `name` and a field of its own: kept, roles mapped, nothing lost.
        {"id": "sharegpt_roles", "category": "open_qa",
         "messages": [{"role": "human", "content": prose["messages"][0]["content"], "name": "asker"}, {"role": "gpt", "content": prose["messages"][1]["content"]}],
         "source_messages": [{"role": "human", "content": prose["source_messages"][0]["content"]}, {"role": "gpt", "content": prose["source_messages"][1]["content"]}]},
    ]
    damaged = write_jsonl(tmp_path / "damaged.jsonl", chats[20:30] + planted)
    with open(damaged, "a", encoding="utf-8") as f:
        f.write('{"id": "cut", "messages": [{"role": "user", "content": "Mik\n')  # a truncated line
    out = tmp_path / "out"
    proc = run_langmill("qc", clean, damaged, "--to", "fi", "--out", out)
    assert proc.returncode == 0, proc.stderr

    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == 12 + 10 + len(planted) + 1 == stats["kept"] + stats["excluded"]
    # Every shard of a folder has the folder's one schema, so both load as one dataset.
    for folder, schema in (("data", schemas.QC_SFT), ("excluded", schemas.QC_EXCLUDED)):
        files = sorted((out / folder).glob("*.parquet"))
        assert len(files) == 2 and all(pq.read_schema(p).remove_metadata() == schema for p in files)
        frame = pl.read_parquet(str(out / folder / "*.parquet"))
        loaded = datasets.load_dataset("parquet", data_files=str(out / folder / "*.parquet"), split="train", cache_dir=str(tmp_path / "hf"))
        assert frame.height == loaded.num_rows == stats["kept" if folder == "data" else "excluded"]
    kept = {r["id"]: r for r in pl.read_parquet(str(out / "data" / "*.parquet")).to_dicts()}
    excluded = {r["id"]: r for r in pl.read_parquet(str(out / "excluded" / "*.parquet")).to_dicts()}

    details = {
        "string_messages": "messages is a plain string, not a list of {role, content} messages",
        "preference_row": "a preference row in a run of SFT rows; check it in a separate run",
        "empty_conversation": "messages: every message is empty",
        "no_messages": "messages is not a non-empty list of messages",
        "tool_role": f"messages[{len(first['messages'])}] has role 'tool'; langmill translates and checks system, user and assistant messages only",
    }
    for row_id, detail in details.items():
        assert excluded[row_id]["reason"] == "bad_row" and excluded[row_id]["detail"] == f"{row_id}: {detail}"
        assert json.loads(excluded[row_id]["row"]) == next(r for r in planted if r["id"] == row_id)  # the row as read
        assert excluded[row_id]["source"].startswith("damaged.jsonl:")
    assert excluded["damaged.jsonl:17"]["reason"] == "bad_row" and "malformed JSON" in excluded["damaged.jsonl:17"]["detail"]
    assert {r["reason"] for r in excluded.values() if r["source"].startswith("clean")} <= set(stats["excluded_by_reason"]) - {"bad_row"}

    mapped = kept["sharegpt_roles"]
    assert [m["role"] for m in mapped["messages"]] == [m["role"] for m in mapped["source_messages"]] == ["user", "assistant"]
    assert json.loads(mapped["extra"]) == {"category": "open_qa", "messages[0]": {"name": "asker"}}
    assert mapped["lang"] == "fi" and mapped["qc"]["messages_checked"] == 2
    from_translate = [r for r in kept.values() if r["source"] and r["source"].startswith("oasst.jsonl:")]
    assert len(from_translate) >= 6  # most real translations pass
    for row in from_translate:  # translate's columns kept; its own qc measurements in `extra`
        assert row["model"] == "m" and row["source_format"] == "messages" and json.loads(row["extra"])["qc"]["segments"] == 3

    # The report shows the start of each example row (its first message), cut at a word boundary.
    examples = {e["id"]: e for found in stats["excluded_examples"].values() for e in found}
    shown = examples["string_messages"]["text"]
    assert shown.endswith("…") and not shown.startswith("{")
    assert " ".join(planted[0]["messages"].split()).startswith(shown[:-1])
    assert planted[0]["messages"].split()[len(shown[:-1].split()) - 1] == shown[:-1].split()[-1]  # a whole word
    assert all(not e["text"].startswith('{"') and len(e["text"]) <= 200 for e in examples.values())
    assert html.escape(shown) in (out / "report.html").read_text()


def test_inputs_of_both_kinds_are_refused(tmp_path, chats):
    prefs = [{"id": f"p{i}", "prompt": r["messages"][0]["content"], "chosen": r["messages"][1]["content"], "rejected": "En tiedä.",
              "source_prompt": r["source_messages"][0]["content"], "source_chosen": r["source_messages"][1]["content"],
              "source_rejected": "I do not know."} for i, r in enumerate(chats[:3])]
    chat_file = write_jsonl(tmp_path / "a.jsonl", chats[:3])
    pref_file = write_jsonl(tmp_path / "b.jsonl", prefs)
    out = tmp_path / "out"
    proc = run_langmill("qc", chat_file, pref_file, "--to", "fi", "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"langmill: error: {pref_file} holds preference rows, {chat_file} SFT rows; "
                                        "the shards of one run share one schema: run langmill qc once per kind"]
    assert not out.exists()  # refused before any work
    # Each kind alone is checked, into a preference schema that loads as one dataset.
    proc = run_langmill("qc", pref_file, "--to", "fi", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_schema(next((out / "data").glob("*.parquet"))).remove_metadata() == schemas.QC_PREFERENCE
