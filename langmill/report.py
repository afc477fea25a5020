"""stats.json and report.html of a corpus run, computed from the shards and datatrove's task stats.

Counts of kept and excluded rows are read from the Parquet files themselves (not from counters),
so `rows_in == kept + excluded` checks the output that users will actually load.
"""

import glob
import html
import json
import os
import time

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep

from langmill import schemas

# Where each reason is decided, in pipeline order (the funnel of the report).
REASON_ORDER = ["bad_row", "empty", "lid", "gopher_repetition", "gopher_quality", "c4", "fineweb_quality", "exact_dup", "near_dup"]
LENGTH_BINS = [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000]
EXAMPLES_PER_REASON = 3


def _plain_step_name(name: str) -> str:
    """"🔻 - FILTER: 🌍 Language ID" -> "Language ID" (emoji render as boxes in many fonts)."""
    name = name.split(": ", 1)[-1]
    return "".join(ch for ch in name if ord(ch) < 0x2000 or ch.isalnum()).strip()


def _stat_total(value) -> float:
    return value.get("total", 0) if isinstance(value, dict) else value


def task_stats(logging_dir: str) -> dict[str, dict]:
    """Sum datatrove's per-task stats files: {step name: {"time_s": float, stat: total}}."""
    merged: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(logging_dir, "stats", "*.json"))):
        with open(path) as f:
            for step in json.load(f):
                entry = merged.setdefault(step["name"], {"time_s": 0.0})
                entry["time_s"] += _stat_total(step.get("time_stats", {}))
                for key, value in step.get("stats", {}).items():
                    entry[key] = entry.get(key, 0) + _stat_total(value)
    return merged


def _per_row(folder: str, schema: pa.Schema, columns: list[str]) -> pl.DataFrame:
    """`columns` of every shard in `folder`, with `text` replaced by its length in characters and
    bytes; read in small batches, so the texts are never all in memory."""
    parts = []
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        for table in pq.ParquetFile(path).iter_batches(batch_size=2048, columns=[*columns, "text"]):
            text = table.column("text")
            parts.append(
                pl.from_arrow(table.select(columns)).with_columns(
                    chars=pl.Series(pc.utf8_length(text).to_numpy(zero_copy_only=False), dtype=pl.Int64),
                    bytes=pl.Series(pc.binary_length(text).to_numpy(zero_copy_only=False), dtype=pl.Int64),
                )
            )
    if not parts:
        return pl.from_arrow(schema.empty_table().select(columns)).with_columns(chars=pl.lit(0, pl.Int64), bytes=pl.lit(0, pl.Int64)).clear()
    return pl.concat(parts)


def _examples(folder: str, per_reason: int) -> dict[str, list[dict]]:
    """The first `per_reason` rows of each reason (text cut to 200 characters), reading no more
    of each file than needed."""
    found: dict[str, list[dict]] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=["id", "reason", "detail", "text"]):
            rows = batch.to_pylist()
            taken_all = True
            for row in rows:
                bucket = found.setdefault(row["reason"], [])
                if len(bucket) < per_reason:
                    bucket.append({"id": row["id"], "detail": row["detail"], "text": (row["text"] or "")[:200]})
                    taken_all = False
            if taken_all:
                break  # this file's reasons are full; the rest of it adds nothing
    return found


def collect_stats(out: str, lang: str, stages=("filter", "dedup", "apply", "report"), job_info: dict | None = None) -> dict:
    kept = _per_row(os.path.join(out, "data"), schemas.CORPUS, ["lang", "minhash_cluster_size"])
    excluded = _per_row(os.path.join(out, "excluded"), schemas.EXCLUDED, ["reason", "lang"])
    steps = {stage: task_stats(os.path.join(out, "logs", stage)) for stage in stages}
    filter_steps = steps.get("filter", {})
    reader = next((v for k, v in filter_steps.items() if "READER" in k), {})
    pii = next((v for k, v in filter_steps.items() if "PII" in k), {})
    c4 = next((v for k, v in filter_steps.items() if "c4" in k.lower()), {})

    by_reason = dict(excluded.group_by("reason").len().iter_rows())
    reasons = [r for r in REASON_ORDER if r in by_reason] + sorted(set(by_reason) - set(REASON_ORDER))
    rows_in = int(reader.get("rows_in", 0))
    funnel, remaining = [], rows_in
    for reason in reasons:
        funnel.append({"step": reason, "in": remaining, "dropped": by_reason[reason], "out": remaining - by_reason[reason]})
        remaining -= by_reason[reason]

    # Languages of every document that reached language ID (kept rows and rows dropped after it).
    seen_lang = pl.concat([kept.select("lang"), excluded.select("lang")]).drop_nulls()
    languages = dict(sorted(seen_lang.group_by("lang").len().iter_rows(), key=lambda kv: -kv[1]))
    chars = kept.get_column("chars")
    hist = [int(((chars >= lo) & (chars < hi)).sum()) for lo, hi in zip(LENGTH_BINS, LENGTH_BINS[1:] + [float("inf")])]
    clusters = kept.filter(pl.col("minhash_cluster_size") > 1)
    timings = {}
    for stage, stage_steps in steps.items():
        for name, entry in stage_steps.items():
            timings[f"{stage}: {_plain_step_name(name)}"] = round(entry["time_s"], 3)
    found = _examples(os.path.join(out, "excluded"), EXAMPLES_PER_REASON)
    examples = {reason: found.get(reason, []) for reason in reasons}

    return {
        "lang": lang,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "job": job_info or {},
        "rows_in": rows_in,
        "kept": kept.height,
        "excluded": excluded.height,
        "rows_in_equals_kept_plus_excluded": rows_in == kept.height + excluded.height,
        "excluded_by_reason": {r: by_reason[r] for r in reasons},
        "funnel": funnel,
        "chars_in": int(reader.get("doc_len", 0)),
        "kept_chars": int(chars.sum()),
        "kept_bytes_utf8": int(kept.get_column("bytes").sum()),
        "languages_seen": languages,
        "pii_masked": {"email": int(pii.get("pii_email", 0)), "ip": int(pii.get("pii_ip", 0))},
        "c4_lines_removed": int(c4.get("lines_removed", 0)),
        "dedup": {
            "clusters": clusters.height,
            "largest_cluster": int(clusters.get_column("minhash_cluster_size").max()) if clusters.height else 1,
        },
        "length_histogram": {"bin_edges_chars": LENGTH_BINS, "kept": hist},
        "step_time_s": timings,
        "excluded_examples": examples,
    }


# --- HTML ------------------------------------------------------------------------------------------


def bars(items: list[tuple[str, int]], color: str = "#3b7dd8", width: int = 520) -> str:
    """A horizontal bar chart as inline SVG (no plotting library needed)."""
    if not items:
        return "<p><em>nothing to show</em></p>"
    top = max(v for _, v in items) or 1
    row, label_w = 22, 150
    parts = [f'<svg width="{width + label_w + 80}" height="{row * len(items) + 4}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(items):
        y = i * row + 2
        w = max(1, int(width * value / top)) if value else 0
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="13">{html.escape(str(label))}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{row - 6}" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">{value:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(f'{c:,}' if isinstance(c, int) else str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(stats: dict) -> str:
    ok = stats["rows_in_equals_kept_plus_excluded"]
    edges = stats["length_histogram"]["bin_edges_chars"]
    hist_labels = [f"{lo:,}–{hi:,}" for lo, hi in zip(edges, edges[1:])] + [f"≥ {edges[-1]:,}"]
    summary = [
        ["rows in", stats["rows_in"]],
        ["kept", stats["kept"]],
        ["excluded", stats["excluded"]],
        ["rows in = kept + excluded", "yes" if ok else "NO"],
        ["characters in / kept", f"{stats['chars_in']:,} / {stats['kept_chars']:,}"],
        ["e-mail / IP addresses masked", f"{stats['pii_masked']['email']:,} / {stats['pii_masked']['ip']:,}"],
        ["C4 lines removed", stats["c4_lines_removed"]],
        ["duplicate clusters kept (largest)", f"{stats['dedup']['clusters']:,} ({stats['dedup']['largest_cluster']})"],
    ]
    funnel = [[f["step"], f["in"], f["dropped"], f["out"]] for f in stats["funnel"]]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>langmill corpus report ({html.escape(stats['lang'])})</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:960px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#f3f3f3}}h2{{margin-top:1.6em}}</style></head>
<body>
<h1>langmill corpus report — target language <code>{html.escape(stats['lang'])}</code></h1>
<p>Created {html.escape(stats['created'])}. Job: {html.escape(json.dumps(stats['job']))}</p>
<h2>Summary</h2>{html_table(["", "value"], summary)}
<h2>Rows dropped per step</h2>{bars([(f["step"], f["dropped"]) for f in stats["funnel"]], "#d8603b")}
{html_table(["step", "rows in", "dropped", "rows out"], funnel)}
<h2>Examples of dropped rows</h2>{html_table(["reason", "id", "detail", "text (start)"], [[r, e["id"], e["detail"] or "", e["text"]] for r, rows in stats["excluded_examples"].items() for e in rows])}
<h2>Languages seen by language ID</h2>{bars(list(stats["languages_seen"].items())[:25])}
<h2>Length of kept documents (characters)</h2>{bars(list(zip(hist_labels, stats["length_histogram"]["kept"])), "#3ba55d")}
<h2>Time per step (seconds, summed over tasks)</h2>{html_table(["step", "seconds"], [[k, v] for k, v in stats["step_time_s"].items()])}
</body></html>
"""


def render_rows_report(title: str, subtitle: str, summary: list[list], excluded_by_reason: dict, examples: list[list]) -> str:
    """report.html of a stage over rows (translate, qc): summary table, exclusions by reason, examples."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:960px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#f3f3f3}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<h2>Summary</h2>{html_table(["", "value"], summary)}
<h2>Excluded rows by reason (first failed check)</h2>{bars(list(excluded_by_reason.items()), "#d8603b")}
<h2>Examples of excluded rows</h2>{html_table(["reason", "id", "detail"], examples)}
</body></html>
"""


class WriteReport(PipelineStep):
    """Writes OUT/stats.json and OUT/report.html (run as the last, single-task stage)."""

    name = "📊 Report"
    type = "📊 - STATS"

    def __init__(self, out: str, lang: str, stages=("filter", "dedup", "apply", "report"), job_info: dict | None = None):
        super().__init__()
        self.out, self.lang, self.stages, self.job_info = out, lang, tuple(stages), job_info

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        stats = collect_stats(self.out, self.lang, self.stages, self.job_info)
        with open(os.path.join(self.out, "stats.json"), "w") as f:
            json.dump(stats, f, indent=2, ensure_ascii=False)
        with open(os.path.join(self.out, "report.html"), "w") as f:
            f.write(render_html(stats))
        return
        yield
