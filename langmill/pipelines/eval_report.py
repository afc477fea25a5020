"""What `langmill eval` adds to stats.json and report.html, and OUT/results.json (machine-readable).

winrate: win / tie / loss of A against B with 95 % intervals (games resampled by prompt), per
category, the flip rate and first-seat share of the both-order judgements (position bias), the
language fidelity of each side next to it, and the win rate with wrong-language answers counted
as losses. mtbench: the mean score 1-10 with its interval, per turn and per category, and the
model's language fidelity. Both: the judge's coverage (games judged, failures by kind).
"""

from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow.parquet as pq

from langmill.report import html_table, interval_chart
from langmill.run import Accounting, RunFolder, StageReport, shard_files


def _data(run: RunFolder) -> list[dict]:
    return [row for path in shard_files(run.data) for row in pq.read_table(path).to_pylist()]


def _judge_failures(run: RunFolder) -> dict[str, int]:
    """Judge failures by kind (not_json, truncated, ...), from the excluded games' details."""
    kinds: Counter = Counter()
    for path in shard_files(run.excluded):
        table = pq.read_table(path, columns=["reason", "detail"]).to_pylist()
        for row in table:
            if row["reason"] == "judge_error":
                kinds.update(part.split(": ")[1] if part.startswith("order") else part.split(":")[0] for part in row["detail"].split("; "))
    return dict(kinds.most_common())


def _fidelity(texts: list[str], lang: str) -> dict:
    from langmill.evalstats import language_fidelity
    from langmill.filters.lid import LanguageFilter

    return language_fidelity(texts, lang, LanguageFilter(lang))


def _fidelity_table(fidelity: dict[str, dict]) -> str:
    rows = [[name, f["answers"], f["judged"], f["in_lang"], f"{f['share']:.3f}" if f["share"] is not None else "-",
             f"{f['wilson95'][0]:.3f}–{f['wilson95'][1]:.3f}" if f.get("wilson95") else "-", f["too_short"],
             ", ".join(f"{k} {v}" for k, v in list(f["other"].items())[:5]) or "-"] for name, f in fidelity.items()]
    return html_table(["model", "answers", "judged by LID", "in the language", "share", "95 % interval", "too short to tell", "other languages"], rows)


def _mean_len(texts: list[str]) -> float | None:
    return round(sum(map(len, texts)) / len(texts), 1) if texts else None


def _write_results(run: RunFolder, results: dict) -> None:
    tmp = os.path.join(run.path, ".results.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    os.replace(tmp, os.path.join(run.path, "results.json"))


def winrate_report(info: dict, seed: int, run: RunFolder, counts: Accounting) -> StageReport:
    from langmill.evalstats import winrate_summary

    rows = _data(run)
    games = [{"id": r["source"], "category": r["category"], "turn": r["turn"], "orders": r["orders"], "a_in_lang": r["a_in_lang"],
              "b_in_lang": r["b_in_lang"]} for r in rows]
    summary = winrate_summary(games, False, seed)
    penalised = winrate_summary(games, True, seed)
    a, b = info["sides"]
    fidelity = {a: _fidelity([r["a_answer"] for r in rows], info["lang"]), b: _fidelity([r["b_answer"] for r in rows], info["lang"])}
    decisive = [r for r in rows if r["verdict"] in ("a", "b") and len(r["a_answer"]) != len(r["b_answer"])]
    longer_wins = sum((r["verdict"] == "a") == (len(r["a_answer"]) > len(r["b_answer"])) for r in decisive)
    length = {"mean_chars": {a: _mean_len([r["a_answer"] for r in rows]), b: _mean_len([r["b_answer"] for r in rows])},
              "longer_answer_wins": round(longer_wins / len(decisive), 3) if decisive else None, "decisive_games": len(decisive)}
    coverage = {"games": counts.rows_in, "judged": len(rows), "excluded": counts.excluded_by_reason, "judge_failures": _judge_failures(run)}
    headline = penalised if info["wrong_language_loss"] else summary
    results = {"kind": "winrate", "lang": info["lang"], "a": a, "b": b, "judge": info["judge_model"], "both_orders": info["both_orders"],
               "wrong_language_loss": info["wrong_language_loss"], "win_rate": headline["win_rate"], "ci95": headline["ci95"],
               "summary": summary, "with_wrong_language_as_loss": penalised, "language_fidelity": fidelity, "length": length, "coverage": coverage}
    _write_results(run, results)

    def fmt(s: dict) -> str:
        return f"{s['win_rate']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]" if s["win_rate"] is not None else "-"

    table = [
        ["win rate of A (ties half), 95 % interval", fmt(summary)],
        ["… with wrong-language answers as losses", fmt(penalised)],
        ["A wins / ties / B wins", f"{summary['a_wins']} / {summary['ties']} / {summary['b_wins']}"],
        ["verdicts that flip when the answers swap seats", f"{summary['flip_rate']:.3f}" if summary["flip_rate"] is not None else "- (one order)"],
        ["share of verdicts for the first seat", f"{summary['first_seat_wins']:.3f}" if summary["first_seat_wins"] is not None else "-"],
        ["the longer answer wins (decisive games; characters)", f"{length['longer_answer_wins']:.3f}" if decisive else "-"],
        [f"answers in {info['lang']}: A / B", " / ".join(f"{f['share']:.3f}" if f["share"] is not None else "-" for f in fidelity.values())],
    ]
    chart = [("all", summary["win_rate"], summary["ci95"])]
    chart += [(category, c["win_rate"], c["ci95"]) for category, c in summary["per_category"].items()]
    per_category = [[c, v["games"], v["a_wins"], v["ties"], v["b_wins"], f"{v['win_rate']:.3f}" if v["win_rate"] is not None else "-"]
                    for c, v in summary["per_category"].items()]
    sections = [
        (f"Win rate of {a} against {b} (95 % intervals; dashed: 0.5)", interval_chart(chart)),
        ("Per category", html_table(["category", "games", "A wins", "ties", "B wins", "win rate"], per_category)),
        ("Language fidelity (fastText; code and URLs left out)", _fidelity_table(fidelity)),
    ]
    return StageReport({"results": results}, table, sections)


def mtbench_report(info: dict, seed: int, run: RunFolder, counts: Accounting) -> StageReport:
    from langmill.evalstats import mtbench_summary

    rows = _data(run)
    grades = [{"id": r["source"], "category": r["category"], "turn": r["turn"], "score": r["score"]} for r in rows]
    failures = counts.excluded_by_reason.get("judge_error", 0)
    summary = mtbench_summary(grades, seed)
    model = info["sides"][0]
    fidelity = {model: _fidelity([r["answer"] for r in rows], info["lang"])}
    coverage = {"grades": counts.rows_in, "graded": len(rows), "excluded": counts.excluded_by_reason, "judge_failures": _judge_failures(run)}
    results = {"kind": "mtbench", "lang": info["lang"], "model": model, "judge": info["judge_model"], "score": summary["score"], "ci95": summary["ci95"],
               "summary": summary, "language_fidelity": fidelity, "coverage": coverage}
    _write_results(run, results)
    turn = summary["per_turn"]
    table = [
        ["MT-Bench score (1-10, both turns), 95 % interval", f"{summary['score']:.2f} [{summary['ci95'][0]:.2f}, {summary['ci95'][1]:.2f}]"
         if summary["score"] is not None else "-"],
        ["turn 1 / turn 2", " / ".join(f"{turn[t]['score']:.2f}" if t in turn and turn[t]["score"] is not None else "-" for t in ("1", "2"))],
        ["judge failures", failures],
        [f"answers in {info['lang']}", f"{fidelity[model]['share']:.3f}" if fidelity[model]["share"] is not None else "-"],
    ]
    chart = [(category, c["score"], c["ci95"]) for category, c in summary["per_category"].items()]
    per_category = [[c, v["graded"], v["turn_1"] if v["turn_1"] is not None else "-", v["turn_2"] if v["turn_2"] is not None else "-",
                     f"{v['score']:.2f}" if v["score"] is not None else "-"] for c, v in summary["per_category"].items()]
    sections = [
        ("Score per category (95 % intervals)", interval_chart(chart, top=10.0, mark=None)),
        ("Per category and turn", html_table(["category", "graded", "turn 1", "turn 2", "both"], per_category)),
        ("Language fidelity (fastText; code and URLs left out)", _fidelity_table(fidelity)),
    ]
    return StageReport({"results": results}, table, sections)


def eval_report(kind: str, info: dict, seed: int, run: RunFolder, counts: Accounting, steps: dict) -> StageReport:
    return (winrate_report if kind == "winrate" else mtbench_report)(info, seed, run, counts)
