"""`langmill synth` end to end against a real vLLM server (the tiny random Llama: its pairs are noise,
so these tests check mechanics and accounting; the checks themselves are tested on real text in
test_synth_units.py and test_synth_checks.py): structured outputs that parse, every row accounted
for, resume after SIGKILL without lost or duplicated rows and without re-sending answered requests."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from conftest import API_KEY, API_KEY_ENV, REPO, http_get, run_langmill, shared_data, write_jsonl

SAMPLE_TXT = REPO / "langmill" / "sample_data" / "txt"


def _endpoint(server) -> list[str]:
    return ["--model", server["model"], "--endpoint-url", server["url"], "--api-key-env", API_KEY_ENV]


def _load(out: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    kept = pl.read_parquet(out / "data" / "*.parquet")
    excluded = pl.read_parquet(out / "excluded" / "*.parquet")
    return kept, excluded, json.loads((out / "stats.json").read_text())


def test_synth_end_to_end(tmp_path, server):
    rows = write_jsonl(tmp_path / "rows.jsonl", [{"id": "short-1", "text": "Liian lyhyt teksti."}])
    with open(rows, "a") as f:
        f.write("this line is not JSON\n")
    out = tmp_path / "synth-fi"
    args = ["synth", SAMPLE_TXT / "fi_paragraphs.txt", SAMPLE_TXT / "eu_udazkena_baserrian.txt", rows, "--lang", "fi", *_endpoint(server),
            "--per-doc", "2", "--chunk-words", "120", "--out", out, "--max-tokens", "150", "--max-instruction-chars", "60", "--max-answer-chars", "120"]
    r = run_langmill(*args, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept, excluded, stats = _load(out)
    # fi_paragraphs.txt gives 3 chunks of <= 120 words, 2 pairs each; the Basque file, the short row and
    # the broken line are one excluded row each.
    assert stats["rows_in"] == 3 * 2 + 3 == kept.height + excluded.height and stats["rows_in_equals_kept_plus_excluded"]
    # Ids are FILE:LINE (or FILE for a .txt) relative to the inputs' common folder, then #chunk-pair.
    reasons = {i.rsplit("/", 1)[-1]: reason for i, reason in zip(excluded["id"], excluded["reason"])}
    assert reasons["short-1"] == "source_too_short" and reasons["rows.jsonl:2"] == "bad_row"
    assert reasons["eu_udazkena_baserrian.txt"] == "source_lid"
    pairs = excluded.filter(pl.col("id").str.contains("#"))
    pair_ids = [i.rsplit("/", 1)[-1] for i in pairs["id"].to_list() + kept["id"].to_list()]
    assert sorted(pair_ids) == [f"fi_paragraphs.txt#{c}-{j}" for c in range(3) for j in range(2)]
    # Structured outputs: every answer parsed as the schema's JSON, within its bounds (noise fails
    # the checks after that: language, support, ...).
    assert not {"bad_json", "truncated", "generation_error"} & set(pairs["reason"])
    for messages in pairs["messages"]:
        user, assistant = json.loads(messages)
        assert 1 <= len(user["content"]) <= 60 and 1 <= len(assistant["content"]) <= 120
    assert set(pairs["source"]) == {s for s in pairs["source"] if s.endswith("fi_paragraphs.txt")}
    assert stats["requests_sent"] == 6 and stats["output_tokens"] > 0
    assert sum(stats["instruction_languages"].values()) == 6  # one instruction per pair asked for
    html = (out / "report.html").read_text()
    assert "Language of every generated instruction" in html and "Largest clusters of duplicate instructions" in html


def test_synth_with_context_puts_the_chunk_before_the_instruction(tmp_path, server):
    out = tmp_path / "synth-ctx"
    r = run_langmill("synth", SAMPLE_TXT / "fi_paragraphs.txt", "--lang", "fi", *_endpoint(server), "--per-doc", "1", "--chunk-words", "400",
                     "--task-types", "qa", "--with-context", "--out", out, "--max-tokens", "120", "--max-instruction-chars", "50",
                     "--max-answer-chars", "80", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept, excluded, stats = _load(out)
    text = (SAMPLE_TXT / "fi_paragraphs.txt").read_text(encoding="utf-8")
    first_paragraph = " ".join(text.split("\n\n")[0].split())
    rows = [json.loads(m) for m in excluded["messages"] if m] + [list(m) for m in kept["messages"]]
    assert rows and all(row[0]["content"].startswith(first_paragraph) for row in rows)
    assert "context_reference" not in set(excluded["reason"])  # only checked when the text is not shown


def test_synth_one_line_errors(tmp_path, server):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = SAMPLE_TXT / "fi_paragraphs.txt"
    for args, message in [
        ([empty], "no documents to synthesise from (empty corpus)"),
        ([good, "--task-types", "qa,poem"], "--task-types: unknown task type 'poem'"),
        ([tmp_path / "missing.jsonl"], "missing.jsonl"),
    ]:
        r = run_langmill("synth", *args, "--lang", "fi", *_endpoint(server), "--out", tmp_path / "out", env={API_KEY_ENV: API_KEY})
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- resume after SIGKILL ------------------------------------------------------------------------------


def _answered(server) -> int:
    """Requests the vLLM server has finished (stop or length): its Prometheus counters."""
    status, text = http_get(f"{server['base']}/metrics")
    assert status == 200
    return int(sum(float(v) for v in re.findall(r'^vllm:request_success_total\{[^}]*finished_reason="(?:stop|length)"[^}]*\} (\S+)', text, re.M)))


def _ud_documents(n: int, sentences: int = 12) -> list[dict]:
    lines = [line.strip() for line in shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"id": f"ud-{k:03d}", "text": " ".join(lines[k * sentences:(k + 1) * sentences])} for k in range(n)]


def test_synth_resumes_after_sigkill_without_lost_duplicated_or_resent_rows(tmp_path, server):
    docs = _ud_documents(40)
    corpus = write_jsonl(tmp_path / "ud-fi.jsonl", docs)
    out = tmp_path / "synth-kill"
    args = ["synth", corpus, "--lang", "fi", *_endpoint(server), "--per-doc", "2", "--chunk-words", "400", "--min-words", "20",
            "--out", out, "--max-tokens", "60", "--max-instruction-chars", "40", "--max-answer-chars", "60", "--max-concurrent", "4"]
    env = {**os.environ, API_KEY_ENV: API_KEY}
    before = _answered(server)
    proc = subprocess.Popen([sys.executable, "-m", "langmill.cli", *map(str, args)], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _answered(server) - before < 24:  # a third of the 80 requests answered: kill it mid-run
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "stats.json").exists()
    r = run_langmill(*args, env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0 and "Resuming" in r.stderr, r.stderr[-3000:]
    kept, excluded, stats = _load(out)
    ids = kept["id"].to_list() + excluded["id"].to_list()
    expected = [f"ud-{k:03d}#0-{j}" for k in range(40) for j in range(2)]
    # Nothing lost, nothing twice.
    assert sorted(ids) == expected and stats["rows_in"] == 80 and stats["rows_in_equals_kept_plus_excluded"]
    # Every request was answered once, except those in flight at the kill (at most --max-concurrent).
    sent = _answered(server) - before
    assert 80 <= sent <= 80 + 4, sent
    assert stats["requests_sent"] < 80  # the rerun sent only what the killed run had not had answered


def test_synthetic_rows_go_straight_into_translate_parallel(tmp_path, server):
    """A synth/magpie data/ shard (SYNTH_SFT, real Finnish Dolly rows here) is read by `langmill
    translate --parallel` and by `datasets` as it is: bilingual pairs without a conversion step."""
    import gzip

    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from langmill import schemas

    with gzip.open(shared_data("instructions", "dolly-15k-fi.from-docx.jsonl.gz"), "rt", encoding="utf-8") as f:
        dolly = [json.loads(next(f)) for _ in range(3)]
    rows = [{"id": f"magpie-{k:08d}", "lang": "fi", "source": "magpie", "model": "m", "task": None, "generation": "{}",
             "messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}]} for k, r in enumerate(dolly)]
    (tmp_path / "synth" / "data").mkdir(parents=True)
    shard = tmp_path / "synth" / "data" / "00000_chunk_00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.SYNTH_SFT), shard)
    assert datasets.load_dataset("parquet", data_dir=str(shard.parent), split="train")["messages"] == [r["messages"] for r in rows]
    out = tmp_path / "en"
    r = run_langmill("translate", shard.parent, "--from", "fi", "--to", "en", *_endpoint(server), "--out", out, "--no-qc", "--max-tokens", "16",
                     "--parallel", env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    pairs = datasets.load_dataset("parquet", data_dir=str(out / "data"), split="train")
    by_lang = {lang: {row["id"]: row for row in pairs if row["lang"] == lang} for lang in ("en", "fi")}
    assert sorted(by_lang["en"]) == sorted(by_lang["fi"]) == [f"magpie-{k:08d}" for k in range(3)]
    assert all(by_lang["fi"][row["id"]]["messages"] == row["messages"] for row in rows)  # the Finnish side is the synthetic row


CHECKS_OFF = """\
lid: {enabled: false}
instruction: {enabled: false}
answer: {enabled: false}
refusal: {enabled: false}
model_identity: {enabled: false}
repetition: {enabled: false}
support: {enabled: false}
context_reference: {enabled: false}
"""


def test_kept_pairs_pass_the_run_wide_dedup_into_data(tmp_path, server):
    """With every content check off, the tiny model's pairs are kept: they go through the staged
    shards and the dedup stage into data/, with their source, task and generation settings."""
    config = tmp_path / "checks-off.yaml"
    config.write_text(CHECKS_OFF)
    out = tmp_path / "synth-kept"
    r = run_langmill("synth", SAMPLE_TXT / "fi_paragraphs.txt", "--lang", "fi", *_endpoint(server), "--per-doc", "3", "--chunk-words", "120",
                     "--config", config, "--out", out, "--max-tokens", "120", "--max-instruction-chars", "40", "--max-answer-chars", "60",
                     env={API_KEY_ENV: API_KEY})
    assert r.returncode == 0, r.stderr[-3000:]
    kept, excluded, stats = _load(out)
    assert stats["rows_in"] == 9 == kept.height + excluded.height and kept.height >= 7
    assert set(excluded["reason"]) <= {"exact_dup", "near_dup"}
    assert not list((out / "staged").glob("*")) and list((out / "work" / "staged").glob("*.parquet"))
    for row in kept.to_dicts():
        assert row["source"] == "fi_paragraphs.txt" and row["task"] in {"qa", "summarize", "rewrite", "explain", "creative"}
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"] and json.loads(row["generation"])["per_doc"] == 3
    assert sum(stats["instruction_types"].values()) == kept.height
    assert stats["duplicate_clusters"]["rows_in_clusters"] >= excluded.height
