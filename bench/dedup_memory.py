"""Memory and time of the dedup stages at sizes the corpus runs of `scale.py` cannot reach here.

    .venv/bin/python bench/dedup_memory.py                       # 0.5, 1, 2, 4 million documents, ~5 min
    .venv/bin/python bench/dedup_memory.py --mdocs 0.1,0.2 --out /tmp/dm.json   # smoke

The corpus runs of `scale.py` give the buckets and clusters stages a few hundred thousand documents
at most, where fixed costs hide the per-document ones. Here the dedup index is written directly,
as `DedupKeys` writes it (8 filter tasks, one bucket: K=1, so one task holds every key), for
`--mdocs` million documents of which `--dup-share` are copies of earlier ones (half exact, half near:
11 of 14 band keys shared), with random 64-bit keys otherwise. Then the real `BucketEdges` and
`ClusterEdges` steps run, each in a fresh process, and each reports its time and its peak resident
memory above the process's size after imports (VmHWM after /proc/self/clear_refs). Output: JSON with the per-size numbers
and the least-squares slopes (MB and s per million documents for buckets, per million documents
with a duplicate for clusters), which `scale.py --dedup-rates` uses for its projection.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
BANDS = 14
TASKS = 8


def write_index(folder: Path, n_docs: int, dup_share: float, seed: int) -> int:
    """Key files and staged (order, id) shards for n_docs documents; returns the number of copies."""
    from langmill.filters.dedup_index import KEYS, WHOLE_TEXT, DedupIndex

    rng = np.random.default_rng(seed)
    whole = rng.integers(-(2**63), 2**63 - 1, n_docs, dtype=np.int64)
    bands = rng.integers(-(2**63), 2**63 - 1, (n_docs, BANDS), dtype=np.int64)
    copies = np.flatnonzero(rng.random(n_docs) < dup_share)
    copies = copies[copies > 0]
    source = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier document
    exact = rng.random(len(copies)) < 0.5
    whole[copies[exact]] = whole[source[exact]]
    bands[copies[exact]] = bands[source[exact]]
    near, near_source = copies[~exact], source[~exact]
    bands[near, :11] = bands[near_source, :11]
    index = DedupIndex(str(folder), {}, 1, [])
    index.write()
    task = np.arange(n_docs) % TASKS
    for t in range(TASKS):
        docs = np.flatnonzero(task == t)
        order = docs.astype(np.uint64)
        ids = pa.array([f"d{i}" for i in docs], pa.string())
        table = pa.table({
            "band": np.concatenate([np.full(len(docs), WHOLE_TEXT, np.uint8), np.tile(np.arange(BANDS, dtype=np.uint8), len(docs))]),
            "key": np.concatenate([whole[docs], bands[docs].ravel()]),
            "order": np.concatenate([order, np.repeat(order, BANDS)]),
            "id": pa.concat_arrays([ids, pa.nulls(len(docs) * BANDS, pa.string())]),
        }, schema=KEYS)
        os.makedirs(f"{index.keys_dir}/00000", exist_ok=True)
        pq.write_table(table, f"{index.keys_dir}/00000/{t:05d}.parquet", compression="zstd")
        os.makedirs(folder / "work" / "staged", exist_ok=True)
        pq.write_table(pa.table({"order": order, "id": ids}), folder / "work" / "staged" / f"{t:05d}.parquet")
    return len(copies)


def _status_mb(field: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def child(step: str, folder: str) -> None:
    """Runs one step in this (fresh) process and prints its time and memory."""
    from langmill.filters.dedup_index import BucketEdges, ClusterEdges

    base = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident size, to the current one: the imports' peak does not count
    started = time.perf_counter()
    if step == "buckets":
        list(BucketEdges(f"{folder}/dedup/keys", f"{folder}/work/dedup/edges", 1).run(rank=0))
        extra = {}
    else:
        summary = ClusterEdges(f"{folder}/work/dedup/edges", f"{folder}/work/staged", f"{folder}/work/dedup/decisions").decide()
        extra = {"documents_with_duplicates": summary["nodes"]}
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "base_mb": base, "grow_mb": peak - base, **extra}))


def measure(step: str, folder: Path) -> dict:
    env = {**os.environ, "LANGMILL_THREADS": "1"}
    result = subprocess.run([sys.executable, __file__, "--child", step, str(folder)], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def slope(points: list[tuple[float, float]]) -> list[float]:
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    a, b = np.polyfit(xs, ys, 1) if len(set(xs.tolist())) > 1 else (ys[-1] / xs[-1], 0.0)
    return [float(a), float(b)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mdocs", default="0.5,1,2,4", help="sizes, in million documents")
    parser.add_argument("--dup-share", type=float, default=0.3, help="share of documents that copy an earlier one")
    parser.add_argument("--out", default=str(HERE / "dedup_memory.json"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    for mdocs in [float(x) for x in args.mdocs.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="langmill-dedup-mem-"))
        try:
            n = int(mdocs * 1e6)
            copies = write_index(folder, n, args.dup_share, seed=1)
            buckets = measure("buckets", folder)
            clusters = measure("clusters", folder)
            rows.append({"docs": n, "copies": copies, "key_rows": n * (BANDS + 1), "buckets": buckets, "clusters": clusters})
            print(f"{n:>10,} docs: buckets {buckets['seconds']:.1f} s, +{buckets['grow_mb']:,.0f} MB; clusters "
                  f"({clusters['documents_with_duplicates']:,} with duplicates) {clusters['seconds']:.1f} s, +{clusters['grow_mb']:,.0f} MB", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result = {
        "dup_share": args.dup_share, "sizes": rows,
        "buckets_mb_per_mdoc": slope([(r["docs"] / 1e6, r["buckets"]["grow_mb"]) for r in rows]),
        "buckets_s_per_mdoc": slope([(r["docs"] / 1e6, r["buckets"]["seconds"]) for r in rows]),
        "clusters_mb_per_mdup": slope([(r["clusters"]["documents_with_duplicates"] / 1e6, r["clusters"]["grow_mb"]) for r in rows]),
        "clusters_s_per_mdup": slope([(r["clusters"]["documents_with_duplicates"] / 1e6, r["clusters"]["seconds"]) for r in rows]),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"slopes: buckets {result['buckets_mb_per_mdoc'][0]:.0f} MB and {result['buckets_s_per_mdoc'][0]:.1f} s per million documents "
          f"(one task); clusters {result['clusters_mb_per_mdup'][0]:.0f} MB and {result['clusters_s_per_mdup'][0]:.1f} s per million documents "
          f"with a duplicate -> {args.out}")


if __name__ == "__main__":
    main()
