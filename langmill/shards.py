"""Every Parquet shard langmill writes goes through this module: kept rows (`data/`), excluded rows
(`excluded/`, always with `reason` and `detail`) and the corpus' staged rows.

Three writers, for three ways rows arrive:
- `excluded_writer` / `staged_writer`: datatrove `ParquetWriter`s, one file per step (or stage) and
  task, for steps that see one document at a time (filters, the corpus' filter stage).
- `ShardFile`: one file written frame by frame (dedup's apply step).
- `RowShards`: a stage's kept and excluded rows, routed by a `rows(document)` function, one file
  pair per name (a generation chunk, an input file), each written once when complete.
`ShardFile` and `RowShards` write to a temporary name and rename it when complete, so a killed
task never leaves a half file that a rerun would trust.
"""

from __future__ import annotations

import json
import os
from string import Template
from typing import Callable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
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
        "url": meta.get("url"),
    }


def _staged_row(self, doc: Document) -> dict:
    meta = doc.metadata  # `order` and the hashes come from MinhashSignatures; the band keys went to the dedup index
    return _corpus_fields(doc) | {
        "pii_masked": meta.get("pii_masked", 0),
        "foreign_share": meta.get("foreign_share"),
        "order": meta["order"],
        "n_words": meta["n_words"],
        "text_hash": meta["text_hash"],
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


class ShardFile:
    """A Parquet file written frame by frame to a temporary name, renamed when complete; no file at
    all when no row was written."""

    def __init__(self, target: str, schema: pa.Schema):
        self.target, self.schema, self.rows = target, schema, 0
        self.tmp = f"{target}.tmp-{os.getpid()}"
        self.writer = None

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        if self.writer is None:
            os.makedirs(os.path.dirname(self.target), exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        table = frame.select(self.schema.names).to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.schema)
        self.writer.write_table(table, row_group_size=100_000)
        self.rows += frame.height

    def close(self) -> None:
        if self.writer is None:
            if os.path.exists(self.target):
                os.remove(self.target)  # a rerun that now writes nothing
            return
        self.writer.close()
        os.replace(self.tmp, self.target)


def write_parquet_atomic(table: pa.Table, path: str, row_group_size: int = 100_000) -> None:
    """One whole table to `path`, through a temporary name: a killed task never leaves a half
    file that a rerun would trust."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)
    os.replace(tmp, path)


def table_from_rows(rows: list[dict]) -> pa.Table:
    """Rows with possibly different keys as one table; a column whose values have no common Arrow
    type (a string in one row, a message list in another) is stored as JSON text."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns.append(pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]))
    return pa.Table.from_arrays(columns, names=names)


class RowShards(PipelineStep):
    """A stage's output writer: `rows(document)` gives [("data" | "excluded", row dict), ...] and
    each row goes to OUT/<folder>/<name>.parquet, where <name> is `output_filename` filled in with
    the task's rank, the document's metadata and the writer's keyword arguments (datatrove's
    `${rank}_chunk_${chunk_index}` for generation). A file pair is written once, when its name is
    closed (`close_file`, a new name, or the end of the task), with the `schemas` of its folder, or
    a schema inferred from its rows where that is None. A pipeline's last step, or datatrove's
    `InferenceRunner` output writer (it has the same `write`, `close_file` and `output_filename`)."""

    name = "💾 Shards"
    type = "💽 - WRITER"

    def __init__(self, out: str, rows: Callable[[Document], list[tuple[str, dict]]], schemas: dict[str, pa.Schema | None],
                 output_filename: str, close_on_new_name: bool = False):
        super().__init__()
        self.out = out
        self.rows = rows
        self.schemas = schemas
        self.output_filename = Template(output_filename)
        self.close_on_new_name = close_on_new_name
        self._open: dict[str, dict[str, list[dict]]] = {}

    def _get_output_filename(self, document: Document, rank: int = 0, **kwargs) -> str:
        return self.output_filename.substitute({"rank": f"{rank:05d}", **document.metadata, **kwargs})

    def __enter__(self):
        self._open = {}
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, document: Document, rank: int = 0, **kwargs) -> None:
        name = self._get_output_filename(document, rank, **kwargs)
        if self.close_on_new_name:
            for other in [n for n in self._open if n != name]:
                self.close_file(other)
        buffers = self._open.setdefault(name, {folder: [] for folder in self.schemas})
        for folder, row in self.rows(document):
            buffers[folder].append(row)

    def close_file(self, name: str) -> None:
        for folder, rows in self._open.pop(name, {}).items():
            target = os.path.join(self.out, folder, f"{name}.parquet")
            if not rows:
                if os.path.exists(target):
                    os.remove(target)  # a rerun that now writes nothing there
                continue
            schema = self.schemas[folder]
            table = pa.Table.from_pylist(rows, schema=schema) if schema is not None else table_from_rows(rows)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.tmp-{os.getpid()}"
            pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
            os.replace(tmp, target)

    def close(self) -> None:
        for name in list(self._open):
            self.close_file(name)

    def run(self, data, rank: int = 0, world_size: int = 1):
        with self:
            for document in data:
                with self.track_time():
                    self.write(document, rank)
                self.stat_update("rows_written")
        return
        yield
