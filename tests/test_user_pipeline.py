"""langmill's steps inside a user's own datatrove pipeline, with datatrove's readers and writers:
the README's example, run as it is written."""

import os
import re

import polars as pl

from tests.conftest import REPO, SAMPLE_DIR, run_langmill


def readme_example() -> str:
    readme = (REPO / "README.md").read_text()
    return re.search(r"<!-- user-pipeline -->\n```python\n(.*?)```", readme, re.DOTALL).group(1)


def test_readme_pipeline_with_datatrove_reader_and_writer_matches_langmill_corpus(tmp_path, monkeypatch):
    code = readme_example().replace('"langmill/sample_data"', repr(str(SAMPLE_DIR)))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    ours = pl.read_parquet(tmp_path / "fi-filtered" / "*.parquet")
    assert ours.height > 0
    meta = ours.get_column("metadata").struct.unnest()
    assert meta.schema["band_keys"] == pl.List(pl.Int64) and meta.schema["text_hash"] == pl.Int64
    assert set(meta.get_column("lang")) == {"fi"}

    # The same documents pass, with the same texts and keys, as in `langmill corpus` before dedup
    # (its band keys are in the dedup index, one row per band).
    out = tmp_path / "corpus"
    result = run_langmill("corpus", SAMPLE_DIR / "corpus.jsonl", "--lang", "fi", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    staged = pl.read_parquet(out / "work" / "staged" / "*.parquet")
    mine = ours.select("id", "text", text_hash=meta.get_column("text_hash")).sort("id")
    assert mine.equals(staged.select("id", "text", "text_hash").sort("id"))
    keys = pl.read_parquet(out / "dedup" / "keys" / "*" / "*.parquet").filter(pl.col("band") < 255).sort("order", "band")
    by_doc = keys.group_by("order", maintain_order=True).agg("key").join(staged.select("order", "id"), on="order")
    assert dict(zip(by_doc.get_column("id"), by_doc.get_column("key").to_list())) == dict(zip(ours.get_column("id"), meta.get_column("band_keys").to_list()))
    assert os.listdir(tmp_path / "fi-filtered-logs" / "completions")


def test_staged_writer_takes_documents_from_any_reader(tmp_path):
    """langmill's staged writer after datatrove's JsonlReader (no `order` from langmill's reader)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader

    from langmill.filters.dedup import MinhashSignatures
    from langmill.shards import staged_writer

    LocalPipelineExecutor([JsonlReader(str(SAMPLE_DIR), glob_pattern="*.jsonl"), MinhashSignatures(), staged_writer(str(tmp_path / "staged"))],
                          tasks=1, logging_dir=str(tmp_path / "logs")).run()
    staged = pl.read_parquet(tmp_path / "staged" / "*.parquet")
    assert staged.height == sum(1 for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line.strip())
    assert staged.get_column("order").is_unique().all()
