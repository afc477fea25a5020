"""What `langmill magpie` and `langmill synth` share: the stages after generation, and the report.

  generate  (N tasks)  the command's reader -> GenerationRunner (vLLM or an endpoint) with the
                       command's rollout -> OUT/work/staged/<task>_chunk_<k>.parquet (kept rows,
                       SYNTH_SFT) + OUT/excluded/<task>_chunk_<k>.parquet (reason, detail).
                       Answered requests and finished rows are checkpointed in
                       OUT/logs/generate/checkpoints/: a killed run resumes there.
  dedup     (1 task)   exact and near-duplicate instructions across the whole run (MinHash on the
                       Rust core) -> OUT/data/<task>_chunk_<k>.parquet + OUT/excluded/dup-*.parquet
  report    (1 task)   OUT/stats.json + OUT/report.html, counted from the shards (langmill.run)

A rollout returns one result (Magpie: one conversation per slot) or a list of them (grounded
synthesis: K pairs per chunk). A result is {"status": "kept", "messages": [...]} or {"status":
"excluded", "reason": ..., "detail": ...}, with optional "id", "source" and "task".
"""

from __future__ import annotations

import json
import os
from functools import partial

import pyarrow.parquet as pq

from langmill import schemas
from langmill.filters.dedup import CLUSTERS_FILE, InstructionDedup, first_instruction
from langmill.generators.engine import GenerationRunner
from langmill.report import bars, html_table
from langmill.run import Accounting, RunFolder, StageReport, WriteReport, shard_files, step_stats
from langmill.shards import RowShards
from langmill.synth_checks import SYNTH_REASONS

STAGES = ("generate", "dedup", "report")
# Where each reason is decided: the source row (synth), the request, the pair's checks, dedup.
REASONS = ("bad_row", "source_too_short", "source_lid", "generation_error", "bad_json", *SYNTH_REASONS, "unsupported", "context_reference",
           "exact_dup", "near_dup")
RECORDS_PER_CHUNK = 500
STAGED = os.path.join("work", "staged")
SHARD_SCHEMAS = {"data": schemas.SYNTH_SFT, "excluded": schemas.SYNTH_EXCLUDED}


def generated_rows(job_info: dict, document) -> list[tuple[str, dict]]:
    """The shard rows of one document's results: (STAGED, row) for kept ones, ("excluded", row)
    for the others. A document expects `metadata["rows"]` results (1 by default); missing ones
    (a rollout that failed as a whole) are excluded as generation_error, so rows in = kept + excluded."""
    found = (document.metadata.get("rollout_results") or [None])[0]
    results = found if isinstance(found, list) else [found] if found else []
    expected = int(document.metadata.get("rows", 1))
    results += [{"status": "excluded", "reason": "generation_error", "detail": "no result"}] * (expected - len(results))
    out = []
    for k, result in enumerate(results):
        row = {"id": result.get("id") or (document.id if expected == 1 else f"{document.id}-{k}"), "lang": job_info["lang"],
               "source": result.get("source") or job_info["source"], "model": job_info["model"]}
        if result["status"] == "kept":
            out.append((STAGED, {**row, "messages": result["messages"], "task": result.get("task"), "generation": job_info["generation"]}))
        else:
            messages = result.get("messages")
            out.append(("excluded", {**row, "reason": result.get("reason") or "generation_error", "detail": result.get("detail") or "",
                                     "messages": json.dumps(messages, ensure_ascii=False) if messages else None}))
    return out


def generate_pipeline(reader, rollout, job, info: dict) -> list:
    """The generate stage: `reader` (documents with metadata) then the rollout on the job's engine."""
    shards = RowShards(job.out, partial(generated_rows, info), {STAGED: schemas.SYNTH_SFT, "excluded": schemas.SYNTH_EXCLUDED},
                       output_filename="${rank}_chunk_${chunk_index}")
    return [reader, GenerationRunner.for_stage(rollout, job.engine, shards, job.out, "generate", RECORDS_PER_CHUNK)]


def synthesis_executors(job, command: str, generate: list, info: dict, checks: dict) -> list[tuple[str, object]]:
    """generate -> dedup -> report, each stage starting when the previous one has finished; `checks`
    is the run's synth.yaml (its dedup section, and the LID word minimum for the report)."""
    from langmill.executors import chained_executors

    report = WriteReport(job.out, command, REASONS, STAGES[:2], f"langmill {command} report — {info['lang']}", info,
                         extra=partial(synthesis_report, info["lang"], checks["lid"]["min_words"]), schemas=SHARD_SCHEMAS)
    return chained_executors(job, [("generate", generate, job.tasks),
                                   ("dedup", [InstructionDedup(os.path.join(job.out, STAGED), job.out, checks["dedup"])], 1),
                                   ("report", [report], 1)])


# --- report ------------------------------------------------------------------------------------------

WORD_BINS = [0, 5, 10, 20, 50, 100, 200, 500]


def histogram(values: list[int]) -> list[tuple[str, int]]:
    edges = WORD_BINS + [float("inf")]
    return [(f"{lo}–{hi - 1}" if hi != float("inf") else f"≥ {lo}", sum(lo <= v < hi for v in values)) for lo, hi in zip(edges, edges[1:])]


def median(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def instruction_kind(text: str) -> str:
    """A rough type of a Magpie instruction (grounded rows carry the task they were asked for)."""
    text = text.strip()
    if "\n" in text:
        return "request with text"
    return "question" if text.endswith("?") else "request"


def _kept_rows(run: RunFolder):
    for path in shard_files(run.data):
        yield from pq.read_table(path, columns=["messages", "task"]).to_pylist()


def _excluded_instructions(run: RunFolder):
    """The first instruction of every excluded row that got one (not of source rows or failed requests)."""
    for path in shard_files(run.excluded):
        for text in pq.read_table(path, columns=["messages"]).column("messages").to_pylist():
            instruction = first_instruction(json.loads(text)) if text else ""
            if instruction:
                yield instruction


def language_mix(lang: str, instructions: list[str], min_words: int) -> dict[str, int]:
    """The language of every generated instruction as fastText sees it (kept and excluded): does
    the system prompt steer the model into the target language?"""
    from langmill.filters.lid import LanguageFilter

    lid, counts = LanguageFilter(lang), {}
    for text in instructions:
        label = lid.predict(text)[0] if len(text.split()) >= min_words else "too short to tell"
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def synthesis_report(lang: str, lid_min_words: int, run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    """Languages, instruction types, lengths, duplicate clusters, and the generation's throughput."""
    instructions, answers, kinds, firsts = [], [], {}, []
    for row in _kept_rows(run):
        instructions += [len(m["content"].split()) for m in row["messages"] if m["role"] == "user"]
        answers += [len(m["content"].split()) for m in row["messages"] if m["role"] == "assistant"]
        firsts.append(first_instruction(row["messages"]))
        kind = row["task"] or instruction_kind(firsts[-1])
        kinds[kind] = kinds.get(kind, 0) + 1
    firsts += _excluded_instructions(run)
    languages = language_mix(lang, firsts, lid_min_words)
    clusters_path = os.path.join(run.path, STAGED, CLUSTERS_FILE)
    clusters = json.load(open(clusters_path)) if os.path.exists(clusters_path) else {"clusters": 0, "rows_in_clusters": 0, "largest": []}
    generation = step_stats(steps["generate"], "Generation")
    seconds = generation.get("requests_wall_s", 0)
    output_tokens = int(generation.get("completion_tokens", 0))
    stats = {
        "instruction_languages": languages,
        "instruction_types": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "instruction_words": {"median": median(instructions), "histogram": dict(histogram(instructions))},
        "answer_words": {"median": median(answers), "histogram": dict(histogram(answers))},
        "duplicate_clusters": clusters,
        "requests_sent": int(generation.get("successful_requests", 0)),
        "output_tokens": output_tokens,
        "output_tokens_per_s": round(output_tokens / seconds, 1) if seconds else None,
    }
    summary = [
        ["median words: instruction / answer", f"{stats['instruction_words']['median'] or '-'} / {stats['answer_words']['median'] or '-'}"],
        [f"instructions in {lang} (kept and excluded)", f"{languages.get(lang, 0):,} of {len(firsts):,}"],
        ["duplicate clusters (rows in them)", f"{clusters['clusters']:,} ({clusters['rows_in_clusters']:,})"],
        ["requests sent (this run; cached ones not counted)", stats["requests_sent"]],
        ["output tokens / s (first request to last answer)", stats["output_tokens_per_s"] or "-"],
    ]
    cluster_rows = [[c["size"], c["instruction"][:160], " ‖ ".join(d[:160] for d in c["duplicates"])] for c in clusters["largest"]]
    sections = [
        ("Language of every generated instruction (fastText)", bars(list(languages.items())[:15])),
        ("Instruction types (kept)", bars(list(stats["instruction_types"].items()), "#3ba55d")),
        ("Words per kept instruction", bars(histogram(instructions))),
        ("Words per kept answer", bars(histogram(answers))),
        ("Largest clusters of duplicate instructions", html_table(["rows", "kept instruction", "dropped as duplicates (first 3)"], cluster_rows)
         if cluster_rows else "<p>none</p>"),
    ]
    return StageReport(stats, summary, sections)
