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

# Stage-1 shards: the text and what dedup's clusters stage reads next to it (band keys: OUT/dedup/keys).
CORPUS_STAGED = pa.schema(
    [f for f in CORPUS if f.name != "minhash_cluster_size"]
    + [
        ("order", pa.uint64()),  # (input file index << 40) | row number: "first" for dedup
        ("n_words", pa.uint32()),
        ("text_hash", pa.int64()),  # 64-bit hashes stored as int64 (see MinhashSignatures)
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

# A preference pair langmill prefs made (TRL's conversational preference format, then what the
# pair was made of): scores 1-10 from the judge, `margin` = chosen_score - rejected_score,
# `rejected_issue` why the rejected answer was flawed (not in the target language, truncated, ...)
# or null when the judge scored it lower, `scores`/`models` of every completion of the prompt, and
# the head-to-head verdicts of --pairwise ("a": chosen better; one per order).
GENERATED_PREFERENCE = pa.schema(
    [("id", pa.string())]
    + [(name, MESSAGES) for name in ("prompt", "chosen", "rejected")]
    + [
        ("lang", pa.string()),
        ("chosen_score", pa.float32()),
        ("rejected_score", pa.float32()),
        ("margin", pa.float32()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("judge_model", pa.string()),
        ("rejected_issue", pa.string()),
        ("scores", pa.list_(pa.float32())),
        ("models", pa.list_(pa.string())),
        ("rationale", pa.struct([("chosen", pa.string()), ("rejected", pa.string())])),
        ("pairwise", pa.list_(pa.string())),
        ("category", pa.string()),
        ("source", pa.string()),  # FILE:LINE of the prompt's row
    ]
)

# Every completion langmill prefs judged (OUT/completions/): for reward models and re-ranking.
JUDGED_COMPLETION = pa.schema(
    [
        ("id", pa.string()),  # <prompt id>#<model index>-<sample>
        ("prompt_id", pa.string()),
        ("prompt", MESSAGES),
        ("completion", pa.string()),
        ("model", pa.string()),
        ("sample", pa.int32()),
        ("score", pa.float32()),  # null: the judge's output was unusable (judge_error)
        ("rationale", pa.string()),
        ("lang", pa.string()),  # the completion's language as fastText sees it
        ("lang_score", pa.float32()),
        ("issue", pa.string()),  # why it can only be rejected (lid, truncated, ...), or null
        ("issue_detail", pa.string()),
        ("judge_error", pa.string()),  # request_error, truncated, not_json, bad_fields
        ("judge_detail", pa.string()),
        ("judge_raw", pa.string()),  # the judge's output when it could not be used
        ("finish_reason", pa.string()),
        ("tokens", pa.int32()),
        ("seed", pa.int64()),
        ("source", pa.string()),
    ]
)

# A prompt that gave no pair (or a row that held no prompt): the prompt (JSON) or the raw row.
PREFERENCE_EXCLUDED = pa.schema([(name, pa.string()) for name in ("id", "reason", "detail", "source", "row", "lang")])

# One prompt's completions from one policy model, between the policy's stage and the judge's.
STAGED_COMPLETIONS = pa.schema(
    [("index", pa.int64())] + [(name, pa.string()) for name in ("id", "source", "prompt", "problem", "model", "completions")]
)

# A model's answers to benchmark prompts (langmill eval: OUT/answers/<side>/): SFT rows, so that
# they train, translate and load like any other; `error` when a request was refused part-way.
EVAL_ANSWERS = pa.schema([(name, MESSAGES if name == "messages" else pa.string()) for name in ("id", "messages", "model", "lang", "source", "error")])

_JUDGED = [("verdict_rationales", pa.list_(pa.string())), ("judge_model", pa.string()), ("source", pa.string())]

# One pairwise game of `langmill eval winrate`: the verdict per order ("a", "b", "tie"; in terms of
# the answers, the first judged with A shown first), their combination, and each answer's language.
WINRATE_GAME = pa.schema(
    [("id", pa.string()), ("category", pa.string()), ("turn", pa.int32()), ("verdict", pa.string()), ("orders", pa.list_(pa.string()))]
    + [(f"{side}_{name}", pa.string()) for side in ("a", "b") for name in ("model", "answer", "lang")]
    + [("a_in_lang", pa.bool_()), ("b_in_lang", pa.bool_())]
    + _JUDGED
)

# One graded turn of `langmill eval mtbench` (score 1-10, rationale; reference used for math,
# reasoning and coding when the question has one).
MTBENCH_GRADE = pa.schema(
    [("id", pa.string()), ("category", pa.string()), ("turn", pa.int32()), ("score", pa.float32()), ("rationale", pa.string()),
     ("model", pa.string()), ("answer", pa.string()), ("answer_lang", pa.string()), ("in_lang", pa.bool_()), ("reference_used", pa.bool_()),
     ("judge_model", pa.string()), ("source", pa.string())]
)

# One vote of `langmill arena` as exported (votes.csv / votes.parquet): what was shown, in which
# order, and what the participant chose ("left", "right", "tie", "both_bad"); `winner` is the
# preferred model, or "tie" / "both_bad"; `aspects` the answers to the campaign's --criteria
# questions as JSON ({"language": "left", "content": "tie"}).
ARENA_VOTE = pa.schema(
    [("vote_id", pa.int64()), ("voted_at", pa.string()), ("seconds", pa.float64()), ("participant", pa.string()), ("prompt_id", pa.string()),
     ("category", pa.string()), ("left_model", pa.string()), ("right_model", pa.string()), ("left_answer_id", pa.int64()),
     ("right_answer_id", pa.int64()), ("choice", pa.string()), ("winner", pa.string()), ("aspects", pa.string()), ("reason", pa.string())]
)

_ARENA_COUNTS = [("votes", pa.int32()), ("ties", pa.int32()), ("both_bad", pa.int32()), ("category", pa.string()), ("lang", pa.string())]

# A pair people preferred one answer of (`langmill arena results`: TRL conversational preference
# rows); `agreement` is the share of the pair's votes that chose `chosen`.
ARENA_PREFERENCE = pa.schema(
    [("id", pa.string())] + [(name, MESSAGES) for name in ("prompt", "chosen", "rejected")]
    + [("chosen_model", pa.string()), ("rejected_model", pa.string()), ("chosen_votes", pa.int32()), ("rejected_votes", pa.int32()),
       ("agreement", pa.float32())] + _ARENA_COUNTS
)

# A voted pair with no preference (ties, both bad, a split vote): both answers, counts and why.
ARENA_EXCLUDED = pa.schema(
    [("id", pa.string())] + [(name, MESSAGES) for name in ("prompt", "answer_a", "answer_b")]
    + [("model_a", pa.string()), ("model_b", pa.string()), ("a_votes", pa.int32()), ("b_votes", pa.int32())] + _ARENA_COUNTS
    + [("reason", pa.string()), ("detail", pa.string())]
)
