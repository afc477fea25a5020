"""Sharded exact + near-duplicate detection over the corpus' dedup index, any size, any executor.

  filter   (N tasks)  DedupKeys: every document's keys -> OUT/dedup/keys/<bucket>/<task>.parquet
                      (one row per LSH band key, and one WHOLE_TEXT row with the text hash and id)
  buckets  (K tasks)  BucketEdges: the keys of bucket b (this run's and every --dedup-against
                      corpus') -> edges "this document duplicates that earlier one", reduced to a
                      forest -> OUT/work/dedup/edges/<b>.parquet
  clusters (1 task)   ClusterEdges: union-find in Rust over every edge, read file by file (memory
                      for the documents that have a duplicate, never for the corpus) ->
                      OUT/work/dedup/decisions/<shard>.parquet + summary.json
  apply    (N tasks)  ApplyDedup (filters/dedup.py): each staged shard by its decisions

A key lands in bucket hash(band, key) % K, so documents that share a key meet in one bucket task,
which holds about 1/K of all keys. The decisions are those of `decide_duplicates` over the whole
input in input order (tested): the first document of every exact-duplicate group is kept, near
duplicates are connected components of shared band keys among documents of >= min_words words,
and each component keeps its first document. Exact copies take part in the band keys too: they
share every key with their first copy, so they add nothing to a component and cannot lower its
first document.

OUT/dedup/ stays after the run: it is what `--dedup-against OUT` reads to drop documents of a new
run that duplicate this corpus (or a document dropped from it), without reading its text.
Documents are nodes `(generation << 57) | order`: the previous corpora are generations 0, 1, ...
in the order given, this run the last, so "first" means an earlier corpus, then input order.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.batching import batched

from langmill import native
from langmill.config import DedupSettings
from langmill.shards import write_parquet_atomic

INDEX_DIR = "dedup"  # OUT/dedup: keys/<bucket>/<task>.parquet + index.json
INDEX_FILE = "index.json"
WHOLE_TEXT = 255  # the `band` of a key row that holds the hash of the whole normalised text
ORDER_BITS = 57  # a node is (generation << 57) | order; order = (input file << 40) | row
MAX_ORDER = 1 << ORDER_BITS
MAX_FILES = MAX_ORDER >> 40  # input files per run that keep `order` under 2**57
MAX_GENERATIONS = 63  # generation << 57 stays a positive int64
FLUSH_ROWS = 65_536  # key rows buffered per bucket before a row group is written
PENDING_ROWS = 1 << 20  # key rows buffered over all buckets of a task (memory stays flat for any K)

KEYS = pa.schema([("band", pa.uint8()), ("key", pa.int64()), ("order", pa.uint64()), ("id", pa.string())])
# `earlier`: an edge between documents of earlier corpora, made from their keys alone
EDGES = pa.schema([("node", pa.int64()), ("to", pa.int64()), ("exact", pa.bool_()), ("earlier", pa.bool_())])
DECISIONS = pa.schema([("row", pa.int64()), ("reason", pa.string()), ("kept_id", pa.string()), ("detail", pa.string()),
                       ("cluster_size", pa.int32())])
SETTINGS_KEYS = ("num_perm", "ngram", "bands", "rows", "seed", "min_words")


def bucket_of(band: np.ndarray, key: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each (band, key): keys are hashes already; the band is mixed in so that one
    document's band keys spread over buckets."""
    h = key.astype(np.int64).view(np.uint64) ^ (band.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    h = h * np.uint64(0xBF58476D1CE4E5B9)  # wraps: a multiplicative mix
    return ((h >> np.uint64(32)) % np.uint64(buckets)).astype(np.int64)


def _atomic_json(data: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


# --- the index of a corpus, and the corpora a run is deduplicated against ---------------------------


@dataclass
class DedupIndex:
    """OUT/dedup/index.json: how OUT's keys were made and partitioned, and the corpora it was
    itself deduplicated against (oldest first), which every later run against it also reads."""

    folder: str  # the corpus output folder (OUT)
    settings: dict
    buckets: int
    previous: list[str]

    @property
    def keys_dir(self) -> str:
        return os.path.join(self.folder, INDEX_DIR, "keys")

    def write(self) -> None:
        _atomic_json({"version": 1, "settings": self.settings, "buckets": self.buckets, "previous": self.previous},
                     os.path.join(self.folder, INDEX_DIR, INDEX_FILE))

    @classmethod
    def read(cls, folder: str) -> DedupIndex:
        folder = os.path.abspath(folder)
        path = os.path.join(folder, INDEX_DIR, INDEX_FILE)
        if not os.path.isdir(folder):
            raise ValueError(f"--dedup-against {folder}: no such folder")
        if not os.path.exists(path):
            raise ValueError(f"--dedup-against {folder}: not a langmill corpus output with a dedup index ({INDEX_DIR}/{INDEX_FILE} missing; "
                             "folders made before langmill kept one must be made again)")
        data = json.loads(open(path).read())
        return cls(folder, data["settings"], int(data["buckets"]), list(data["previous"]))

    def key_files(self, bucket: int, buckets: int) -> tuple[list[str], bool]:
        """This corpus' key files that can hold keys of `bucket` (of `buckets`), and whether they
        must be filtered (when this corpus was partitioned into another number of buckets)."""
        if buckets == self.buckets:
            return sorted(glob.glob(os.path.join(self.keys_dir, f"{bucket:05d}", "*.parquet"))), False
        return sorted(glob.glob(os.path.join(self.keys_dir, "*", "*.parquet"))), True


def dedup_settings(settings: DedupSettings) -> dict:
    return {k: getattr(settings, k) for k in SETTINGS_KEYS}


def corpus_fingerprint(folder: str) -> dict:
    """What a run deduplicated against `folder` depends on: the folder and its finished stats (a
    resumed run against a corpus made again since is another run)."""
    import hashlib

    with open(os.path.join(folder, "stats.json"), "rb") as f:
        return {"path": folder, "stats_sha256": hashlib.sha256(f.read()).hexdigest()[:16]}


def resolve_previous(folders: list[str], settings: DedupSettings, out: str) -> list[str]:
    """The corpora a run is deduplicated against, oldest first: each folder given, preceded by
    the ones it was itself deduplicated against. One-line ValueError for a folder that cannot be."""
    wanted = dedup_settings(settings)
    resolved: list[str] = []
    for folder in folders:
        index = DedupIndex.read(folder)
        if not os.path.exists(os.path.join(index.folder, "stats.json")):
            raise ValueError(f"--dedup-against {folder}: that run has not finished (no stats.json); finish it first")
        if index.folder == os.path.abspath(out):
            raise ValueError(f"--dedup-against {folder}: that is this run's own --out")
        differ = [f"{k}={index.settings.get(k)} there, {v} here" for k, v in wanted.items() if index.settings.get(k) != v]
        if differ:
            raise ValueError(f"--dedup-against {folder}: its keys were made with other dedup settings ({', '.join(differ)})")
        for earlier in [*index.previous, index.folder]:
            if not os.path.isdir(earlier):
                raise ValueError(f"--dedup-against {folder}: it was deduplicated against {earlier}, which is gone")
            if earlier not in resolved:
                resolved.append(earlier)
    if len(resolved) >= MAX_GENERATIONS:
        raise ValueError(f"--dedup-against: at most {MAX_GENERATIONS - 1} earlier corpora, got {len(resolved)}")
    return resolved


# --- filter stage: the keys ---------------------------------------------------------------------------


class _BucketFiles:
    """One Parquet file per bucket for one task, written in row groups as keys accumulate and
    renamed into place at the end (a killed task leaves only temporary files)."""

    def __init__(self, keys_dir: str, buckets: int, rank: int):
        self.paths = [os.path.join(keys_dir, f"{b:05d}", f"{rank:05d}.parquet") for b in range(buckets)]
        for stale in glob.glob(os.path.join(keys_dir, "*", f"{rank:05d}.parquet.tmp-*")):  # of a killed attempt of this task
            os.remove(stale)
        self.pending: list[list[pa.Table]] = [[] for _ in range(buckets)]
        self.sizes = [0] * buckets
        self.writers: list[pq.ParquetWriter | None] = [None] * buckets

    def add(self, bucket: np.ndarray, table: pa.Table) -> None:
        order = np.argsort(bucket, kind="stable")
        table, bucket = table.take(pa.array(order)), bucket[order]
        bounds = np.searchsorted(bucket, np.arange(len(self.paths) + 1))
        for b in np.flatnonzero(np.diff(bounds)):
            self.pending[b].append(table.slice(bounds[b], bounds[b + 1] - bounds[b]))
            self.sizes[b] += int(bounds[b + 1] - bounds[b])
            if self.sizes[b] >= FLUSH_ROWS:
                self._flush(b)
        if sum(self.sizes) > PENDING_ROWS:
            for b in np.flatnonzero(self.sizes):
                self._flush(b)

    def _flush(self, b: int) -> None:
        if self.writers[b] is None:
            os.makedirs(os.path.dirname(self.paths[b]), exist_ok=True)
            self.writers[b] = pq.ParquetWriter(f"{self.paths[b]}.tmp-{os.getpid()}", KEYS, compression="zstd")
        if self.pending[b]:
            self.writers[b].write_table(pa.concat_tables(self.pending[b]))
        self.pending[b], self.sizes[b] = [], 0

    def close(self) -> None:
        for b, path in enumerate(self.paths):
            self._flush(b)  # every bucket gets its file, empty or not
            self.writers[b].close()
            os.replace(f"{path}.tmp-{os.getpid()}", path)


class DedupKeys(PipelineStep):
    """Writes the dedup keys of every document (after `MinhashSignatures`) to this task's file of
    each bucket: one row per band key of a document with >= `min_words` words (shorter ones take
    part in exact dedup only), one WHOLE_TEXT row with the text hash and the id for every one."""

    name = "🗝️ Dedup keys"
    type = "🫂 - DEDUP"

    def __init__(self, keys_dir: str, buckets: int = 1, min_words: int = DedupSettings.min_words, batch_size: int = 4096):
        super().__init__()
        self.keys_dir, self.buckets, self.min_words, self.batch_size = keys_dir, buckets, min_words, batch_size

    def run(self, data, rank: int = 0, world_size: int = 1):
        files = _BucketFiles(self.keys_dir, self.buckets, rank)
        for batch in batched(data, self.batch_size):
            with self.track_time("batch"):
                meta = [doc.metadata for doc in batch]
                order = np.array([m["order"] for m in meta], np.uint64)
                if order.size and order.max() >= MAX_ORDER:
                    raise ValueError(f"document order {int(order.max())} does not fit the dedup index (< 2**{ORDER_BITS}): too many input files")
                text_hash = np.array([m["text_hash"] for m in meta], np.int64)
                long = np.array([m["n_words"] >= self.min_words for m in meta], bool)
                n_bands = len(meta[0]["band_keys"])
                keys = np.array([m["band_keys"] for m, ok in zip(meta, long) if ok], np.int64).reshape(int(long.sum()), n_bands)
                band = np.concatenate([np.full(len(batch), WHOLE_TEXT, np.uint8), np.tile(np.arange(n_bands, dtype=np.uint8), len(keys))])
                key = np.concatenate([text_hash, keys.ravel()])
                ids = pa.concat_arrays([pa.array([doc.id for doc in batch], pa.string()), pa.nulls(keys.size, pa.string())])
                table = pa.table({"band": band, "key": key, "order": np.concatenate([order, np.repeat(order[long], n_bands)]), "id": ids}, schema=KEYS)
                files.add(bucket_of(band, key, self.buckets), table)
            self.stat_update("key_rows", value=len(table))
            yield from batch
        files.close()


# --- buckets stage: edges -----------------------------------------------------------------------------


def _read_keys(sources: list[tuple[str, int, bool]], bucket: int, buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band, key, node) of the key rows of `bucket` in every (path, generation, filtered) source:
    files of this bucket are read into arrays allocated once; `filtered` files (an earlier corpus
    partitioned into another number of buckets) are read whole and only this bucket's rows kept."""
    total = sum(pq.ParquetFile(path).metadata.num_rows for path, _, filtered in sources if not filtered)
    band, key, node = np.empty(total, np.uint8), np.empty(total, np.int64), np.empty(total, np.int64)
    at, picked = 0, [(band[:0], key[:0], node[:0])]
    for path, generation, filtered in sources:
        table = pq.read_table(path, columns=["band", "key", "order"])
        b, k, o = (table.column(c).to_numpy() for c in ("band", "key", "order"))
        if filtered:
            mine = bucket_of(b, k, buckets) == bucket
            picked.append((b[mine], k[mine], o[mine].view(np.int64) | (generation << ORDER_BITS)))
            continue
        m = len(b)
        band[at : at + m], key[at : at + m] = b, k
        np.bitwise_or(o.view(np.int64), generation << ORDER_BITS, out=node[at : at + m])
        at += m
        del table, b, k, o
    if len(picked) == 1:
        return band, key, node
    return tuple(np.concatenate([whole, *(p[i] for p in picked)]) for i, whole in enumerate((band, key, node)))


def _forest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same connectivity as the edges a-b, with at most one edge per node: (node, its root),
    the root being the smallest node of its component."""
    if len(a) == 0:
        return a, b
    nodes = np.unique(np.concatenate([a, b]))
    parent = np.arange(len(nodes), dtype=np.uint32)
    native.union_edges(parent, np.searchsorted(nodes, a), np.searchsorted(nodes, b))
    root = native.union_roots(parent)
    linked = np.flatnonzero(root != np.arange(len(nodes)))
    return nodes[linked], nodes[root[linked]]


def bucket_edges(band: np.ndarray, key: np.ndarray, node: np.ndarray, first_new_node: int = 0) -> pa.Table:
    """The duplicate edges of one bucket's key rows: exact (a later copy -> the first with its text
    hash) and near (a forest over shared band keys). Nodes below `first_new_node` belong to earlier
    corpora: edges among them are reduced apart from the rest and marked `earlier`, so that the
    clusters task can tell which earlier documents only this run's documents join."""
    start, to, exact = native.group_edges(band, key, node)  # every member -> its group's first member (Rust)
    exact_from, exact_to, near_from, near_to = start[exact], to[exact], start[~exact], to[~exact]
    earlier = (near_from < first_new_node) & (near_to < first_new_node)
    forests = [_forest(near_from[earlier], near_to[earlier]), _forest(near_from[~earlier], near_to[~earlier])]
    parts = [(exact_from, exact_to, True, (exact_from < first_new_node) & (exact_to < first_new_node))]
    parts += [(a, b, False, np.full(len(a), i == 0)) for i, (a, b) in enumerate(forests)]
    return pa.table({
        "node": np.concatenate([p[0] for p in parts]), "to": np.concatenate([p[1] for p in parts]),
        "exact": np.concatenate([np.full(len(p[0]), p[2]) for p in parts]), "earlier": np.concatenate([p[3] for p in parts]),
    }, schema=EDGES)


class BucketEdges(PipelineStep):
    """Task b: every key row of bucket b, of this run (generation len(previous)) and of each
    previous corpus -> OUT/work/dedup/edges/<b>.parquet."""

    name = "🪣 Dedup buckets"
    type = "🫂 - DEDUP"

    def __init__(self, keys_dir: str, edges_dir: str, buckets: int, previous: list[str] | None = None):
        super().__init__()
        self.keys_dir, self.edges_dir, self.buckets, self.previous = keys_dir, edges_dir, buckets, list(previous or [])

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        with self.track_time():
            sources = []
            for generation, folder in enumerate(self.previous):
                paths, filtered = DedupIndex.read(folder).key_files(rank, self.buckets)
                sources += [(path, generation, filtered) for path in paths]
            mine = sorted(glob.glob(os.path.join(self.keys_dir, f"{rank:05d}", "*.parquet")))
            sources += [(path, len(self.previous), False) for path in mine]
            band, key, node = _read_keys(sources, rank, self.buckets)
            edges = bucket_edges(band, key, node, first_new_node=len(self.previous) << ORDER_BITS)
            write_parquet_atomic(edges, os.path.join(self.edges_dir, f"{rank:05d}.parquet"))
        self.stat_update("key_rows", value=len(node))
        self.stat_update("edges", value=len(edges))
        return
        yield  # a generator, as datatrove expects from a step


# --- clusters stage: decisions ------------------------------------------------------------------------


def _edge_batches(edges_dir: str, columns: list[str]):
    for path in sorted(glob.glob(os.path.join(edges_dir, "*.parquet"))):
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            yield file.read_row_group(group, columns=columns)


def _edge_nodes(edges_dir: str) -> np.ndarray:
    """Every node of every edge, sorted and unique, merged file by file (memory: the nodes, not the
    edges: pending per-file node sets are merged whenever they outgrow the merged set)."""
    merged, pending, pending_size = np.zeros(0, np.int64), [], 0
    for table in _edge_batches(edges_dir, ["node", "to"]):
        pending.append(np.unique(np.concatenate([table.column("node").to_numpy(), table.column("to").to_numpy()])))
        pending_size += len(pending[-1])
        if pending_size > max(len(merged), 1 << 20):
            merged, pending, pending_size = np.unique(np.concatenate([merged, *pending])), [], 0
    return np.unique(np.concatenate([merged, *pending]))


class ClusterEdges(PipelineStep):
    """One task: union-find over every edge -> for each staged shard the rows that have anything
    to say (`DECISIONS`: duplicates with the kept document's id, and the kept first document of
    every cluster with its size), and summary.json (counts, documents dropped as duplicates of a
    previous corpus, and previously kept documents that one run over everything would drop)."""

    name = "🫂 Dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, edges_dir: str, stage_dir: str, decisions_dir: str, previous: list[str] | None = None):
        super().__init__()
        self.edges_dir, self.stage_dir, self.decisions_dir, self.previous = edges_dir, stage_dir, decisions_dir, list(previous or [])

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if rank != 0:
            return
        with self.track_time():
            summary = self.decide()
        for key in ("nodes", "exact_dup", "near_dup", "dup_of_previous"):
            self.stat_update(key, value=summary[key])
        return
        yield

    def decide(self) -> dict:
        nodes = _edge_nodes(self.edges_dir)
        n = len(nodes)
        if n >= 2**32:
            raise ValueError(f"{n:,} documents with a duplicate: more than one clusters task can index (2**32)")
        this_generation = len(self.previous) << ORDER_BITS
        first_new = int(np.searchsorted(nodes, this_generation))  # nodes are sorted: earlier corpora first
        parent = np.arange(n, dtype=np.uint32)
        exact = np.zeros(n, bool)
        kept_before = None
        # Edges among earlier corpora first: their components are those corpora's own decisions.
        for only_previous in ([True, False] if first_new else [False]):
            for table in _edge_batches(self.edges_dir, ["node", "to", "exact", "earlier"]):
                a = np.searchsorted(nodes, table.column("node").to_numpy())
                b = np.searchsorted(nodes, table.column("to").to_numpy())
                earlier = table.column("earlier").to_numpy()
                pick = earlier if only_previous else ~earlier if first_new else slice(None)
                native.union_edges(parent, a[pick], b[pick])
                if not only_previous:
                    exact[a[table.column("exact").to_numpy()]] = True
            if only_previous:
                native.union_roots(parent)
                kept_before = parent[:first_new] == np.arange(first_new)
        root = native.union_roots(parent)
        size = np.bincount(root, minlength=n).astype(np.int32)
        ids = self._root_ids(nodes, root)
        counts = self._write_decisions(nodes, root, exact, size, ids, first_new)
        summary = {
            "buckets": len(glob.glob(os.path.join(self.edges_dir, "*.parquet"))),
            "nodes": n,
            **counts,
            "previous": self.previous,
            # Kept by an earlier run, but joined to an earlier document of another cluster by a
            # document of this run: one run over everything would have dropped them.
            "previous_kept_now_joined": int((kept_before & (root[:first_new] != np.arange(first_new))).sum()) if kept_before is not None else 0,
        }
        _atomic_json(summary, os.path.join(self.decisions_dir, "summary.json"))
        return summary

    def _root_ids(self, nodes: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        """The id of every cluster's first document: (its node indices, sorted; their ids), read
        from the staged shards' `order` and `id` columns and from earlier corpora's WHOLE_TEXT key
        rows. Arrow strings, not Python ones: there can be tens of millions of clusters."""
        roots = np.unique(root[root != np.arange(len(root))])
        found_at, found_ids = [np.zeros(0, np.int64)], [pa.array([], pa.string())]
        sources = [(g, os.path.join(DedupIndex.read(folder).keys_dir, "*", "*.parquet"), pl.col("band") == WHOLE_TEXT)
                   for g, folder in enumerate(self.previous)]
        sources += [(len(self.previous), path, None) for path in staged_shards(self.stage_dir)]
        for generation, path, where in sources:
            wanted = roots[nodes[roots] >> ORDER_BITS == generation]
            if not len(wanted):
                continue
            orders = pl.Series((nodes[wanted] & (MAX_ORDER - 1)).astype(np.uint64))
            scan = pl.scan_parquet(path)
            found = scan.filter(pl.col("order").is_in(orders.implode()) if where is None else where & pl.col("order").is_in(orders.implode()))
            found = found.select("order", "id").collect()
            found_at.append(np.searchsorted(nodes, found.get_column("order").to_numpy().astype(np.int64) | (generation << ORDER_BITS)))
            found_ids.append(found.get_column("id").to_arrow())
        at = np.concatenate(found_at)
        order = np.argsort(at, kind="stable")
        return at[order], pa.concat_arrays([a.cast(pa.string()) for a in found_ids]).take(pa.array(order))

    def _locate(self, nodes: np.ndarray, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Each staged row's index in `nodes`, and whether it is there (has a duplicate)."""
        node = table.column("order").to_numpy().astype(np.int64) | (len(self.previous) << ORDER_BITS)
        at = np.minimum(np.searchsorted(nodes, node), max(len(nodes) - 1, 0))
        return at, (nodes[at] == node) if len(nodes) else np.zeros(len(node), bool)

    def _write_decisions(self, nodes, root, exact, size, ids, first_new) -> dict:
        root_at, root_ids = ids
        counts = {"exact_dup": 0, "near_dup": 0, "dup_of_previous": 0}
        for path in staged_shards(self.stage_dir):
            at, present = self._locate(nodes, pq.read_table(path, columns=["order"]))
            rows = np.flatnonzero(present)
            at = at[rows]
            r = root[at]
            dup = r != at
            code = np.where(~dup, 0, np.where(exact[at], 1, 2)).astype(np.int32)  # kept (null), exact_dup, near_dup
            reason = pa.DictionaryArray.from_arrays(pa.array(code, mask=code == 0), pa.array(["", "exact_dup", "near_dup"])).dictionary_decode()
            kept_id = root_ids.take(pa.array(np.searchsorted(root_at, r), mask=~dup))
            detail = kept_id
            # A duplicate of a document of an earlier corpus says which corpus.
            for generation, folder in enumerate(self.previous):
                of_it = pa.array(dup & (nodes[r] >> ORDER_BITS == generation))
                detail = pc.if_else(of_it, pc.binary_join_element_wise(kept_id, pa.scalar(f" (in {folder})"), ""), detail)
            counts["exact_dup"] += int((dup & exact[at]).sum())
            counts["near_dup"] += int((dup & ~exact[at]).sum())
            counts["dup_of_previous"] += int((dup & (r < first_new)).sum())
            table = pa.table({"row": rows.astype(np.int64), "reason": reason, "kept_id": kept_id, "detail": detail, "cluster_size": size[r]}, schema=DECISIONS)
            write_parquet_atomic(table, os.path.join(self.decisions_dir, os.path.basename(path)))
        return counts


def staged_shards(stage_dir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(stage_dir, "*.parquet")))


def decisions_file(decisions_dir: str, rank: int) -> str:
    return os.path.join(decisions_dir, f"{rank:05d}.parquet")
