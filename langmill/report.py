"""report.html of every stage: one page layout, sections added by the stage (rendering only; the
numbers come from `langmill.run`)."""

import html
import json


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


def render_report(title: str, stats: dict, summary: list[list], sections: list[tuple[str, str]]) -> str:
    """The page: the common summary, exclusions by reason with examples, the stage's own
    `sections` ((heading, HTML) pairs) and the time per step."""
    rows = [
        ["rows in", stats["rows_in"]],
        ["kept", stats["kept"]],
        ["excluded", stats["excluded"]],
        ["rows in = kept + excluded", "yes" if stats["rows_in_equals_kept_plus_excluded"] else "NO"],
        *summary,
    ]
    examples = [[reason, e["id"], e["detail"], e["text"]] for reason, found in stats["excluded_examples"].items() for e in found]
    job = {k: v for k, v in stats.items() if k in ("lang", "source_lang", "model", "prompt", "inputs", "tasks", "workers", "executor")}
    parts = "".join(f"<h2>{html.escape(heading)}</h2>{body}" for heading, body in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:960px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#f3f3f3}}h2{{margin-top:1.6em}}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Created {html.escape(stats["created"])}. Job: {html.escape(json.dumps(job, ensure_ascii=False))}</p>
<h2>Summary</h2>{html_table(["", "value"], rows)}
<h2>Excluded rows by reason</h2>{bars(list(stats["excluded_by_reason"].items()), "#d8603b")}
<h2>Examples of excluded rows</h2>{html_table(["reason", "id", "detail", "row (start)"], examples)}
{parts}
<h2>Time per step (seconds, summed over tasks)</h2>{html_table(["step", "seconds"], [[k, v] for k, v in stats["step_time_s"].items()])}
</body></html>
"""
