"""The C boundary on the Python side: one module per kernel family of the Rust core (`src/`).

    _abi.py       the only importer of `langmill._native` (cffi): error codes, text inputs as
                  Arrow large_string buffers, thread count, integer checks
    dedup.py      MinHash/LSH signatures, band keys, exact-dup hashes, clustering (of band keys, and
                  union-find over edges given in batches), a dedup bucket's edges, XXH64
    normalization.py  whitespace/control normalisation and PII hint flags
    textstats.py  quality-filter statistics (Gopher, C4, FineWeb) and the text-unit definitions
                  (word, line, sentence, token) they count

Everything public is re-exported here: ``from langmill import native; native.minhash(...)``.
"""

from langmill.native._abi import NativeError
from langmill.native.dedup import MinhashResult, cluster, minhash, minhash_signatures, group_edges, union_edges, union_roots, xxh64
from langmill.native.normalization import HINT_AT, HINT_IPV4, HINT_IPV6, HINT_MOJIBAKE, hints, normalize
from langmill.native.textstats import (
    C4_COLUMNS,
    FINEWEB_QUALITY_COLUMNS,
    GOPHER_QUALITY_COLUMNS,
    GOPHER_REPETITION_COLUMNS,
    c4_stats,
    fineweb_quality_stats,
    gopher_quality_stats,
    gopher_repetition_stats,
)

__all__ = [
    "C4_COLUMNS", "FINEWEB_QUALITY_COLUMNS", "GOPHER_QUALITY_COLUMNS", "GOPHER_REPETITION_COLUMNS",
    "HINT_AT", "HINT_IPV4", "HINT_IPV6", "HINT_MOJIBAKE",
    "MinhashResult", "NativeError", "c4_stats", "cluster", "fineweb_quality_stats", "gopher_quality_stats",
    "gopher_repetition_stats", "hints", "group_edges", "minhash", "minhash_signatures", "normalize", "union_edges", "union_roots", "xxh64",
]  # fmt: skip
