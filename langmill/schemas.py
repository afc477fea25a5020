"""Arrow schemas of every shard kind langmill writes (see DESIGN.md, "Shard schemas")."""

import pyarrow as pa

CORPUS = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("source", pa.string()),
        ("url", pa.string()),  # the page's address (WARC-Target-URI); null for other inputs
        ("minhash_cluster_size", pa.int32()),
        ("pii_masked", pa.int32()),
        # Share of the document's characters in lines of another language (lid.foreign_lines: removed
        # under drop, still in the text under mark); null where lines were not classified.
        ("foreign_share", pa.float32()),
    ]
)

# Stage-1 shards carry what the dedup stage needs next to the text.
CORPUS_STAGED = pa.schema(
    [f for f in CORPUS if f.name != "minhash_cluster_size"]
    + [
        ("order", pa.uint64()),  # (input file index << 40) | row number: "first" for dedup
        ("n_words", pa.uint32()),
        ("text_hash", pa.int64()),  # 64-bit hashes stored as int64 (see MinhashSignatures)
        ("band_keys", pa.list_(pa.int64())),
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
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

# What QC measured on a kept translated row (summed or extreme over its messages).
TRANSLATION_QC = pa.struct(
    [(name, pa.int32()) for name in ("messages", "segments", "requests", "retried_segments", "artifacts_removed")]
    + [(name, pa.float32()) for name in ("min_lang_score", "min_length_ratio", "max_length_ratio")]
)

_TRANSLATED_META = [
    ("lang", pa.string()),
    ("source_lang", pa.string()),  # null on the source-language rows of --parallel
    ("source_format", pa.string()),  # messages, sharegpt, alpaca, dolly or preference
    ("source", pa.string()),  # FILE:LINE of the input row
    ("model", pa.string()),
    ("qc", TRANSLATION_QC),
]

TRANSLATED_SFT = pa.schema([("id", pa.string()), ("messages", MESSAGES), ("source_messages", MESSAGES), *_TRANSLATED_META])

TRANSLATED_PREFERENCE = pa.schema(
    [("id", pa.string())]
    + [(name, MESSAGES) for name in ("prompt", "chosen", "rejected", "source_prompt", "source_chosen", "source_rejected")]
    + _TRANSLATED_META
)

# A generated row that was dropped: the input row as JSON and what was translated of it.
TRANSLATED_EXCLUDED = pa.schema(
    [
        ("id", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("source", pa.string()),
        ("source_format", pa.string()),
        ("row", pa.string()),
        ("translation", pa.string()),
        ("lang", pa.string()),
    ]
)

# What `langmill qc` measured on a kept row (summed or extreme over its messages).
QC_RESULT = pa.struct(
    [(name, pa.int32()) for name in ("messages_checked", "artifacts_removed")]
    + [(name, pa.float32()) for name in ("min_lang_score", "min_length_ratio", "max_length_ratio")]
)


def _qc_kept(translated: pa.Schema) -> pa.Schema:
    """qc's kept rows: the translated row's columns, `qc` holding qc's own measurements, and
    `extra`: every other field of the input row, as one JSON object (null when there is none)."""
    fields = [pa.field("qc", QC_RESULT) if f.name == "qc" else f for f in translated]
    return pa.schema(fields + [("extra", pa.string())])


QC_SFT = _qc_kept(TRANSLATED_SFT)
QC_PREFERENCE = _qc_kept(TRANSLATED_PREFERENCE)

# A row qc dropped: the row as read (JSON) and where it was read (FILE:LINE of qc's input).
QC_EXCLUDED = pa.schema([f for f in TRANSLATED_EXCLUDED if f.name not in ("source_format", "translation")])

# A generated SFT row (langmill magpie, langmill synth): what `translate` and training read.
SYNTH_SFT = pa.schema(
    [
        ("id", pa.string()),
        ("messages", MESSAGES),
        ("lang", pa.string()),
        ("source", pa.string()),  # "magpie", or the source document's id (grounded synthesis)
        ("model", pa.string()),
        ("task", pa.string()),  # the task type asked for (grounded synthesis: qa, summarize, ...); null for Magpie
        ("generation", pa.string()),  # the generation settings, as JSON
    ]
)

# A generated row that was dropped: the conversation so far (JSON), and why.
SYNTH_EXCLUDED = pa.schema(
    [(name, pa.string()) for name in ("id", "reason", "detail", "messages", "lang", "source", "model")]
)
