"""Python face of the Rust core (``src/``): MinHash/LSH, exact-dup hashes, clustering.

This is the only module that talks to the native library. Texts go in as the
buffers of a pyarrow ``large_string`` array (no copy of the text bytes) and results
come back in numpy arrays allocated here, so the Rust side never owns Python memory.

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

import os
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

__all__ = ["MinhashResult", "NativeError", "cluster", "hints", "minhash", "minhash_signatures", "normalize", "xxh64"]

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


def _threads(threads: int) -> int:
    """threads=0 means LANGMILL_THREADS if set (the pipeline sets 1 per worker process), else all cores."""
    threads = _check_int("threads", threads, 0, 4096)
    return threads or int(os.environ.get("LANGMILL_THREADS", "0") or 0)


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


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 digest (same as ``xxhash.xxh64_intdigest``) of a bytes-like object."""
    if isinstance(data, str):
        raise TypeError("xxh64 needs bytes; encode the string first")
    seed = _check_int("seed", seed, 0, _U64_MAX)
    buf = memoryview(data).cast("B")
    if buf.nbytes == 0:
        return int(lib.lm_xxh64(ffi.NULL, 0, seed))
    return int(lib.lm_xxh64(ffi.from_buffer("uint8_t[]", buf), buf.nbytes, seed))


# ---------------------------------------------------------------------------
# Quality-filter text statistics (src/textstats.rs, C ABI `lm_textstats`)
#
# Integer counts per document; the filters in langmill/filters/quality.py divide them and
# compare with their thresholds. Definitions: langmill/filters/text.py. Reference:
# tests/reference_quality.py. Lone surrogates in Python strings are passed through
# (UTF-8 "surrogatepass") and count as one non-word, non-space code point, as in Python;
# replacing them by "?" (the minhash fallback) would add terminal punctuation.

import math  # noqa: E402

__all__ += [
    "C4_COLUMNS", "FINEWEB_QUALITY_COLUMNS", "GOPHER_QUALITY_COLUMNS", "GOPHER_REPETITION_COLUMNS",
    "c4_stats", "fineweb_quality_stats", "gopher_quality_stats", "gopher_repetition_stats",
]  # fmt: skip

GOPHER_QUALITY_COLUMNS = (
    "n_words", "word_chars", "n_tokens", "n_hash", "n_ellipsis", "n_lines", "n_bullet_lines",
    "n_ellipsis_lines", "n_alpha_words", "n_stop_words",
)  # fmt: skip
# ... followed by one column per top n ("top_<n>gram_chars": count * len(" ".join(ngram)) of the
# most frequent token n-gram, ties to the first seen) and per dup n ("dup_<n>gram_chars":
# datatrove's find_all_duplicate). Every fraction divides by n_chars = len(text).
GOPHER_REPETITION_COLUMNS = (
    "n_paras", "n_dup_paras", "dup_para_chars", "n_lines", "n_dup_lines", "dup_line_chars", "n_chars",
)  # fmt: skip
C4_COLUMNS = (
    "lorem_ipsum", "curly_bracket", "long_word", "no_terminal_punct", "ellipsis",
    "few_words", "javascript", "policy", "sentences",
)  # fmt: skip
FINEWEB_QUALITY_COLUMNS = (
    "n_lines", "n_punct_lines", "n_short_lines", "dup_line_chars", "n_chars", "n_newlines", "n_words",
)  # fmt: skip

_KIND_GOPHER_QUALITY, _KIND_GOPHER_REPETITION, _KIND_C4, _KIND_FINEWEB_QUALITY = 1, 2, 3, 4


def _encode_lists(lists: list) -> tuple[bytes, np.ndarray]:
    """The `lists` buffer and `list_counts` of lm_textstats. An item holding a newline can never
    match inside one line, so it is left out (callers pass char sets as separate lists)."""
    items: list[bytes] = []
    counts = []
    for lst in lists:
        keep = [s for s in lst if "\n" not in s]
        items += [s.encode("utf-8", errors="surrogatepass") + b"\n" for s in keep]
        counts.append(len(keep))
    return b"".join(items), np.asarray(counts, dtype=np.uint32)


def _textstats(kind: int, texts: Any, lists: list, params: list[int], n_cols: int, threads: int, want_text: bool = False):
    threads = _threads(threads)
    chunks = _text_chunks(texts, errors="surrogatepass")
    n = sum(len(c) for c in chunks)
    out = np.zeros((n, n_cols), dtype=np.int64)
    kept: list[str | None] | None = [None] * n if want_text else None
    lists_buf, counts = _encode_lists(lists)
    par = np.asarray(params, dtype=np.int64)
    lists_ptr = ffi.from_buffer("uint8_t[]", lists_buf) if lists_buf else ffi.NULL
    counts_ptr = ffi.cast("uint32_t *", counts.ctypes.data) if counts.size else ffi.NULL
    par_ptr = ffi.cast("int64_t *", par.ctypes.data) if par.size else ffi.NULL
    row = 0
    null_rows = []
    for chunk in chunks:
        m = len(chunk)
        if m == 0:
            continue
        off_ptr, data_ptr = _buffers(chunk)
        text_len = text_buf = None
        if want_text:
            offs = np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=m + 1, offset=chunk.offset * 8)
            text_len = np.empty(m, dtype=np.int64)
            text_buf = np.empty(max(int(offs[-1] - offs[0]), 1), dtype=np.uint8)
        code = lib.lm_textstats(
            kind, off_ptr, data_ptr, m, lists_ptr, len(lists_buf), counts_ptr, len(counts), par_ptr, len(par),
            threads, ffi.cast("int64_t *", out.ctypes.data) + row * n_cols, n_cols,
            ffi.cast("int64_t *", text_len.ctypes.data) if want_text else ffi.NULL,
            ffi.cast("uint8_t *", text_buf.ctypes.data) if want_text else ffi.NULL,
        )  # fmt: skip
        _check(code, "lm_textstats")
        if want_text:
            for i in np.flatnonzero(text_len >= 0).tolist():
                start = int(offs[i] - offs[0])
                raw = text_buf[start : start + int(text_len[i])].tobytes()
                try:
                    kept[row + i] = raw.decode("utf-8", errors="surrogatepass")
                except UnicodeDecodeError:  # invalid UTF-8 from a foreign Arrow array
                    kept[row + i] = raw.decode("utf-8", errors="replace")
        if chunk.null_count:
            null_rows += (row + np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False))).tolist()
        row += m
    if null_rows:  # a null slot may cover bytes: give it the empty document's statistics
        empty = _textstats(kind, [""], lists, params, n_cols, 1, want_text)
        out[null_rows] = (empty[0] if want_text else empty)[0]
        for r in null_rows:
            if kept is not None:
                kept[r] = None
    return (out, kept) if want_text else out


def _char_list(chars) -> list[str]:
    return [ch for ch in "".join(chars) if ch != "\n"]


def gopher_quality_stats(
    texts: Any, *, stop_words=(), bullet_chars=None, closing_chars=None, threads: int = 0
) -> np.ndarray:
    """int64 (n, 10) in GOPHER_QUALITY_COLUMNS order. `stop_words` must already be normalised
    (`str.lower()`); an empty list gives n_stop_words = 0 (else the number of distinct ones). Bullets and closing characters
    default to those of langmill.filters.text."""
    from langmill.filters import text as T

    lists = [
        _char_list(T.BULLET_CHARS if bullet_chars is None else bullet_chars),
        _char_list(T.CLOSING_CHARS if closing_chars is None else closing_chars),
        [str(w) for w in stop_words],
    ]
    return _textstats(_KIND_GOPHER_QUALITY, texts, lists, [], len(GOPHER_QUALITY_COLUMNS), threads)


def gopher_repetition_stats(texts: Any, *, top_ns=(2, 3, 4), dup_ns=(5, 6, 7, 8, 9, 10), threads: int = 0) -> np.ndarray:
    """int64 (n, 7 + len(top_ns) + len(dup_ns)): GOPHER_REPETITION_COLUMNS, then
    count * len(" ".join(ngram)) of the most frequent token n-gram per top n, then the
    characters of repeated token n-grams per dup n (find_all_duplicate). Fractions divide by n_chars."""
    top = [_check_int("top n", x, 0, 2**31) for x in top_ns]
    dup = [_check_int("dup n", x, 0, 2**31) for x in dup_ns]
    n_cols = len(GOPHER_REPETITION_COLUMNS) + len(top) + len(dup)
    return _textstats(_KIND_GOPHER_REPETITION, texts, [], [len(top), *top, *dup], n_cols, threads)


def _floor_limit(x, none_value: int) -> int:
    if x is None:
        return none_value
    return max(min(math.floor(x), 2**62), -(2**62))


def c4_stats(
    texts: Any,
    *,
    terminal_punctuation=None,
    closing_chars=None,
    javascript_substrings=(),
    policy_substrings=(),
    max_word_length=1000,
    remove_no_terminal_punct_lines: bool = True,
    remove_ellipsis_lines: bool = True,
    min_words_per_line=5,
    drop_lorem_ipsum: bool = True,
    drop_curly_bracket: bool = True,
    kept_text: bool = True,
    threads: int = 0,
):
    """int64 (n, 9) in C4_COLUMNS order, and (with kept_text) a list with, for each document
    whose lines were removed, its kept text (else None). Substrings must be lowercased already.
    lorem_ipsum / curly_bracket are 0 unless that whole-document rule fired (on a line the earlier
    rules kept, datatrove's order); then they hold the count in the whole text and the other
    columns are 0."""
    from langmill.filters import text as T

    terminal = list(T.TERMINAL_PUNCTUATION if terminal_punctuation is None else terminal_punctuation)
    lists = [
        terminal,
        _char_list(terminal),
        _char_list(T.CLOSING_CHARS if closing_chars is None else closing_chars),
        list(javascript_substrings),
        list(policy_substrings),
    ]
    params = [
        _floor_limit(max_word_length, 2**62),
        int(bool(remove_no_terminal_punct_lines)),
        int(bool(remove_ellipsis_lines)),
        -_floor_limit(None if min_words_per_line is None else -min_words_per_line, 0),  # ceil
        int(bool(drop_lorem_ipsum)),
        int(bool(drop_curly_bracket)),
    ]
    return _textstats(_KIND_C4, texts, lists, params, len(C4_COLUMNS), threads, want_text=kept_text)


def fineweb_quality_stats(texts: Any, *, terminal_punctuation=None, closing_chars=None, short_line_length=30, threads: int = 0) -> np.ndarray:
    """int64 (n, 7) in FINEWEB_QUALITY_COLUMNS order."""
    from langmill.filters import text as T

    terminal = list(T.TERMINAL_PUNCTUATION if terminal_punctuation is None else terminal_punctuation)
    lists = [terminal, _char_list(T.CLOSING_CHARS if closing_chars is None else closing_chars)]
    params = [_floor_limit(short_line_length, 2**62)]
    return _textstats(_KIND_FINEWEB_QUALITY, texts, lists, params, len(FINEWEB_QUALITY_COLUMNS), threads)
