"""Slow, deliberately plain Python reference for the Rust MinHash core.

Written straight from the specification (see langmill/native.py), with no shared
code and no cleverness, so that bit-for-bit agreement with the Rust library means
something. Hashing uses the ``xxhash`` package (the Rust xxh64 is tested against it
separately). Words use ``unicodedata`` directly rather than the generated table.
"""

from __future__ import annotations

import struct
import unicodedata

import xxhash

SEPARATOR_CATEGORIES = frozenset(
    {"Zs", "Zl", "Zp", "Cc", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So"}
)
P = (1 << 61) - 1
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def xxh64(data: bytes, seed: int = 0) -> int:
    return xxhash.xxh64_intdigest(data, seed=seed)


def as_text(doc: str | bytes | None) -> str:
    """What the native side sees: None -> "", bytes decoded with replacement,
    str with lone surrogates encoded with replacement (as native.py does)."""
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


def splitmix64(seed: int):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def permutations(num_perm: int, seed: int) -> list[tuple[int, int]]:
    rng = splitmix64(seed)
    perms = []
    for _ in range(num_perm):
        a = next(rng) % (P - 1) + 1
        b = next(rng) % P
        perms.append((a, b))
    return perms


def shingle_hashes(ws: list[str], ngram: int) -> set[int]:
    # A set: the minimum over repeated shingles is the same, and it keeps long
    # repetitive test documents affordable.
    return {xxh64(" ".join(ws[i : i + ngram]).encode("utf-8")) for i in range(len(ws) - ngram + 1)}


def signature(text: str, num_perm: int = 112, ngram: int = 5, seed: int = 1) -> list[int]:
    perms = permutations(num_perm, seed)
    sig = [MASK32] * num_perm
    for h in shingle_hashes(words(text), ngram):
        x = h % P
        for i, (a, b) in enumerate(perms):
            v = ((a * x + b) % P) & MASK32
            if v < sig[i]:
                sig[i] = v
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
