"""`langmill qc`: check already translated SFT or preference rows against their sources.

Plain Python over the rows of each input file (no datatrove pipeline: there is no model to run and
nothing to deduplicate). Every row lands in `OUT/data/<file>.parquet` (all checks passed; texts
with prompt artifacts removed; a `qc` column) or `OUT/excluded/<file>.parquet` (the row as read plus
`reason`, its first failed check, and `detail`, all of them); `OUT/stats.json` counts both from the
written files, so rows in = kept + excluded; `OUT/report.html` shows the same with examples.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from langmill.filters.output_qc import REASONS, check_translation
from langmill.readers import read_rows
from langmill.report import render_rows_report

SFT_FIELDS = [("messages", "source_messages")]
PREF_FIELDS = [("prompt", "source_prompt"), ("chosen", "source_chosen"), ("rejected", "source_rejected")]


class BadRow(Exception):
    pass


def _messages(value, field: str) -> list[tuple[str, str]]:
    """A field as [(role, content)]; a plain string is one message with role None."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, list):
        raise BadRow(f"{field} is {type(value).__name__}, not a string or a message list")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise BadRow(f"{field}[{i}] is not a {{role, content}} message with string values")
        out.append((m["role"], m["content"]))
    return out


def _with_contents(value, contents: list[str]):
    if isinstance(value, str):
        return contents[0]
    return [{**m, "content": c} for m, c in zip(value, contents)]


def check_row(row: dict, lang: str, config: dict, lid) -> tuple[dict, list[tuple[str, str]], dict]:
    """(row with cleaned texts, [(reason, detail)], qc summary); raises BadRow."""
    if "messages" in row or "source_messages" in row:
        pairs = SFT_FIELDS
    elif any(f in row for f, _ in PREF_FIELDS):
        pairs = PREF_FIELDS
    else:
        raise BadRow("no messages/source_messages nor prompt/chosen/rejected with source_* fields")
    for field, src_field in pairs:
        for name in (field, src_field):
            if row.get(name) is None:
                if name == src_field and row.get("lang") not in (None, lang):
                    raise BadRow(f"a source-language row (lang={row['lang']}, as --parallel writes them): nothing to check")
                raise BadRow(f"no {name!r} field")
    failures: list[tuple[str, str]] = []
    cleaned_row = dict(row)
    summary = {"messages_checked": 0, "artifacts_removed": 0, "min_lang_score": None, "min_length_ratio": None, "max_length_ratio": None}
    for field, src_field in pairs:
        target, source = _messages(row[field], field), _messages(row[src_field], src_field)
        if isinstance(row[field], str) != isinstance(row[src_field], str):
            failures.append(("structure", f"{field}: a {type(row[field]).__name__}, {src_field} a {type(row[src_field]).__name__}"))
            continue
        if len(target) != len(source):
            failures.append(("structure", f"{field}: {len(target)} messages, {len(source)} in {src_field}"))
            continue
        contents = []
        for i, ((role, text), (src_role, src_text)) in enumerate(zip(target, source)):
            where = field if role is None else f"{field}[{i}]"
            if role != src_role:
                failures.append(("structure", f"{where}: role {role!r} != {src_role!r}"))
                contents.append(text)
                continue
            result = check_translation(src_text, text, lang, config, lid)
            contents.append(result.text)
            summary["messages_checked"] += 1
            summary["artifacts_removed"] += result.metrics.get("artifacts_removed", 0)
            for key, metric, pick in (("min_lang_score", "lang_score", min), ("min_length_ratio", "length_ratio", min), ("max_length_ratio", "length_ratio", max)):
                if metric in result.metrics:
                    value = result.metrics[metric]
                    summary[key] = value if summary[key] is None else pick(summary[key], value)
            failures.extend((f.reason, f"{where}: {f.detail}") for f in result.failures)
        cleaned_row[field] = _with_contents(row[field], contents)
    order = {r: i for i, r in enumerate(REASONS)}
    failures.sort(key=lambda f: order.get(f[0], len(order)))  # stable: message order within a check
    return cleaned_row, failures, summary


def _table(rows: list[dict]) -> pa.Table:
    """Rows with possibly different keys as one table; a column whose values have no common Arrow
    type (a string in one row, a message list in another) is stored as JSON text."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns.append(pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]))
    return pa.Table.from_arrays(columns, names=names)


def run_qc(files: list[str], lang: str, out: str, config: dict, lid, progress=None) -> dict:
    """Check every row of `files`; write OUT/data, OUT/excluded and OUT/stats.json; return the stats."""
    started = time.monotonic()
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    os.makedirs(os.path.join(out, "excluded"), exist_ok=True)
    for folder in ("data", "excluded"):  # a rerun (other thresholds) replaces the previous result
        for name in os.listdir(os.path.join(out, folder)):
            if name.endswith(".parquet"):
                os.remove(os.path.join(out, folder, name))
    by_reason: Counter = Counter()
    by_check: Counter = Counter()
    examples: dict[str, list] = {}
    kept_n = excluded_n = rows_read = messages = cleaned_rows = 0
    stems = Counter()
    for path in files:
        stem = os.path.basename(path).split(".")[0] or "part"
        stems[stem] += 1
        if stems[stem] > 1:
            stem = f"{stem}-{stems[stem]}"
        kept, excluded = [], []
        for where, row, bad, raw in read_rows(path):
            rows_read += 1
            row_id = str(row.get("id") or where) if row is not None else where
            if row is not None:
                try:
                    cleaned, failures, summary = check_row(row, lang, config, lid)
                except BadRow as err:
                    bad, raw = f"{row_id}: {err}", json.dumps(row, ensure_ascii=False, default=str)
                    row = None
            if row is None:
                excluded.append({"id": row_id, "raw": raw, "reason": "bad_row", "detail": bad})
                continue
            messages += summary["messages_checked"]
            if failures:
                by_check.update({reason for reason, _ in failures})
                if len(examples.setdefault(failures[0][0], [])) < 3:
                    examples[failures[0][0]].append([failures[0][0], row_id, "; ".join(d for _, d in failures)[:300]])
                excluded.append({**row, "id": row_id, "reason": failures[0][0], "detail": "; ".join(d for _, d in failures)})
            else:
                cleaned_rows += summary["artifacts_removed"] > 0
                kept.append({**cleaned, "id": row_id, "qc": summary})
            if progress and rows_read % 1000 == 0:
                progress(rows_read)
        for folder, rows in (("data", kept), ("excluded", excluded)):
            target = os.path.join(out, folder, f"{stem}.parquet")
            if rows:
                pq.write_table(_table(rows), target, compression="zstd")
    for path in sorted(os.listdir(os.path.join(out, "data"))):
        kept_n += pq.read_metadata(os.path.join(out, "data", path)).num_rows
    for path in sorted(os.listdir(os.path.join(out, "excluded"))):
        table = pq.read_table(os.path.join(out, "excluded", path), columns=["reason"])
        excluded_n += table.num_rows
        by_reason.update(table.column("reason").to_pylist())
    order = {r: i for i, r in enumerate(["bad_row", *REASONS])}
    stats = {
        "stage": "qc",
        "lang": lang,
        "inputs": files,
        "rows_in": rows_read,
        "kept": kept_n,
        "excluded": excluded_n,
        "rows_in_equals_kept_plus_excluded": rows_read == kept_n + excluded_n,
        "excluded_by_reason": dict(sorted(by_reason.items(), key=lambda kv: order.get(kv[0], 99))),
        "failed_checks": dict(sorted(by_check.items(), key=lambda kv: order.get(kv[0], 99))),
        "messages_checked": messages,
        "kept_rows_with_artifacts_removed": cleaned_rows,
        "config": config,
        "time_s": round(time.monotonic() - started, 3),
    }
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1, ensure_ascii=False)
    summary = [["rows in", stats["rows_in"]], ["kept", stats["kept"]], ["excluded", stats["excluded"]],
               ["rows in = kept + excluded", "yes" if stats["rows_in_equals_kept_plus_excluded"] else "NO"],
               ["messages checked", messages], ["kept rows with prompt artifacts removed", cleaned_rows]]
    with open(os.path.join(out, "report.html"), "w") as f:
        f.write(render_rows_report(f"langmill qc report (→ {lang})", f"{len(files)} input file(s)", summary,
                                   stats["excluded_by_reason"], [e for rows in examples.values() for e in rows]))
    return stats
