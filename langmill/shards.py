"""Writers for the Parquet shards of a stage: kept rows, staged rows and excluded rows."""

from datatrove.data import Document
from datatrove.pipeline.writers.parquet import ParquetWriter

from langmill import schemas

# Row groups stay well under DESIGN.md's 100k rows; zstd everywhere.
ROW_GROUP = 10_000


def _corpus_fields(doc: Document) -> dict:
    meta = doc.metadata
    return {
        "id": doc.id,
        "text": doc.text,
        "lang": meta.get("lang"),
        "lang_score": meta.get("lang_score"),
        "source": meta.get("source"),
    }


def _staged_row(self, doc: Document) -> dict:
    meta = doc.metadata
    return _corpus_fields(doc) | {
        "pii_masked": meta.get("pii_masked", 0),
        "order": meta["order"],
        "n_words": meta["n_words"],
        "text_hash": meta["text_hash"],
        "band_keys": meta["band_keys"],
    }


def _excluded_row(self, doc: Document) -> dict:
    return _corpus_fields(doc) | {"reason": doc.metadata.get("reason"), "detail": doc.metadata.get("detail")}


def _writer(folder: str, filename: str, adapter, schema) -> ParquetWriter:
    return ParquetWriter(
        folder,
        output_filename=filename,
        adapter=adapter,
        schema=schema,
        compression="zstd",
        batch_size=ROW_GROUP,
        max_file_size=-1,
    )


def excluded_writer(out_dir: str, step: str) -> ParquetWriter:
    """`OUT/excluded/<step>-<rank>.parquet`: one file per dropping step and task."""
    return _writer(f"{out_dir}/excluded", f"{step}-${{rank}}.parquet", _excluded_row, schemas.EXCLUDED)


def staged_writer(work_dir: str) -> ParquetWriter:
    return _writer(work_dir, "${rank}.parquet", _staged_row, schemas.CORPUS_STAGED)
