"""Slow, deliberately plain Python reference for the Rust MinHash core.

Written straight from the specification (see langmill/native/dedup.py and the header of
src/minhash.rs), with no shared code and no cleverness, so that bit-for-bit agreement
with the Rust library means something. XXH64 (text_hash, band keys) uses the
``xxhash`` package (the Rust xxh64 is tested against it separately). Words use
``unicodedata`` directly rather than the generated table.
"""

from __future__ import annotations

import struct
import unicodedata

import xxhash

SEPARATOR_CATEGORIES = frozenset(
    {"Zs", "Zl", "Zp", "Cc", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}
)
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def xxh64(data: bytes, seed: int = 0) -> int:
    return xxhash.xxh64_intdigest(data, seed=seed)


def as_text(doc: str | bytes | None) -> str:
    """What the native side sees: None -> "", bytes decoded with replacement,
    str with lone surrogates encoded with replacement (as langmill.native does)."""
    if doc is None:
        return ""
    if isinstance(doc, bytes):
        return doc.decode("utf-8", errors="replace")
    return doc.encode("utf-8", errors="replace").decode("utf-8")


def words(text: str) -> list[str]:
    out = []
    current = ""
    for c in text:
        if unicodedata.category(c) in SEPARATOR_CATEGORIES:
            if current:
                out.append(current)
            current = ""
        else:
            current += c.lower()
    if current:
        out.append(current)
    return out


def mix64(z: int) -> int:
    """splitmix64's output function."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def splitmix64(seed: int):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        yield mix64(state)


def keys(seed: int) -> tuple[int, int]:
    """(k1, k2): shingle-hash key and densification key."""
    rng = splitmix64(seed)
    return next(rng), next(rng)


def word_hash(word: str) -> int:
    """Word bytes zero-padded to a multiple of 8, folded as little-endian u64 chunks."""
    data = word.encode("utf-8")
    data += b"\0" * (-len(data) % 8)
    h = 0
    for i in range(0, len(data), 8):
        h = mix64(h ^ int.from_bytes(data[i : i + 8], "little"))
    return h


def rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK64


def shingle_hashes(ws: list[str], ngram: int, k1: int) -> set[int]:
    # A set: the minimum over repeated shingles is the same, and it keeps long
    # repetitive test documents affordable.
    out = set()
    for i in range(len(ws) - ngram + 1):
        h = k1
        for w in ws[i : i + ngram]:
            h = rotl64(((h ^ word_hash(w)) * 0x9E3779B97F4A7C15) & MASK64, 31)
        out.add(mix64(h))
    return out


def signature(text: str, num_perm: int = 112, ngram: int = 5, seed: int = 1) -> list[int]:
    """One permutation hashing with optimal densification."""
    k1, k2 = keys(seed)
    hashes = shingle_hashes(words(text), ngram, k1)
    if not hashes:
        return [MASK32] * num_perm
    bins: list[int | None] = [None] * num_perm
    for x in hashes:
        b = ((x >> 32) * num_perm) >> 32
        v = x & MASK32
        if bins[b] is None or v < bins[b]:
            bins[b] = v
    filled = [j for j in range(num_perm) if bins[j] is not None]
    sig = []
    for i in range(num_perm):
        if bins[i] is not None:
            sig.append(bins[i])
        else:
            # Bin i's own random order of all bins: the first non-empty one donates.
            j = min(filled, key=lambda j: mix64(k2 ^ (i << 32 | j)))
            sig.append(bins[j])
    return sig


def band_keys(sig: list[int], bands: int, rows: int) -> list[int]:
    assert bands * rows <= len(sig)
    keys = []
    for j in range(bands):
        chunk = sig[j * rows : (j + 1) * rows]
        keys.append(xxh64(struct.pack(f"<{rows}I", *chunk), seed=j))
    return keys


def text_hash(text: str) -> int:
    return xxh64(" ".join(words(text)).encode("utf-8"))


def minhash(docs, *, num_perm=112, ngram=5, seed=1, bands=14, rows=8) -> dict[str, list]:
    """Same fields as native.MinhashResult, as Python lists."""
    res: dict[str, list] = {"signatures": [], "band_keys": [], "text_hash": [], "n_words": []}
    for doc in docs:
        text = as_text(doc)
        sig = signature(text, num_perm, ngram, seed)
        res["signatures"].append(sig)
        res["band_keys"].append(band_keys(sig, bands, rows))
        res["text_hash"].append(text_hash(text))
        res["n_words"].append(len(words(text)))
    return res


def cluster(keys: list[list[int]], active: list[bool]) -> list[int]:
    """Plain union-find; each doc's root is the smallest index in its component."""
    n = len(keys)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    first_with: dict[tuple[int, int], int] = {}
    for i in range(n):
        if not active[i]:
            continue
        for j, k in enumerate(keys[i]):
            other = first_with.setdefault((j, k), i)
            ri, ro = find(i), find(other)
            if ri != ro:
                parent[max(ri, ro)] = min(ri, ro)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    root = [0] * n
    for group in members.values():
        for i in group:
            root[i] = min(group)
    return root


def union_edges(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Connected components of n nodes joined by `edges`: each node's smallest component member."""
    component = {i: {i} for i in range(n)}
    for a, b in edges:
        if component[a] is not component[b]:
            merged = component[a] | component[b]
            for x in merged:
                component[x] = merged
    return [min(component[i]) for i in range(n)]


def group_edges(band: list[int], key: list[int], node: list[int]) -> list[tuple[int, int, bool]]:
    """Rows with equal (band, key) form a group: an edge from every member but the group's smallest
    node to that node, marked exact for whole-text groups (band 255); sorted."""
    groups: dict[tuple[int, int], list[int]] = {}
    for b, k, n in zip(band, key, node):
        groups.setdefault((b, k), []).append(n)
    return sorted((n, min(members), b == 255) for (b, _), members in groups.items() for n in members if n != min(members))
