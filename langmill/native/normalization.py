"""Whitespace/control normalisation and the PII hint flags (src/normalize.rs, C ABI `lm_normalize`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from langmill.native._abi import _buffers, _check, _text_chunks, _threads, ffi, lib

__all__ = ["HINT_AT", "HINT_IPV4", "HINT_IPV6", "HINT_MOJIBAKE", "hints", "normalize"]

# Hint flags of `normalize`/`hints` (see src/normalize.rs).
HINT_MOJIBAKE, HINT_AT, HINT_IPV4, HINT_IPV6 = 1, 2, 4, 8


def _normalize_chunk(chunk: pa.Array, threads: int, fold: bool):
    n = len(chunk)
    flags = np.zeros(n, dtype=np.uint8)
    off_ptr, data_ptr = _buffers(chunk)
    if not fold:
        _check(lib.lm_normalize(off_ptr, data_ptr, n, threads, ffi.NULL, ffi.NULL, ffi.from_buffer("uint8_t[]", flags)), "lm_normalize")
        return None, flags
    offsets = chunk.buffers()[1]
    start, end = np.frombuffer(offsets, dtype=np.int64)[[chunk.offset, chunk.offset + n]] if n else (0, 0)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    out_data = np.empty(max(int(end - start), 1), dtype=np.uint8)
    _check(
        lib.lm_normalize(
            off_ptr, data_ptr, n, threads,
            ffi.from_buffer("int64_t[]", out_offsets), ffi.from_buffer("uint8_t[]", out_data), ffi.from_buffer("uint8_t[]", flags),
        ),
        "lm_normalize",
    )
    folded = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(out_offsets), pa.py_buffer(out_data)])
    return folded, flags


def normalize(texts: Any, *, threads: int = 0) -> tuple[pa.Array, np.ndarray]:
    """Whitespace/control normalisation (see src/normalize.rs) and hint flags of each text.

    Returns a large_string array of the normalised texts and a uint8 array of HINT_* flags
    computed on the input. Nulls come back as empty strings.
    """
    threads = _threads(threads)
    results = [_normalize_chunk(c, threads, fold=True) for c in _text_chunks(texts)]
    if not results:
        return pa.array([], pa.large_string()), np.zeros(0, np.uint8)
    return pa.concat_arrays([r[0] for r in results]), np.concatenate([r[1] for r in results])


def hints(texts: Any, *, threads: int = 0) -> np.ndarray:
    """HINT_* flags of each text: which costly regular expressions could match at all."""
    threads = _threads(threads)
    parts = [_normalize_chunk(c, threads, fold=False)[1] for c in _text_chunks(texts)]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint8)
