"""What `langmill prefs` adds to stats.json and report.html: read from data/ and completions/.

- per policy model: completions, clean ones, share in the target language, mean judge score, how
  often it gave the chosen and the rejected answer;
- judge coverage: judgements asked, parsed, failures by kind (never silent);
- the wrong-language trap: the judge's mean score of completions in the target language and in
  other languages (a judge that rates English answers well would teach the wrong thing);
- why rejected answers were rejected (a flaw, or a lower score), score margins;
- length bias: tokens of chosen minus rejected (tokens, not words: word counts do not compare
  across languages), and how often the chosen answer is the longer one.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pyarrow.parquet as pq

from langmill.report import bars, html_table
from langmill.run import Accounting, RunFolder, StageReport, shard_files


def _rows(folder: str, columns: list[str]) -> list[dict]:
    return [row for path in shard_files(folder) for row in pq.read_table(path, columns=columns).to_pylist()]


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 2) if values else None


def per_model(completions: list[dict], pairs: list[dict], lang: str) -> dict[str, dict]:
    table: dict[str, dict] = {}
    by_model = defaultdict(list)
    for c in completions:
        by_model[c["model"]].append(c)
    chosen = Counter(p["chosen_model"] for p in pairs)
    rejected = Counter(p["rejected_model"] for p in pairs)
    for model, rows in by_model.items():
        answered = [c for c in rows if c["completion"] is not None]
        table[model] = {
            "completions": len(rows),
            "clean": sum(1 for c in answered if not c["issue"]),
            "in_language": round(sum(1 for c in answered if c["lang"] == lang) / len(answered), 3) if answered else None,
            "mean_score": _mean([c["score"] for c in rows]),
            "chosen": chosen.get(model, 0),
            "rejected": rejected.get(model, 0),
            "issues": dict(Counter(c["issue"] for c in rows if c["issue"]).most_common()),
        }
    return table


def prefs_report(info: dict, run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    """`info`: the run's job_info (lang, models, judge_shares_family_with, ...)."""
    lang = info["lang"]
    completions = _rows(os.path.join(run.path, "completions"), ["model", "completion", "score", "lang", "issue", "judge_error", "tokens"])
    pairs = _rows(run.data, ["chosen_model", "rejected_model", "chosen_score", "rejected_score", "margin", "rejected_issue", "pairwise",
                             "chosen", "rejected", "source", "lang"])
    asked = [c for c in completions if c["completion"] is not None]
    failures = Counter(c["judge_error"] for c in asked if c["judge_error"])
    models = per_model(completions, pairs, lang)
    tokens = {(c["model"], c["completion"]): c["tokens"] for c in completions if c["completion"] is not None}
    gaps = []
    for p in pairs:
        a = tokens.get((p["chosen_model"], p["chosen"][0]["content"]))
        b = tokens.get((p["rejected_model"], p["rejected"][0]["content"]))
        if a is not None and b is not None:
            gaps.append(a - b)
    margins = Counter("flawed rejected" if p["rejected_issue"] else f"{p['margin']:g}" for p in pairs)
    in_lang = [c["score"] for c in asked if c["lang"] == lang]
    other = [c["score"] for c in asked if c["lang"] != lang]
    stats = {
        "pairs": len(pairs),
        "prompts_with_pairs": len({p["source"] for p in pairs}),
        "per_model": models,
        "judge_coverage": {"judged": len(asked), "parsed": sum(1 for c in asked if c["score"] is not None), "failures": dict(failures.most_common())},
        "mean_score_by_language": {"target": _mean(in_lang), "other": _mean(other), "target_n": len(in_lang), "other_n": len(other)},
        "rejected_because": dict(Counter(p["rejected_issue"] or "scored lower" for p in pairs).most_common()),
        "margins": dict(sorted(margins.items())),
        "length_tokens": {"mean_chosen_minus_rejected": _mean(gaps), "chosen_longer_share": round(sum(g > 0 for g in gaps) / len(gaps), 3) if gaps else None},
        "pairwise_confirmed": sum(1 for p in pairs if p["pairwise"]),
    }
    coverage = stats["judge_coverage"]
    summary = [
        ["pairs (prompts with a pair)", f"{len(pairs):,} ({stats['prompts_with_pairs']:,})"],
        ["judge outputs parsed", f"{coverage['parsed']:,} of {coverage['judged']:,}" + (f" (failed: {', '.join(f'{k} {v}' for k, v in failures.items())})" if failures else "")],
        ["mean judge score: in the target language / other languages",
         f"{stats['mean_score_by_language']['target'] or '-'} ({len(in_lang)}) / {stats['mean_score_by_language']['other'] or '-'} ({len(other)})"],
        ["chosen minus rejected, tokens (mean); chosen is longer", f"{stats['length_tokens']['mean_chosen_minus_rejected'] or '-'}; "
                                                                   f"{stats['length_tokens']['chosen_longer_share'] if gaps else '-'}"],
    ]
    family = info.get("judge_shares_family_with")
    model_rows = [[m, v["completions"], v["clean"], v["in_language"], v["mean_score"], v["chosen"], v["rejected"],
                   ", ".join(f"{k} {n}" for k, n in v["issues"].items()) or "-"] for m, v in models.items()]
    sections = [
        ("Policy models", html_table(["model", "completions", "clean", f"share in {lang}", "mean score", "chosen", "rejected", "issues"], model_rows)),
        ("Why the rejected answer was rejected", bars(list(stats["rejected_because"].items()), "#d8603b")),
        ("Score margin of chosen over rejected", bars(list(stats["margins"].items()))),
    ]
    if family:
        summary.append(["warning", f"the judge shares a model family with {', '.join(family)}: it may favour its own family's answers"])
    return StageReport(stats, summary, sections)
