"""Arrow schemas of every shard kind langmill writes (see DESIGN.md, "Shard schemas")."""

import pyarrow as pa

CORPUS = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("source", pa.string()),
        ("minhash_cluster_size", pa.int32()),
        ("pii_masked", pa.int32()),
    ]
)

# Stage-1 shards carry what the dedup stage needs next to the text.
CORPUS_STAGED = pa.schema(
    [f for f in CORPUS if f.name != "minhash_cluster_size"]
    + [
        ("order", pa.uint64()),  # (input file index << 40) | row number: "first" for dedup
        ("n_words", pa.uint32()),
        ("text_hash", pa.uint64()),
        ("band_keys", pa.list_(pa.uint64())),
    ]
)

# Every dropped row: what we knew of it, and why it was dropped.
EXCLUDED = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)
