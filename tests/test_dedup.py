"""Keep/drop decisions of the dedup stage on hand-made keys (the Rust clustering is checked in test_native)."""

import os

import numpy as np
import pyarrow.parquet as pq

from langmill.filters.dedup import decide_duplicates


def test_first_copy_wins_and_clusters_are_transitive():
    # 0 and 3 are exact copies; 1~2 share band 0, 2~4 share band 1 (a chain); 5 is short.
    text_hash = np.array([7, 1, 2, 7, 4, 9], dtype=np.uint64)
    n_words = np.array([50, 50, 50, 50, 50, 3], dtype=np.uint32)
    band_keys = np.array([[10, 20], [11, 21], [11, 22], [10, 20], [12, 22], [11, 21]], dtype=np.uint64)
    root, is_exact = decide_duplicates(text_hash, n_words, band_keys, min_words=5)
    assert root.tolist() == [0, 1, 1, 0, 1, 5]
    assert is_exact.tolist() == [False, False, False, True, False, False]


def test_exact_copies_of_a_near_duplicate_point_at_the_cluster_survivor():
    text_hash = np.array([1, 2, 2], dtype=np.uint64)
    n_words = np.array([20, 20, 20], dtype=np.uint32)
    band_keys = np.array([[5], [5], [5]], dtype=np.uint64)
    root, is_exact = decide_duplicates(text_hash, n_words, band_keys, min_words=5)
    assert root.tolist() == [0, 0, 0] and is_exact.tolist() == [False, False, True]


def test_empty_input():
    root, is_exact = decide_duplicates(np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros((0, 14), np.uint64), 5)
    assert root.size == 0 and is_exact.size == 0


# --- the sharded dedup (filters/dedup_index.py) against decide_duplicates --------------------------------

SETTINGS = {"num_perm": 112, "ngram": 5, "bands": 14, "rows": 8, "seed": 1, "min_words": 5}


def synthetic_corpus(rng, n_docs: int, n_texts: int, first_file: int = 0, tasks: int = 2) -> list[list[dict]]:
    """Documents split over `tasks` staged shards in interleaved input order, drawn from `n_texts`
    texts (a text's copies are exact duplicates: same hash, words and band keys), whose band keys
    come from small pools so that texts share keys, in chains as well as pairs; some are short."""
    n_words = rng.integers(1, 60, n_texts)
    band_keys = rng.integers(0, n_texts * 2, (n_texts, 14)) * 1_000 + np.arange(14)  # pool per band
    text_hash = rng.permutation(n_texts).astype(np.int64) * 7919 + first_file  # one corpus' texts are not another's
    orders = sorted(((first_file + f) << 40) | row for f in range(3) for row in range(n_docs // 3))
    tasks_of = rng.integers(0, tasks, len(orders))
    shards = [[] for _ in range(tasks)]
    for order, task in zip(rng.permutation(orders).tolist(), tasks_of):
        t = int(rng.integers(0, n_texts))
        shards[task].append({"id": f"doc-{order:x}", "order": order, "text_hash": int(text_hash[t]), "n_words": int(n_words[t]),
                             "band_keys": band_keys[t].tolist()})
    return shards


def run_sharded(folder, shards: list[list[dict]], buckets: int, previous: list[str] = ()) -> dict:
    """The filter stage's DedupKeys, the buckets and clusters stages on `shards`; every document's
    (reason, kept_id, detail, cluster_size) by id, and the clusters task's summary."""
    import json

    import pyarrow as pa
    from datatrove.data import Document

    from langmill.filters.dedup_index import BucketEdges, ClusterEdges, DedupIndex, DedupKeys

    folder = str(folder)
    index = DedupIndex(folder, SETTINGS, buckets, list(previous))
    index.write()
    stage, edges, decisions = (f"{folder}/work/{name}" for name in ("staged", "edges", "decisions"))
    for rank, docs in enumerate(shards):
        documents = [Document(text="", id=d["id"], metadata=dict(d)) for d in docs]
        assert len(list(DedupKeys(index.keys_dir, buckets=buckets, min_words=SETTINGS["min_words"], batch_size=37).run(iter(documents), rank))) == len(docs)
        os.makedirs(stage, exist_ok=True)
        pq.write_table(pa.table({"order": pa.array([d["order"] for d in docs], pa.uint64()), "id": [d["id"] for d in docs]}), f"{stage}/{rank:05d}.parquet")
    for b in range(buckets):
        list(BucketEdges(index.keys_dir, edges, buckets, list(previous)).run(rank=b, world_size=buckets))
    list(ClusterEdges(edges, stage, decisions, list(previous)).run())
    found = {}
    for rank, docs in enumerate(shards):
        table = pq.read_table(f"{decisions}/{rank:05d}.parquet").to_pylist()
        by_row = {r["row"]: r for r in table}
        for row, d in enumerate(docs):
            r = by_row.get(row, {"reason": None, "kept_id": None, "detail": None, "cluster_size": 1})
            found[d["id"]] = (r["reason"], r["kept_id"], r["detail"], r["cluster_size"])
    with open(f"{decisions}/summary.json") as f:
        return {"docs": found, "summary": json.load(f)}


def expected_decisions(corpora: list[list[list[dict]]]) -> dict:
    """decide_duplicates over every document of every corpus at once, earlier corpora first."""
    docs = [d for corpus in corpora for d in sorted((d for shard in corpus for d in shard), key=lambda d: d["order"])]
    root, is_exact = decide_duplicates(np.array([d["text_hash"] for d in docs]), np.array([d["n_words"] for d in docs]),
                                       np.array([d["band_keys"] for d in docs]), SETTINGS["min_words"])
    size = np.bincount(root, minlength=len(docs))
    out = {}
    for i, d in enumerate(docs):
        r = int(root[i])
        reason = None if r == i else "exact_dup" if is_exact[i] else "near_dup"
        out[d["id"]] = (reason, None if r == i else docs[r]["id"], int(size[r]))
    return out


def test_sharded_dedup_makes_the_single_task_decisions_for_any_number_of_buckets(tmp_path):
    rng = np.random.default_rng(7)
    shards = synthetic_corpus(rng, n_docs=900, n_texts=500, tasks=3)
    want = expected_decisions([shards])
    assert sum(r is not None for r, _, _ in want.values()) > 300  # plenty of exact and near duplicates, in chains
    assert {r for r, _, _ in want.values()} == {None, "exact_dup", "near_dup"} and max(s for _, _, s in want.values()) > 3
    for buckets in (1, 3, 8):
        got = run_sharded(tmp_path / f"k{buckets}", shards, buckets)
        assert {i: (r, k, s) for i, (r, k, _, s) in got["docs"].items()} == want, buckets
        assert got["summary"]["buckets"] == buckets and got["summary"]["previous_kept_now_joined"] == 0


def test_dedup_against_an_earlier_corpus_decides_like_one_run_over_both(tmp_path):
    rng = np.random.default_rng(11)
    old = synthetic_corpus(rng, n_docs=600, n_texts=400, tasks=2)
    new = synthetic_corpus(rng, n_docs=600, n_texts=400, first_file=3, tasks=2)
    # New documents share texts with old ones: copy some old documents' keys into new ones.
    old_docs = [d for shard in old for d in shard]
    for d in new[0][:120]:
        d.update({k: v for k, v in old_docs[int(rng.integers(0, len(old_docs)))].items() if k not in ("id", "order")})
    a = run_sharded(tmp_path / "a", old, buckets=2)
    b = run_sharded(tmp_path / "b", new, buckets=3, previous=[str(tmp_path / "a")])
    both = expected_decisions([old, new])
    new_ids = [d["id"] for shard in new for d in shard]
    # Every document of the new run gets the decision of one run over both.
    assert {i: b["docs"][i][0:2] + (b["docs"][i][3],) for i in new_ids} == {i: both[i] for i in new_ids}
    dup_of_old = [i for i in new_ids if both[i][1] is not None and not both[i][1].startswith("doc-3") and both[i][1] not in new_ids]
    assert len(dup_of_old) > 50 and b["summary"]["dup_of_previous"] == len(dup_of_old)
    assert all(b["docs"][i][2] == f"{both[i][1]} (in {tmp_path / 'a'})" for i in dup_of_old)
    # Earlier kept documents stay kept; those that one run over both would drop are counted.
    kept_by_a = {i for i, (r, *_) in a["docs"].items() if r is None}
    assert b["summary"]["previous_kept_now_joined"] == len([i for i in kept_by_a if both[i][0] is not None]) > 0
