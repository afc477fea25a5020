"""Exact and MinHash-LSH near-duplicate removal: the in-memory parts.

- `MinhashSignatures` (in every task of the corpus' filter stage): the Rust core turns each
  document into dedup-normalised words, a hash of them (exact dedup) and LSH band keys.
- `decide_duplicates`: keep/drop decisions for documents held in memory (generated instructions;
  and the reference the corpus' sharded dedup is tested against).
- `ApplyDedup` (one task per staged shard): splits each staged shard into kept rows (`data/`) and
  duplicates (`excluded/`, reason `exact_dup` or `near_dup`, detail = the kept id) by the decisions
  of the sharded stages in `filters/dedup_index.py`.
- `InstructionDedup`: the same over a whole generation run, as one task (magpie, synth).

"First" means input order (file, then row), whatever the number of tasks, so reruns make the
same choices.
"""

import glob
import json
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from langmill import native, schemas
from langmill.config import DedupSettings
from langmill.filters.dedup_index import decisions_file, staged_shards
from langmill.shards import ShardFile, write_parquet_atomic

class MinhashSignatures(PipelineStep):
    """Adds `n_words`, `text_hash` and `band_keys` to each document's metadata (and `order`, the
    position dedup calls "first", where the reader gave none).

    The hashes are 64-bit; they are stored as signed int64 (the same bits), the integer type that
    every writer takes (datatrove's Parquet and JSONL writers, Arrow, polars): equality, and so
    every dedup decision, is the same as with the unsigned values."""

    name = "🔑 MinHash signatures"
    type = "🫂 - DEDUP"

    def __init__(self, num_perm: int = DedupSettings.num_perm, ngram: int = DedupSettings.ngram, bands: int = DedupSettings.bands,
                 rows: int = DedupSettings.rows, seed: int = DedupSettings.seed, threads: int = 0, batch_size: int = 512):
        super().__init__()
        self.params = dict(num_perm=num_perm, ngram=ngram, bands=bands, rows=rows, seed=seed, threads=threads)
        self.batch_size = batch_size

    def run(self, data, rank: int = 0, world_size: int = 1):
        unordered = 0
        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                result = native.minhash([doc.text for doc in batch], signatures=False, **self.params)
            text_hash, band_keys = result.text_hash.view(np.int64), result.band_keys.view(np.int64)
            for i, doc in enumerate(batch):
                if "order" not in doc.metadata:  # from a reader other than langmill's: task, then arrival
                    unordered += 1
                    doc.metadata["order"] = (rank << 32) | unordered
                doc.metadata["n_words"] = int(result.n_words[i])
                doc.metadata["text_hash"] = int(text_hash[i])
                doc.metadata["band_keys"] = band_keys[i].tolist()
            yield from batch


def decide_duplicates(text_hash: np.ndarray, n_words: np.ndarray, band_keys: np.ndarray, min_words: int) -> tuple[np.ndarray, np.ndarray]:
    """For documents in input order, return (root, is_exact_dup).

    root[i] is the index of the document that represents i (root[i] == i: kept).
    """
    n = len(text_hash)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    # np.unique's return_index gives each hash's first occurrence: the exact-dup survivor.
    _, first, inverse = np.unique(text_hash, return_index=True, return_inverse=True)
    exact_root = first[inverse.reshape(-1)]
    is_exact_dup = exact_root != np.arange(n)
    active = (~is_exact_dup) & (n_words >= min_words)
    near_root = native.cluster(band_keys, active).astype(np.int64)
    return near_root[exact_root], is_exact_dup


class ApplyDedup(PipelineStep):
    """Task r splits staged shard r into `data/<r>.parquet` and `excluded/dedup-<r>.parquet` by
    the decisions the clusters stage wrote for it (`dedup_index.DECISIONS`)."""

    name = "✂️ Apply dedup"
    type = "🫂 - DEDUP"

    def __init__(self, stage_dir: str, decisions_dir: str, out_dir: str, length_bins: list[int] | None = None):
        super().__init__()
        self.stage_dir = stage_dir
        self.decisions_dir = decisions_dir
        self.out_dir = out_dir
        # Kept characters and bytes, and a histogram of kept lengths (chars_bin_<lower edge>), counted
        # here where the texts are in memory anyway: the report then reads no text.
        self.length_bins = list(length_bins or [0])

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        path = os.path.join(self.stage_dir, f"{rank:05d}.parquet")
        if not os.path.exists(path):
            return
        decisions = pl.read_parquet(decisions_file(self.decisions_dir, rank), columns=["row", "reason", "detail", "cluster_size"])
        outputs = {
            "data": ShardFile(os.path.join(self.out_dir, "data", f"{rank:05d}.parquet"), schemas.CORPUS),
            "excluded": ShardFile(os.path.join(self.out_dir, "excluded", f"dedup-{rank:05d}.parquet"), schemas.EXCLUDED),
        }
        # One row group at a time: memory stays flat however large the shard is.
        staged = pq.ParquetFile(path)
        first_row = 0
        with self.track_time():
            for group in range(staged.num_row_groups):
                rows = pl.from_arrow(staged.read_row_group(group)).with_row_index("row", offset=first_row)
                first_row += rows.height
                rows = rows.with_columns(pl.col("row").cast(pl.Int64)).join(decisions, on="row", how="left", maintain_order="left")
                kept = rows.filter(pl.col("reason").is_null()).with_columns(
                    pl.col("cluster_size").fill_null(1).cast(pl.Int32).alias("minhash_cluster_size")
                )
                dropped = rows.filter(pl.col("reason").is_not_null())
                outputs["data"].write(kept)
                outputs["excluded"].write(dropped)
                self._count_lengths(kept.get_column("text"))
            for output in outputs.values():
                output.close()
        self.stat_update("kept", value=outputs["data"].rows)
        for lower in self.length_bins:  # every bin, zero or not, so that the report's stats add up
            self.stat_update(f"chars_bin_{lower}", value=0)
        self.stat_update("dropped", value=outputs["excluded"].rows)
        return
        yield

    def _count_lengths(self, text: pl.Series) -> None:
        chars = text.str.len_chars().fill_null(0).to_numpy()
        self.stat_update("kept_chars", value=int(chars.sum()))
        self.stat_update("kept_bytes", value=int(text.str.len_bytes().fill_null(0).sum()))
        counts = np.bincount(np.searchsorted(self.length_bins, chars, side="right") - 1, minlength=len(self.length_bins))
        for lower, count in zip(self.length_bins, counts.tolist()):
            if count:
                self.stat_update(f"chars_bin_{lower}", value=count)


# --- generated instructions (langmill magpie, langmill synth) ---------------------------------------------


def first_instruction(messages: list[dict] | None) -> str:
    """The first user message of a conversation: what makes a generated row new or not."""
    return next((m["content"] or "" for m in messages or [] if m["role"] == "user"), "")


CLUSTERS_FILE = "dedup_clusters.json"


def largest_clusters(root: np.ndarray, ids: list[str], instructions: list[str], top: int = 10, shown: int = 3) -> dict:
    """How many clusters of duplicate instructions there were, and the `top` largest: the kept
    row's id and instruction, the cluster's size and the first `shown` duplicates."""
    sizes = np.bincount(root, minlength=len(root)) if len(root) else np.zeros(0, np.int64)
    roots = sorted(np.flatnonzero(sizes > 1), key=lambda r: (-sizes[r], r))
    largest = []
    for r in roots[:top]:
        members = [int(i) for i in np.flatnonzero(root == r) if i != r][:shown]
        largest.append({"kept_id": ids[r], "instruction": instructions[r][:300], "size": int(sizes[r]),
                        "duplicates": [instructions[i][:300] for i in members]})
    return {"clusters": len(roots), "rows_in_clusters": int(sizes[roots].sum()) if roots else 0, "largest": largest}


class InstructionDedup(PipelineStep):
    """Exact and near-duplicate instructions over a whole generation run, as one task.

    Reads every staged shard of kept rows (SYNTH_SFT), compares first user messages (MinHash-LSH on
    the Rust core, `settings` = synth.yaml's `dedup`), keeps the first row of each cluster by id
    (slot order for Magpie, so any task count makes the same choice) and writes each staged shard
    `<name>` as `data/<name>.parquet` (kept) and `excluded/dup-<name>.parquet` (reason exact_dup or
    near_dup, detail naming the kept row). Files are written under a temporary name and renamed: a
    killed task is simply run again. `CLUSTERS_FILE` in the stage folder lists the largest clusters
    for the report."""

    name = "🫂 Instruction dedup"
    type = "🫂 - DEDUP"

    def __init__(self, stage_dir: str, out_dir: str, settings: dict):
        super().__init__()
        self.stage_dir, self.out_dir, self.settings = stage_dir, out_dir, dict(settings)

    def decide(self, ids: list[str], instructions: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(root, is_exact) per row, in the rows' order: root[i] == i is kept."""
        s = self.settings
        if not s.get("enabled", True):
            return np.arange(len(ids), dtype=np.int64), np.zeros(len(ids), bool)
        order = np.array(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)
        result = native.minhash([instructions[i] for i in order], num_perm=s["num_perm"], ngram=s["ngram"], seed=s["seed"],
                                bands=s["bands"], rows=s["rows"], signatures=False)
        root_sorted, exact_sorted = decide_duplicates(result.text_hash.view(np.int64), result.n_words.astype(np.int64),
                                                      result.band_keys.view(np.int64), min_words=s["ngram"])
        root, is_exact = np.empty(len(ids), np.int64), np.empty(len(ids), bool)
        root[order], is_exact[order] = order[root_sorted], exact_sorted
        return root, is_exact

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if rank != 0:
            return
        tables = {os.path.basename(p)[: -len(".parquet")]: pq.read_table(p) for p in staged_shards(self.stage_dir)}
        ids = [i for t in tables.values() for i in t.column("id").to_pylist()]
        instructions = [first_instruction(m) for t in tables.values() for m in t.column("messages").to_pylist()]
        with self.track_time():
            root, is_exact = self.decide(ids, instructions)
        start = 0
        for name, table in tables.items():
            rows = np.arange(start, start + len(table))
            start += len(table)
            kept = root[rows] == rows
            self._write(table.filter(pa.array(kept)), os.path.join(self.out_dir, "data", f"{name}.parquet"))
            dropped = []
            for row, i in zip(table.filter(pa.array(~kept)).to_pylist(), rows[~kept]):
                first = int(root[i])
                what = "exact duplicate" if is_exact[i] else "near-duplicate"
                dropped.append({"id": row["id"], "reason": "exact_dup" if is_exact[i] else "near_dup",
                                "detail": f"{what} of {ids[first]}: {instructions[first][:120]}",
                                "messages": json.dumps(row["messages"], ensure_ascii=False),
                                **{k: row.get(k) for k in ("lang", "source", "model")}})
            self._write(pa.Table.from_pylist(dropped, schema=schemas.SYNTH_EXCLUDED), os.path.join(self.out_dir, "excluded", f"dup-{name}.parquet"))
        clusters = largest_clusters(root, ids, instructions)
        os.makedirs(self.stage_dir, exist_ok=True)  # none when nothing was kept
        with open(os.path.join(self.stage_dir, f".{CLUSTERS_FILE}.tmp"), "w") as f:
            json.dump(clusters, f, ensure_ascii=False, indent=1)
        os.replace(os.path.join(self.stage_dir, f".{CLUSTERS_FILE}.tmp"), os.path.join(self.stage_dir, CLUSTERS_FILE))
        self.stat_update("rows", value=len(ids))
        self.stat_update("exact_dup", value=int(is_exact.sum()))
        self.stat_update("near_dup", value=int(((root != np.arange(len(ids))) & ~is_exact).sum()))
        return
        yield  # a generator, as datatrove expects from a step

    @staticmethod
    def _write(table: pa.Table, path: str) -> None:
        if len(table) == 0:
            if os.path.exists(path):
                os.remove(path)  # a rerun that now writes nothing there
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_parquet_atomic(table, path)
