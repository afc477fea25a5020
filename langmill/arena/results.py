"""`langmill arena results`: the votes -> ratings, agreement, a report and a preference dataset.

    store (votes)  -> votes_table        every vote as shown (votes.csv, votes.parquet)
                   -> summarise          Bradley–Terry and Elo ratings with bootstrap 95 % intervals,
                                         the win-rate matrix, ties, votes per participant, agreement
                                         between people on pairs several of them judged, and with
                                         `langmill eval winrate` judges on the same pairs
                   -> preference_rows    per voted pair: TRL preference rows where people preferred
                                         one answer (OUT/data/), the others with a reason (OUT/excluded/)
    OUT/results.json, OUT/stats.json, OUT/report.html, logs/job.json: a langmill output folder that
    `langmill publish` takes as it takes any other.

Tie policy: "tie" and "both bad" are both no preference; ratings count them as half a win for
each side (Chatbot Arena's convention), agreement treats them as one label "tie".
"""

from __future__ import annotations

import glob
import html
import json
import os
import statistics
import time
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.parquet as pq

from langmill import schemas
from langmill.arena import ratings
from langmill.evalstats import wilson_interval
from langmill.report import html_table, interval_chart
from langmill.shards import write_parquet_atomic

OUTCOME = {"left": 1.0, "right": 0.0, "tie": 0.5, "both_bad": 0.5}
REASONS = ("both_bad", "tie", "split")


class ResultsError(Exception):
    """Input the user can fix; the message is one line."""


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def winner(row: dict) -> str:
    return {"left": row["left_model"], "right": row["right_model"]}.get(row["choice"], row["choice"])


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """The table for a CSV that people open in a spreadsheet: a text cell that would start a formula
    (=, +, -, @; a participant's reason could be `=HYPERLINK(...)`) gets a leading apostrophe."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            column = pa.array([("'" + v) if isinstance(v, str) and v.startswith(FORMULA_START) else v for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def votes_table(store, rows: list[dict] | None = None) -> pa.Table:
    """Every vote as shown; `rows`: the store's vote rows when the caller has read them already."""
    rows = [{"vote_id": r["id"], "voted_at": _iso(r["voted_at"]), "seconds": r["seconds"], "participant": r["participant"],
             "prompt_id": r["prompt_key"], "category": r["category"], "left_model": r["left_model"], "right_model": r["right_model"],
             "left_answer_id": r["left_answer"], "right_answer_id": r["right_answer"], "choice": r["choice"], "winner": winner(r),
             "aspects": json.dumps(r["aspects"], ensure_ascii=False) if r["aspects"] else None, "reason": r["reason"]}
            for r in (store.vote_rows() if rows is None else rows)]
    return pa.Table.from_pylist(rows, schema=schemas.ARENA_VOTE)


def pair_key(prompt_id: str, x: str, y: str) -> tuple[str, str, str]:
    return (prompt_id, *sorted((x, y)))


def label(row: dict) -> str:
    """The vote in terms of the pair's models in name order: "a", "b" or "tie"."""
    preferred = winner(row)
    if preferred in ("tie", "both_bad"):
        return "tie"
    return "a" if preferred == min(row["left_model"], row["right_model"]) else "b"


def several_votes(rows: list[dict], labelled) -> list[list[str]]:
    """The labels of each pair that two people or more voted on: the units of agreement statistics."""
    units: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        units[pair_key(r["prompt_key"], r["left_model"], r["right_model"])].append(labelled(r))
    return [u for u in units.values() if len(u) >= 2]


# --- LLM judges ---------------------------------------------------------------------------------------


def read_judgements(folders: list[str]) -> dict[str, dict[tuple, dict]]:
    """{judge: {(prompt id, model, model): {"label", "category"}}} from `langmill eval winrate`
    output folders (their data/ shards); each judge (its `judge_model`) is compared with people on
    its own."""
    found: dict[str, dict[tuple, dict]] = {}
    for folder in folders:
        files = sorted(glob.glob(os.path.join(folder, "data", "*.parquet")))
        if not files:
            raise ResultsError(f"--judge {folder}: no data/*.parquet (a `langmill eval winrate` output folder is expected)")
        table = pa.concat_tables([pq.read_table(f) for f in files])
        missing = {"id", "verdict", "a_model", "b_model"} - set(table.column_names)
        if missing:
            raise ResultsError(f"--judge {folder}: not `langmill eval winrate` judgements (no {', '.join(sorted(missing))} column)")
        for row in table.to_pylist():
            if row["verdict"] not in ("a", "b", "tie"):
                continue
            key = pair_key(str(row["id"]), row["a_model"], row["b_model"])
            said = row["verdict"] if row["verdict"] == "tie" or row["a_model"] <= row["b_model"] else {"a": "b", "b": "a"}[row["verdict"]]
            judge = row.get("judge_model") or os.path.basename(os.path.normpath(folder))
            found.setdefault(judge, {})[key] = {"label": said, "category": row.get("category")}
    return found


def judge_agreement(rows: list[dict], judged: dict[tuple, dict]) -> dict:
    """Per human vote on a pair the judge also judged: agreement (%) and Cohen's kappa, overall and
    per category; also without ties (votes where both the person and the judge chose a side)."""
    by_category: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        found = judged.get(pair_key(row["prompt_key"], row["left_model"], row["right_model"]))
        if found is None:
            continue
        both = (found["label"], label(row))
        by_category["all"].append(both)
        by_category[row.get("category") or found.get("category") or "(none)"].append(both)

    def measure(both: list[tuple[str, str]]) -> dict:
        decisive = [(j, h) for j, h in both if j != "tie" and h != "tie"]
        agreed = sum(j == h for j, h in both)
        return {"votes": len(both), "agreement": agreed / len(both) if both else None,
                "agreement_ci": list(wilson_interval(agreed, len(both))) if both else None,
                "kappa": ratings.cohen_kappa(both), "votes_without_ties": len(decisive),
                "agreement_without_ties": sum(j == h for j, h in decisive) / len(decisive) if decisive else None}

    return {category: measure(both) for category, both in sorted(by_category.items(), key=lambda kv: (kv[0] != "all", kv[0]))}


# --- the numbers --------------------------------------------------------------------------------------


def summarise(rows: list[dict], rounds: int = 1000, seed: int = 0, min_seconds: float = 0.0, judged: dict | None = None) -> dict:
    """results.json: everything the report shows, from the vote rows of `Store.vote_rows`."""
    used = [r for r in rows if r["seconds"] >= min_seconds]
    votes = [(r["left_model"], r["right_model"], OUTCOME[r["choice"]]) for r in used]
    choices = Counter(r["choice"] for r in used)
    out: dict = {"votes": len(rows), "votes_rated": len(used), "votes_too_fast": len(rows) - len(used), "min_seconds": min_seconds,
                 "choices": dict(choices), "participants": len({r["participant"] for r in rows}), "bootstrap_rounds": rounds, "seed": seed}
    models = sorted({m for a, b, _ in votes for m in (a, b)})
    out["ratings"], out["rating_problem"] = [], None
    if votes:
        try:
            bt, elo = ratings.bradley_terry(votes, models), ratings.elo(votes)
            intervals = ratings.bootstrap(votes, rounds=rounds, seed=seed) if rounds else {"bt": {}, "elo": {}}
            played = Counter(m for a, b, _ in votes for m in (a, b))
            out["ratings"] = sorted(({"model": m, "bt": bt[m], "bt_ci": intervals["bt"].get(m), "elo": elo[m], "elo_ci": intervals["elo"].get(m),
                                      "votes": played[m]} for m in models if bt.get(m) is not None), key=lambda r: -r["bt"])
        except ValueError as err:  # models never compared with each other: no common scale
            out["rating_problem"] = str(err)
    out["win_matrix"] = ratings.win_matrix(votes)
    per_pair: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in used:
        a, b = sorted((r["left_model"], r["right_model"]))
        per_pair[a, b][{"a": a, "b": b}.get(label(r), r["choice"])] += 1
    out["model_pairs"] = [{"model_a": a, "model_b": b, "votes": sum(c.values()), "a_wins": c[a], "b_wins": c[b], "ties": c["tie"],
                           "both_bad": c["both_bad"]} for (a, b), c in sorted(per_pair.items())]
    per_person: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per_person[r["participant"]].append(r)
    out["per_participant"] = sorted(({"participant": p, "votes": len(v), "median_seconds": statistics.median(x["seconds"] for x in v),
                                      "ties": sum(x["choice"] == "tie" for x in v), "both_bad": sum(x["choice"] == "both_bad" for x in v),
                                      "left": sum(x["choice"] == "left" for x in v), "reasons": sum(bool(x["reason"]) for x in v)}
                                     for p, v in per_person.items()), key=lambda r: -r["votes"])
    shared = several_votes(used, label)
    out["human_agreement"] = {"pairs_with_several_votes": len(shared), "votes_on_them": sum(map(len, shared)),
                              "percent_agreement": ratings.percent_agreement(shared), "krippendorff_alpha": ratings.krippendorff_alpha(shared)}
    out["criteria"] = criteria_summary(used)
    if judged is not None:
        out["judges"] = {judge: {"pairs_judged": len(pairs), "judged_models": sorted({m for _, a, b in pairs for m in (a, b)}),
                                 "by_category": judge_agreement(used, pairs)} for judge, pairs in judged.items()}
    return out


def criteria_summary(used: list[dict]) -> dict:
    """Per --criteria question: its votes, Bradley–Terry ratings (no intervals: the overall ratings
    have them), how often it agrees with the overall vote, and agreement between people."""
    found: dict[str, dict] = {}
    for name in sorted({k for r in used for k in r.get("aspects") or {}}):
        rows = [r for r in used if name in (r.get("aspects") or {})]
        votes = [(r["left_model"], r["right_model"], OUTCOME[r["aspects"][name]]) for r in rows]
        try:
            bt = ratings.bradley_terry(votes)
            problem = None
        except ValueError as err:
            bt, problem = {}, str(err)
        same = sum(r["aspects"][name] == ("tie" if r["choice"] == "both_bad" else r["choice"]) for r in rows)
        shared = several_votes(rows, lambda r: label({**r, "choice": r["aspects"][name]}))
        found[name] = {"votes": len(rows), "ratings": {m: v for m, v in bt.items() if v is not None}, "rating_problem": problem,
                       "same_as_overall": same / len(rows), "percent_agreement": ratings.percent_agreement(shared)}
    return found


# --- HTML --------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def matrix_chart(matrix: dict, models: list[str], cell: int = 46) -> str:
    """The win-rate matrix as an SVG heat map (row model's win rate against the column model)."""
    if len(models) < 2:
        return "<p><em>nothing to show</em></p>"
    label_w, top = 190, 150
    overhang = int(0.5 * 7 * max(map(len, models)))  # the rotated column labels reach right of the grid
    size_w, size_h = label_w + cell * len(models) + 10 + overhang, top + cell * len(models) + 10
    parts = [f'<svg width="{size_w}" height="{size_h}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for j, m in enumerate(models):
        x = label_w + j * cell + cell / 2
        parts.append(f'<text x="{x}" y="{top - 6}" font-size="12" transform="rotate(-45 {x} {top - 6})">{html.escape(m)}</text>')
    for i, a in enumerate(models):
        y = top + i * cell
        parts.append(f'<text x="{label_w - 6}" y="{y + cell / 2 + 4}" text-anchor="end" font-size="12">{html.escape(a)}</text>')
        for j, b in enumerate(models):
            found = matrix.get(a, {}).get(b)
            x = label_w + j * cell
            if a == b or not found:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="#eee"/>')
                continue
            rate = found["win_rate"]
            strength = min(1.0, abs(rate - 0.5) * 2)  # blue where the row model wins, red where it loses
            fill = (f"rgb({int(255 - 160 * strength)},{int(255 - 100 * strength)},255)" if rate >= 0.5
                    else f"rgb(255,{int(255 - 130 * strength)},{int(255 - 160 * strength)})")
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"><title>{html.escape(a)} vs '
                         f'{html.escape(b)}: {found["wins"]} wins, {found["ties"]} ties, {found["losses"]} losses</title></rect>')
            parts.append(f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" text-anchor="middle" font-size="12">{rate:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sections(summary: dict) -> list[tuple[str, str]]:
    """(heading, HTML) of the results; every text from the data is escaped."""
    found = summary["ratings"]
    out = []
    if summary["rating_problem"]:
        out.append(("Ratings", f"<p>No ratings: {html.escape(summary['rating_problem'])}</p>"))
    elif found:
        low = min(min(r["bt"], *(r["bt_ci"] or [r["bt"]]), r["elo"], *(r["elo_ci"] or [r["elo"]])) for r in found)
        high = max(max(r["bt"], *(r["bt_ci"] or [r["bt"]]), r["elo"], *(r["elo_ci"] or [r["elo"]])) for r in found)
        low, high = 50 * int(low // 50), 50 * int(high // 50 + 1)
        table = html_table(["model", "Bradley–Terry", "95 % interval", "Elo", "95 % interval", "votes"],
                           [[r["model"], f"{r['bt']:.0f}", "—" if not r["bt_ci"] else f"{r['bt_ci'][0]:.0f} – {r['bt_ci'][1]:.0f}",
                             f"{r['elo']:.0f}", "—" if not r["elo_ci"] else f"{r['elo_ci'][0]:.0f} – {r['elo_ci'][1]:.0f}", r["votes"]] for r in found])
        note = (f"<p>Bradley–Terry maximum likelihood on the Elo scale (mean 1000; 400 points = 10:1 odds), ties and "
                f"“both bad” as half a win each, half a virtual tie on every compared pair (so that an unbeaten model stays finite); "
                f"Elo online with K = 32 in vote order. Intervals: {summary['bootstrap_rounds']:,} bootstrap resamples of the votes "
                f"(seed {summary['seed']}; for Elo in random order, as Chatbot Arena does).</p>")
        out.append(("Ratings", note + interval_chart([(r["model"], r["bt"], r["bt_ci"]) for r in found], top=high, low=low, mark=1000, digits=0)
                    + table))
    models = [r["model"] for r in found] or sorted({p["model_a"] for p in summary["model_pairs"]} | {p["model_b"] for p in summary["model_pairs"]})
    out.append(("Win rate of the row model against the column model", "<p>(wins + ties / 2) / votes; hover a cell for its counts.</p>"
                + matrix_chart(summary["win_matrix"], models)
                + html_table(["model A", "model B", "votes", "A preferred", "B preferred", "tie", "both bad"],
                             [[p["model_a"], p["model_b"], p["votes"], p["a_wins"], p["b_wins"], p["ties"], p["both_bad"]] for p in summary["model_pairs"]])))
    if summary.get("criteria"):
        names = list(summary["criteria"])
        table = html_table(["model", *names], [[m, *(f"{summary['criteria'][n]['ratings'][m]:.0f}" if m in summary["criteria"][n]["ratings"] else "—"
                                                      for n in names)] for m in models])
        counts = html_table(["question", "answers", "same as the overall vote", "agreement between people"],
                            [[n, c["votes"], _pct(c["same_as_overall"]), _pct(c["percent_agreement"])] for n, c in summary["criteria"].items()])
        out.append(("Ratings by criterion", "<p>Bradley–Terry ratings from the answers to each --criteria question (A / equal / B).</p>" + table + counts))
    people = summary["per_participant"]
    out.append(("Votes per participant", html_table(["participant", "votes", "median seconds per vote", "left chosen", "ties", "both bad", "with a reason"],
                                                    [[p["participant"], p["votes"], f"{p['median_seconds']:.1f}", p["left"], p["ties"], p["both_bad"], p["reasons"]]
                                                     for p in people])))
    agree = summary["human_agreement"]
    out.append(("Agreement between people", f"<p>{agree['pairs_with_several_votes']:,} pairs were judged by two people or more "
                f"({agree['votes_on_them']:,} votes): agreement {_pct(agree['percent_agreement'])} over all pairs of their votes, "
                f"Krippendorff's α {_num(agree['krippendorff_alpha'])} (labels: A, B, no preference).</p>"))
    for name, judge in (summary.get("judges") or {}).items():
        rows = [[category, m["votes"], _pct(m["agreement"]), "—" if not m["agreement_ci"] else f"{_pct(m['agreement_ci'][0])} – {_pct(m['agreement_ci'][1])}",
                 _num(m["kappa"]), m["votes_without_ties"], _pct(m["agreement_without_ties"])] for category, m in judge["by_category"].items()]
        overall = judge["by_category"].get("all", {})
        verdict = ""
        if overall.get("agreement") is not None and agree["percent_agreement"] is not None:
            verdict = (f"<p><strong>The judge agrees with people on {_pct(overall['agreement'])} of votes; people agree with each "
                       f"other on {_pct(agree['percent_agreement'])}.</strong> A judge far below the people's own agreement is not to be "
                       f"trusted for this language.</p>")
        out.append((f"Agreement between the LLM judge {name} and people", verdict
                    + f"<p>Each human vote on a pair the judge also judged ({judge['pairs_judged']:,} judged pairs), compared with the "
                    "judge's verdict; Cohen's κ over the labels A, B, no preference.</p>"
                    + html_table(["category", "votes", "agreement", "95 % interval (Wilson)", "Cohen's κ", "votes without ties",
                                  "agreement without ties"], rows)))
    order = ["Ratings", "Agreement between the LLM judge", "Agreement between people", "Win rate", "Ratings by criterion", "Votes per participant"]
    return sorted(out, key=lambda section: max(i for i, start in enumerate(order) if section[0].startswith(start)))


def live_summary(store, rounds: int = 200) -> str:
    """The admin page's results: the report's sections, from the votes as they are now."""
    summary = summarise(store.vote_rows(), rounds=rounds)
    return "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections(summary))


# --- the preference dataset ---------------------------------------------------------------------------


def preference_rows(rows: list[dict], prompts: dict[str, dict], texts: dict[int, str], lang: str, min_seconds: float = 0.0) -> tuple[list[dict], list[dict]]:
    """(kept, excluded): one row per voted pair; kept where more votes preferred one answer than
    the other and than neither ("tie" + "both bad"); excluded as "both_bad" when that was half the
    votes or more, "split" when as many preferred each answer, else "tie"."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["seconds"] >= min_seconds:
            grouped[pair_key(r["prompt_key"], r["left_model"], r["right_model"])].append(r)
    kept, excluded = [], []
    for (pid, model_a, model_b), found in grouped.items():
        ids = {}
        for r in found:
            ids[r["left_model"]], ids[r["right_model"]] = r["left_answer"], r["right_answer"]
        labels = Counter(label(r) for r in found)
        both_bad = sum(r["choice"] == "both_bad" for r in found)
        ties = sum(r["choice"] == "tie" for r in found)
        prompt = prompts[pid]
        common = {"id": f"{pid}:{model_a}:{model_b}", "prompt": prompt["messages"], "votes": len(found), "ties": ties, "both_bad": both_bad,
                  "category": prompt.get("category"), "lang": lang}
        answer = lambda model: [{"role": "assistant", "content": texts[ids[model]]}]  # noqa: E731
        no_preference = ties + both_bad
        if both_bad * 2 >= len(found) or labels["a"] == labels["b"] or max(labels["a"], labels["b"]) < no_preference:
            reason = "both_bad" if both_bad * 2 >= len(found) else ("split" if labels["a"] == labels["b"] != 0 else "tie")
            detail = f"a={labels['a']} b={labels['b']} tie={ties} both_bad={both_bad}"
            excluded.append({**common, "answer_a": answer(model_a), "answer_b": answer(model_b), "model_a": model_a, "model_b": model_b,
                             "a_votes": labels["a"], "b_votes": labels["b"], "reason": reason, "detail": detail})
            continue
        chosen, rejected = (model_a, model_b) if labels["a"] > labels["b"] else (model_b, model_a)
        chosen_votes, rejected_votes = max(labels["a"], labels["b"]), min(labels["a"], labels["b"])
        kept.append({**common, "chosen": answer(chosen), "rejected": answer(rejected), "chosen_model": chosen, "rejected_model": rejected,
                     "chosen_votes": chosen_votes, "rejected_votes": rejected_votes, "agreement": chosen_votes / len(found)})
    return kept, excluded


def write_results(store, out: str, judge_folders: list[str] = (), rounds: int = 1000, seed: int = 0, min_seconds: float = 0.0) -> dict:
    """Writes OUT (see the module docstring) from the votes as they are now; returns stats.json."""
    from langmill.arena.store import redacted
    from langmill.report import render_report
    from langmill.run import RunFolder

    started = time.time()
    judged = read_judgements(list(judge_folders)) if judge_folders else None
    lang = store.setting("lang", "")
    run = RunFolder(out)
    run.start({"command": "arena results", "db": redacted(store.url), "lang": lang, "judge": [os.path.abspath(j) for j in judge_folders],
               "bootstrap": rounds, "seed": seed, "min_seconds": min_seconds}, replace_other_settings=True)
    rows = store.vote_rows()
    summary = summarise(rows, rounds, seed, min_seconds, judged)
    prompts, texts = store.texts()
    kept, excluded = preference_rows(rows, prompts, texts, lang, min_seconds)
    for folder, found, schema in ((run.data, kept, schemas.ARENA_PREFERENCE), (run.excluded, excluded, schemas.ARENA_EXCLUDED)):
        os.makedirs(folder, exist_ok=True)
        for old in glob.glob(os.path.join(folder, "*.parquet")):
            os.remove(old)
        write_parquet_atomic(pa.Table.from_pylist(found, schema=schema), os.path.join(folder, "votes-00000.parquet"))
    table = votes_table(store, rows)
    write_parquet_atomic(table, os.path.join(run.path, "votes.parquet"))
    import pyarrow.csv as pacsv

    tmp = os.path.join(run.path, ".votes.csv.tmp")
    pacsv.write_csv(spreadsheet_safe(table), tmp)
    os.replace(tmp, os.path.join(run.path, "votes.csv"))
    _write_json(os.path.join(run.path, "results.json"), summary)
    accounting = run.count(len(kept) + len(excluded), REASONS)
    stats = {"stage": "arena results", "lang": lang, "db": redacted(store.url), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             **accounting.as_stats(), "votes": summary["votes"], "votes_rated": summary["votes_rated"], "participants": summary["participants"],
             "ratings": {r["model"]: round(r["bt"], 1) for r in summary["ratings"]},
             "human_agreement": summary["human_agreement"]["percent_agreement"],
             "judge_agreement": {name: j["by_category"].get("all", {}).get("agreement") for name, j in (summary.get("judges") or {}).items()},
             "excluded_examples": accounting.excluded_examples, "step_time_s": {"results": round(time.time() - started, 3)}}
    rows_shown = [["votes", summary["votes"]], ["votes rated (see --min-seconds)", summary["votes_rated"]],
                  ["participants who voted", summary["participants"]],
                  ["rows", "in: the pairs voted on; kept: those where more people preferred one answer (data/)"]]
    page = render_report(f"langmill arena — {lang}", stats, rows_shown, sections(summary))
    run.write_report(stats, page)
    return stats


def _write_json(path: str, value) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)
