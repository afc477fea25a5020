"""The one module that imports the Rust library (`langmill._native`, cffi; C ABI in src/lib.rs).

Texts go in as the buffers of a pyarrow ``large_string`` array (no copy of the text bytes) and
results come back in numpy arrays allocated by the caller, so the Rust side never owns Python
memory. This module holds what every kernel family shares: the error codes, the conversion of
the accepted text inputs to large_string buffers, and the checks of integer arguments.
"""

from __future__ import annotations

import os
import sys
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

# The kernel modules call `lib` through here; the helpers below are theirs too.
__all__ = ["NativeError", "ffi", "lib"]

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


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return int(value)


def _threads(threads: int) -> int:
    """threads=0 means LANGMILL_THREADS if set (the pipeline sets 1 per worker process), else all cores."""
    threads = _check_int("threads", threads, 0, 4096)
    return threads or int(os.environ.get("LANGMILL_THREADS", "0") or 0)


# ---------------------------------------------------------------------------
# Input conversion


def _from_python_strings(items: list[Any], errors: str = "replace") -> pa.Array:
    """Builds a large_string array from Python objects; None becomes null.

    Lone surrogates (from bad input) cannot be encoded strictly; rather than fail the batch they
    are encoded with `errors`: "replace" ("?") for dedup words, "surrogatepass" for the text
    statistics, whose Rust decoder reads each as one code point, as Python does.
    """
    try:
        return pa.array(items, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        pass
    parts = []  # None becomes the empty string here
    for i, s in enumerate(items):
        if s is None:
            parts.append(b"")
        elif isinstance(s, str):
            parts.append(s.encode("utf-8", errors=errors))
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


def _text_chunks(texts: Any, errors: str = "replace") -> list[pa.Array]:
    """Normalises the accepted inputs into a list of large_string arrays (see _from_python_strings)."""
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
    return [_from_python_strings(texts if isinstance(texts, list) else list(texts), errors)]


def _buffers(arr: pa.Array):
    """(offsets pointer, data pointer) of a large_string array, honouring its slice offset."""
    _, offsets, data = arr.buffers()
    off_ptr = ffi.cast("int64_t *", offsets.address) + arr.offset
    data_ptr = ffi.cast("uint8_t *", data.address) if data is not None and data.size > 0 else ffi.NULL
    return off_ptr, data_ptr
