"""`langmill corpus` dedup on real Finnish text: any number of dedup tasks gives the same output,
and `--dedup-against` an earlier corpus keeps what one run over both keeps."""

import json

import numpy as np
import polars as pl
import pytest

from tests.conftest import kill_langmill_when, read_out, run_langmill, shared_data, write_jsonl


def finnish_documents() -> list[dict]:
    """Documents of 12 consecutive sentences of UD Finnish-TDT (news, blogs, Wikipedia)."""
    lines = shared_data("text", "ud", "fi_tdt-ud-dev.txt").read_text(encoding="utf-8").splitlines()
    return [{"id": f"fi-{k}", "text": "\n".join(lines[k : k + 12])} for k in range(0, len(lines) - 12, 12)]


def copies(rows: list[dict], n: int, prefix: str, seed: int) -> list[dict]:
    """n copies of random rows: every other one exact (full stops made exclamation marks: dedup
    compares words only), the rest near (one word replaced)."""
    rng = np.random.default_rng(seed)
    out = []
    for n_, k in enumerate(rng.choice(len(rows), n, replace=False)):
        text = rows[k]["text"]
        if n_ % 2:
            out.append({"id": f"{prefix}-exact-{n_}", "text": text.replace(".", "!")})
        else:
            words = text.split(" ")
            j = int(rng.integers(len(words)))
            words[j] = "muutettu" + ("\n" if "\n" in words[j] else "")
            out.append({"id": f"{prefix}-near-{n_}", "text": " ".join(words)})
    return out


def corpus(*args) -> None:
    result = run_langmill("corpus", *args, "--lang", "fi")
    assert result.returncode == 0, result.stderr[-3000:]


def decisions(out) -> pl.DataFrame:
    """Every row of an output folder: kept (reason null) or dropped, with detail and cluster size."""
    kept, excluded, _ = read_out(out)
    return pl.concat([kept.select("id", "text", reason=pl.lit(None, pl.String), detail=pl.lit(None, pl.String)),
                      excluded.select("id", "text", "reason", "detail")]).sort("id")


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dedup")
    docs = finnish_documents()
    old, new = docs[: len(docs) // 2], docs[len(docs) // 2 :]
    old = old + copies(old, 30, "old", seed=1)
    # The new part: its own duplicates, copies of old documents, and copies of old duplicates.
    new = new + copies(new, 20, "new", seed=2) + copies(old[: len(old) // 2], 30, "of-old", seed=3) + copies(old[-30:], 10, "of-old-dup", seed=4)
    write_jsonl(tmp / "1-old.jsonl", old)  # inputs are read in sorted order: the old part first
    write_jsonl(tmp / "2-new.jsonl", new)
    return tmp, old, new


def test_any_number_of_dedup_tasks_gives_the_single_task_output(documents, tmp_path):
    tmp, old, new = documents
    corpus(tmp / "1-old.jsonl", tmp / "2-new.jsonl", "--out", tmp_path / "one", "--dedup-tasks", "1")
    corpus(tmp / "1-old.jsonl", tmp / "2-new.jsonl", "--out", tmp_path / "many", "--dedup-tasks", "5", "--tasks", "3", "--workers", "2")
    one, many = decisions(tmp_path / "one"), decisions(tmp_path / "many")
    assert one.equals(many)
    reasons = one.get_column("reason").value_counts().rows()
    assert dict(reasons)["exact_dup"] >= 40 and dict(reasons)["near_dup"] >= 40
    kept_one = pl.read_parquet(tmp_path / "one" / "data" / "*.parquet").sort("id")
    assert kept_one.equals(pl.read_parquet(tmp_path / "many" / "data" / "*.parquet").sort("id"))  # cluster sizes too
    stats = json.loads((tmp_path / "many" / "stats.json").read_text())
    assert stats["dedup"]["buckets"] == 5 and stats["dedup_tasks"] == 5
    assert len(list((tmp_path / "many" / "dedup" / "keys").glob("*/*.parquet"))) == 5 * 3  # K buckets x N filter tasks


def test_dedup_against_an_earlier_corpus_keeps_what_one_run_over_both_keeps(documents, tmp_path):
    tmp, old, new = documents
    corpus(tmp / "1-old.jsonl", "--out", tmp_path / "a", "--dedup-tasks", "2")
    corpus(tmp / "2-new.jsonl", "--out", tmp_path / "b", "--dedup-against", tmp_path / "a", "--dedup-tasks", "3")
    corpus(tmp / "1-old.jsonl", tmp / "2-new.jsonl", "--out", tmp_path / "both")
    a, b, both = decisions(tmp_path / "a"), decisions(tmp_path / "b"), decisions(tmp_path / "both")
    kept = lambda frame: set(frame.filter(pl.col("reason").is_null()).get_column("id"))  # noqa: E731
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert stats["dedup"]["previous_kept_now_joined"] == 0  # no document of the new part joins two old clusters
    assert kept(a) | kept(b) == kept(both)
    # Each new row has the reason of the run over both; a duplicate of an old one names it and its corpus.
    assert b.select("id", "reason").equals(both.filter(pl.col("id").is_in(b.get_column("id").implode())).select("id", "reason"))
    of_old = b.filter(pl.col("id").str.starts_with("of-old"))
    assert of_old.get_column("reason").null_count() == 0
    assert all(d.endswith(f" (in {tmp_path / 'a'})") for d in of_old.get_column("detail"))
    assert stats["dedup"]["dup_of_previous"] == of_old.height == 40
    assert stats["dedup"]["previous"] == [str(tmp_path / "a")]

    # A run against b is also deduplicated against a, which b was deduplicated against.
    write_jsonl(tmp_path / "again.jsonl", copies(old, 6, "again", seed=5) + copies(new, 6, "again-new", seed=6))
    corpus(tmp_path / "again.jsonl", "--out", tmp_path / "c", "--dedup-against", tmp_path / "b")
    c_kept, c_excluded, c_stats = read_out(tmp_path / "c")
    assert c_kept.height == 0 and c_excluded.height == 12
    assert c_stats["dedup"]["previous"] == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_dedup_against_errors_are_one_line(documents, tmp_path):
    tmp, _, _ = documents
    corpus(tmp / "1-old.jsonl", "--out", tmp_path / "a")
    (tmp_path / "bands.yaml").write_text("dedup:\n  bands: 10\n")
    (tmp_path / "not-corpus").mkdir()
    cases = [
        (["--dedup-against", tmp_path / "nowhere"], f"--dedup-against {tmp_path / 'nowhere'}: no such folder"),
        (["--dedup-against", tmp_path / "not-corpus"], f"--dedup-against {tmp_path / 'not-corpus'}: not a langmill corpus output with a dedup index"),
        (["--dedup-against", tmp_path / "a", "--config", tmp_path / "bands.yaml"],
         f"--dedup-against {tmp_path / 'a'}: its keys were made with other dedup settings (bands=14 there, 10 here)"),
    ]
    for args, message in cases:
        result = run_langmill("corpus", tmp / "2-new.jsonl", "--lang", "fi", "--out", tmp_path / "x", *args)
        assert result.returncode == 2 and result.stderr.strip().startswith(f"langmill: error: {message}"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    (tmp_path / "a" / "stats.json").unlink()
    result = run_langmill("corpus", tmp / "2-new.jsonl", "--lang", "fi", "--out", tmp_path / "x", "--dedup-against", tmp_path / "a")
    assert result.returncode == 2 and "that run has not finished" in result.stderr


def test_a_run_killed_in_the_buckets_stage_resumes_to_the_same_output(documents, tmp_path):
    tmp, _, _ = documents
    args = [str(tmp / "1-old.jsonl"), str(tmp / "2-new.jsonl"), "--dedup-tasks", "64", "--tasks", "2"]
    corpus(*args, "--out", tmp_path / "ref")
    out = tmp_path / "out"
    kill_langmill_when(out / "logs" / "buckets" / "completions" / "00000", "corpus", *args, "--lang", "fi", "--out", out)
    done = len(list((out / "logs" / "buckets" / "completions").glob("*")))
    assert 0 < done < 64, f"the kill came at the wrong time to test resuming ({done} of 64 buckets tasks done)"
    corpus(*args, "--out", out)
    assert decisions(out).equals(decisions(tmp_path / "ref"))
