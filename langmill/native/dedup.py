"""MinHash/LSH signatures, exact-dup hashes, clustering and XXH64 (src/minhash.rs, src/cluster.rs).

Text normalisation (shared with ``tests/reference_minhash.py``): a word is a maximal
run of characters outside the Unicode categories Z*, Cc, P*, S*, lowercased one
character at a time; shingles are ``ngram`` consecutive words.

Signatures are one-permutation MinHash (OPH) with optimal densification: each shingle
is hashed once to 64 bits (per-word hashes folded by a multiply-rotate chain, then
splitmix64's finalizer); the high 32 bits pick one of ``num_perm`` bins, the low 32
bits are the value, each bin keeps its minimum, and an empty bin copies the value of
the first non-empty bin in its own seeded random order of bins. The fraction of equal
slots estimates the Jaccard similarity of the shingle sets, as with classic MinHash
(same or lower error on real documents, see tests/test_native.py). The exact algorithm
is in src/minhash.rs and tests/reference_minhash.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from langmill.native._abi import _U32_MAX, _U64_MAX, _buffers, _check, _check_int, _text_chunks, _threads, ffi, lib

__all__ = ["MinhashResult", "cluster", "minhash", "minhash_signatures", "group_edges", "union_edges", "union_roots", "xxh64"]


@dataclass
class MinhashResult:
    signatures: np.ndarray | None  # uint32 (n, num_perm)
    band_keys: np.ndarray | None  # uint64 (n, bands)
    text_hash: np.ndarray  # uint64 (n,): xxh64 of the normalised text, for exact dedup
    n_words: np.ndarray  # uint32 (n,)


def minhash(
    texts: Any,
    *,
    num_perm: int = 112,
    ngram: int = 5,
    seed: int = 1,
    bands: int = 14,
    rows: int = 8,
    threads: int = 0,
    signatures: bool = True,
    band_keys: bool = True,
) -> MinhashResult:
    """MinHash signatures, LSH band keys, exact-dup hashes and word counts.

    ``texts``: list of str (None = empty), pyarrow Array/ChunkedArray of strings, or
    a polars String Series; nulls count as empty documents. Documents with fewer
    than ``ngram`` words get an all-0xFFFFFFFF signature (and therefore identical
    band keys: mark them inactive before clustering). ``threads=0`` uses all cores.
    Signatures are OPH MinHash (see the module docstring); ``text_hash`` is XXH64 of
    the normalised words joined by single spaces, ``n_words`` their number.
    """
    num_perm = _check_int("num_perm", num_perm, 1, _U32_MAX)
    ngram = _check_int("ngram", ngram, 1, _U32_MAX)
    seed = _check_int("seed", seed, 0, _U64_MAX)
    bands = _check_int("bands", bands, 0, _U32_MAX)
    rows = _check_int("rows", rows, 1, _U32_MAX)
    threads = _threads(threads)
    if bands * rows > num_perm:
        raise ValueError(f"bands * rows must be <= num_perm, got {bands} * {rows} > {num_perm}")

    chunks = _text_chunks(texts)
    n = sum(len(c) for c in chunks)
    sig = np.empty((n, num_perm), dtype=np.uint32) if signatures else None
    keys = np.empty((n, bands), dtype=np.uint64) if band_keys else None
    text_hash = np.empty(n, dtype=np.uint64)
    n_words = np.empty(n, dtype=np.uint32)

    def ptr(ctype: str, a: np.ndarray | None, row: int, width: int):
        if a is None or a.size == 0:
            return ffi.NULL
        return ffi.cast(ctype, a.ctypes.data) + row * width

    row = 0
    has_nulls = False
    for chunk in chunks:
        m = len(chunk)
        if m == 0:
            continue
        off_ptr, data_ptr = _buffers(chunk)
        code = lib.lm_minhash(
            off_ptr, data_ptr, m, num_perm, ngram, seed, bands, rows, threads,
            ptr("uint32_t *", sig, row, num_perm),
            ptr("uint64_t *", keys, row, bands),
            ptr("uint64_t *", text_hash, row, 1),
            ptr("uint32_t *", n_words, row, 1),
        )  # fmt: skip
        _check(code, "lm_minhash")
        has_nulls = has_nulls or chunk.null_count > 0
        row += m

    if has_nulls:
        # A null slot may still cover bytes in the data buffer, so its result is
        # replaced by the empty document's (computed by the same code path).
        null = np.concatenate([c.is_null().to_numpy(zero_copy_only=False) for c in chunks])
        empty = minhash(
            [""], num_perm=num_perm, ngram=ngram, seed=seed, bands=bands, rows=rows,
            threads=1, signatures=signatures, band_keys=band_keys,
        )  # fmt: skip
        if sig is not None:
            sig[null] = empty.signatures[0]
        if keys is not None:
            keys[null] = empty.band_keys[0]
        text_hash[null] = empty.text_hash[0]
        n_words[null] = 0
    return MinhashResult(signatures=sig, band_keys=keys, text_hash=text_hash, n_words=n_words)


def minhash_signatures(texts: Any, *, num_perm: int = 112, ngram: int = 5, seed: int = 1) -> np.ndarray:
    """MinHash signatures as a uint32 array of shape (len(texts), num_perm)."""
    res = minhash(texts, num_perm=num_perm, ngram=ngram, seed=seed, bands=0, rows=1, band_keys=False)
    return res.signatures


def cluster(band_keys: np.ndarray, active: np.ndarray | None = None, *, threads: int = 0) -> np.ndarray:
    """Connected components of documents sharing a key in the same band.

    ``band_keys``: integer array (n, bands); ``active``: bool/int mask (n,), None =
    all active; inactive documents join no cluster. Returns uint32 roots: for each
    document the smallest index in its component (itself when unmatched).
    """
    keys = np.asarray(band_keys)
    if keys.ndim != 2:
        raise ValueError(f"band_keys must be 2-D (n, bands), got shape {keys.shape}")
    if keys.dtype != np.uint64:
        if keys.dtype.kind not in "iu":
            raise TypeError(f"band_keys must be an integer array, got dtype {keys.dtype}")
        keys = keys.astype(np.uint64)  # reinterprets int64 two's complement, keeps equality
    keys = np.ascontiguousarray(keys)
    n, bands = keys.shape
    if n > _U32_MAX:
        raise ValueError(f"at most {_U32_MAX} documents can be clustered, got {n}")
    threads = _threads(threads)
    if active is None:
        act_ptr = ffi.NULL
        act = None
    else:
        act = np.ascontiguousarray(np.asarray(active) != 0, dtype=np.uint8)
        if act.shape != (n,):
            raise ValueError(f"active must have shape ({n},), got {act.shape}")
        act_ptr = ffi.cast("uint8_t *", act.ctypes.data)
    roots = np.empty(n, dtype=np.uint32)
    if n == 0:
        return roots
    keys_ptr = ffi.cast("uint64_t *", keys.ctypes.data) if keys.size else ffi.NULL
    code = lib.lm_cluster(keys_ptr, act_ptr, n, bands, threads, ffi.cast("uint32_t *", roots.ctypes.data))
    _check(code, "lm_cluster")
    return roots


def _forest(parent: np.ndarray) -> int:
    if not (isinstance(parent, np.ndarray) and parent.dtype == np.uint32 and parent.ndim == 1 and parent.flags.c_contiguous and parent.flags.writeable):
        raise TypeError("parent must be a writable, contiguous 1-D uint32 numpy array (start with np.arange(n, dtype=np.uint32))")
    return len(parent)


def union_edges(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Adds the edges a[i]-b[i] (node indices < len(parent)) to the union-find forest `parent`,
    in place. Call it once per batch of edges: only the forest (4 bytes per node) stays in memory.
    Roots are always the smallest node of their set; `union_roots` gives every node its root."""
    n = _forest(parent)
    a = np.ascontiguousarray(a, dtype=np.uint32) if np.asarray(a).dtype != np.uint32 else np.ascontiguousarray(a)
    b = np.ascontiguousarray(b, dtype=np.uint32) if np.asarray(b).dtype != np.uint32 else np.ascontiguousarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of one length, got shapes {a.shape} and {b.shape}")
    m = len(a)
    if m == 0:
        return
    code = lib.lm_union_edges(ffi.cast("uint32_t *", parent.ctypes.data), n, ffi.cast("uint32_t *", a.ctypes.data),
                              ffi.cast("uint32_t *", b.ctypes.data), m)
    if code == -2:
        raise ValueError(f"union_edges: an edge endpoint is not a node index (< {n})")
    _check(code, "lm_union_edges")


def group_edges(band: np.ndarray, key: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The duplicate edges of one dedup bucket: rows with equal (band, key) form a group, and each
    member but the group's smallest node gets an edge (from, to) to it; `exact` marks edges of
    whole-text groups (band 255). Sorts a 4-byte index, not the rows."""
    band = np.ascontiguousarray(band, dtype=np.uint8)
    key = np.ascontiguousarray(np.asarray(key).view(np.uint64) if np.asarray(key).dtype == np.int64 else key, dtype=np.uint64)
    node = np.ascontiguousarray(node, dtype=np.int64)
    n = len(band)
    if not (band.ndim == key.ndim == node.ndim == 1 and len(key) == len(node) == n):
        raise ValueError(f"band, key and node must be 1-D arrays of one length, got {band.shape}, {key.shape}, {node.shape}")
    if n > _U32_MAX:
        raise ValueError(f"at most {_U32_MAX} key rows per bucket, got {n}: use more buckets")
    out_from, out_to, out_exact = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.uint8)
    if n == 0:
        return out_from, out_to, out_exact.astype(bool)
    count = ffi.new("uintptr_t *")  # usize in the C header
    ptr = lambda ctype, a: ffi.cast(ctype, a.ctypes.data)  # noqa: E731
    code = lib.lm_group_edges(ptr("uint8_t *", band), ptr("uint64_t *", key), ptr("int64_t *", node), n,
                              ptr("int64_t *", out_from), ptr("int64_t *", out_to), ptr("uint8_t *", out_exact), count)
    _check(code, "lm_group_edges")
    m = int(count[0])
    return out_from[:m].copy(), out_to[:m].copy(), out_exact[:m].astype(bool)


def union_roots(parent: np.ndarray) -> np.ndarray:
    """Rewrites the forest in place so that parent[i] is the smallest node of i's set; returns it."""
    n = _forest(parent)
    if n:
        _check(lib.lm_union_roots(ffi.cast("uint32_t *", parent.ctypes.data), n), "lm_union_roots")
    return parent


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 digest (same as ``xxhash.xxh64_intdigest``) of a bytes-like object."""
    if isinstance(data, str):
        raise TypeError("xxh64 needs bytes; encode the string first")
    seed = _check_int("seed", seed, 0, _U64_MAX)
    buf = memoryview(data).cast("B")
    if buf.nbytes == 0:
        return int(lib.lm_xxh64(ffi.NULL, 0, seed))
    return int(lib.lm_xxh64(ffi.from_buffer("uint8_t[]", buf), buf.nbytes, seed))
