"""Python face of the Rust core (``src/``): MinHash/LSH, exact-dup hashes, clustering.

This is the only module that talks to the native library. Texts go in as the
buffers of a pyarrow ``large_string`` array (no copy of the text bytes) and results
come back in numpy arrays allocated here, so the Rust side never owns Python memory.

Text normalisation (shared with ``tests/reference_minhash.py``): a word is a maximal
run of characters outside the Unicode categories Z*, Cc, P*, S*, lowercased one
character at a time; shingles are ``ngram`` consecutive words joined by one space.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

try:
    from langmill._native import ffi, lib
except ImportError as exc:  # pragma: no cover - only when the crate was never built
    raise ImportError(
        "langmill's Rust extension (langmill._native) is missing or broken; "
        "build it with `pip install -e .` from the repository root"
    ) from exc

__all__ = ["MinhashResult", "NativeError", "cluster", "minhash", "minhash_signatures", "xxh64"]

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1

# Return codes of the C ABI (see src/lib.rs).
_ERRORS = {
    -1: "a required buffer pointer was NULL",
    -2: "invalid parameters (num_perm, ngram, bands, rows)",
    -3: "invalid Arrow offsets (negative or decreasing)",
    -4: "internal panic in the native library",
    -5: "input too large for the native library",
}


class NativeError(RuntimeError):
    """The native library returned an error code."""


def _check(code: int, func: str) -> None:
    if code != 0:
        raise NativeError(f"{func} failed: {_ERRORS.get(code, 'unknown error')} (code {code})")


@dataclass
class MinhashResult:
    signatures: np.ndarray | None  # uint32 (n, num_perm)
    band_keys: np.ndarray | None  # uint64 (n, bands)
    text_hash: np.ndarray  # uint64 (n,): xxh64 of the normalised text, for exact dedup
    n_words: np.ndarray  # uint32 (n,)


# ---------------------------------------------------------------------------
# Input conversion


def _from_python_strings(items: list[Any]) -> pa.Array:
    """Builds a large_string array from Python objects; None becomes null."""
    try:
        return pa.array(items, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        pass
    # Slow path: lone surrogates cannot be encoded strictly, so replace them ("?")
    # rather than fail the whole batch; None becomes the empty string.
    parts = []
    for i, s in enumerate(items):
        if s is None:
            parts.append(b"")
        elif isinstance(s, str):
            parts.append(s.encode("utf-8", errors="replace"))
        else:
            raise TypeError(f"texts[{i}] is {type(s).__name__}, expected str or None")
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    data = b"".join(parts)
    return pa.LargeStringArray.from_buffers(len(parts), pa.py_buffer(offsets), pa.py_buffer(data))


def _to_large_string(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_large_string(t):
        return arr
    if pa.types.is_dictionary(t):
        return _to_large_string(arr.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        # string -> large_string widens the offsets only; the text bytes are shared.
        return arr.cast(pa.large_string())
    raise TypeError(f"expected an Arrow string array, got type {t}")


def _text_chunks(texts: Any) -> list[pa.Array]:
    """Normalises the accepted inputs into a list of large_string arrays."""
    if isinstance(texts, pa.ChunkedArray):
        return [_to_large_string(c) for c in texts.chunks]
    if isinstance(texts, pa.Array):
        return [_to_large_string(texts)]
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(texts, pl.Series):
        # Polars stores string views; the oldest compat level yields large_string.
        try:
            arrow = texts.to_arrow(compat_level=pl.CompatLevel.oldest())
        except (AttributeError, TypeError):
            arrow = texts.to_arrow()
        return _text_chunks(arrow)
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, not a single string")
    return [_from_python_strings(list(texts))]


def _buffers(arr: pa.Array):
    """(offsets pointer, data pointer) of a large_string array, honouring its slice offset."""
    _, offsets, data = arr.buffers()
    off_ptr = ffi.cast("int64_t *", offsets.address) + arr.offset
    data_ptr = ffi.cast("uint8_t *", data.address) if data is not None and data.size > 0 else ffi.NULL
    return off_ptr, data_ptr


# ---------------------------------------------------------------------------
# Public API


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return int(value)


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
    """
    num_perm = _check_int("num_perm", num_perm, 1, _U32_MAX)
    ngram = _check_int("ngram", ngram, 1, _U32_MAX)
    seed = _check_int("seed", seed, 0, _U64_MAX)
    bands = _check_int("bands", bands, 0, _U32_MAX)
    rows = _check_int("rows", rows, 1, _U32_MAX)
    threads = _check_int("threads", threads, 0, 4096)
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
    threads = _check_int("threads", threads, 0, 4096)
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


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 digest (same as ``xxhash.xxh64_intdigest``) of a bytes-like object."""
    if isinstance(data, str):
        raise TypeError("xxh64 needs bytes; encode the string first")
    seed = _check_int("seed", seed, 0, _U64_MAX)
    buf = memoryview(data).cast("B")
    if buf.nbytes == 0:
        return int(lib.lm_xxh64(ffi.NULL, 0, seed))
    return int(lib.lm_xxh64(ffi.from_buffer("uint8_t[]", buf), buf.nbytes, seed))
