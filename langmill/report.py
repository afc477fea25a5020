"""report.html of every stage: one page layout, sections added by the stage (rendering only; the
numbers come from `langmill.run`)."""

import html
import json
import re

# Where the start of a row stored as JSON is: its first message or text (in this order of keys;
# the source of a translated row whose translation is empty).
TEXT_KEYS = ("messages", "conversations", "prompt", "chosen", "instruction", "question", "text", "content", "value",
             "source_messages", "source_prompt", "source_chosen")
SPACE = re.compile(r"\s+")


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary and marked with "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:  # one very long word (a URL, base64) is cut where it must be
        cut = cut[:space]
    return cut.rstrip(" \n,;:") + "…"


def _first_text(value) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        return next((t for t in map(_first_text, value) if t), None)
    if isinstance(value, dict):
        return next((t for t in (_first_text(value.get(k)) for k in TEXT_KEYS) if t), None)
    return None


def readable_start(value: str | None, is_json: bool = False, limit: int = 200) -> str:
    """The start of an excluded row as people read it: with `is_json`, the first message or text of
    a row stored as JSON (translate's and qc's `row`), else the text itself; whitespace folded, clipped."""
    text = value or ""
    if is_json and text.startswith("{"):
        try:
            text = _first_text(json.loads(text)) or text
        except ValueError:
            pass  # a line that was not JSON: shown as it is
    return clip(SPACE.sub(" ", text).strip(), limit)


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
    near = [[rule, e["threshold"], e["value"], e["id"], e["text"]] for rule, found in (stats.get("near_threshold") or {}).items() for e in found]
    near_section = ("<h2>Dropped closest to each rule's threshold</h2><p>The excluded rows whose statistic was nearest to the threshold "
                    "that dropped them: if these look fine, the threshold is too strict for this text.</p>"
                    + html_table(["reason: statistic", "threshold", "value", "id", "row (start)"], near)) if near else ""
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
{near_section}{parts}
<h2>Time per step (seconds, summed over tasks)</h2>{html_table(["step", "seconds"], [[k, v] for k, v in stats["step_time_s"].items()])}
</body></html>
"""


def interval_chart(rows: list[tuple[str, float | None, list | None]], top: float = 1.0, mark: float | None = 0.5, width: int = 420,
                   low: float = 0.0, digits: int = 3) -> str:
    """Values with 95 % intervals as inline SVG: a dot per row on a `low`..`top` axis, a whisker for
    its interval, and a dashed line at `mark` (0.5: a win rate no better than the other side's)."""
    if not rows:
        return "<p><em>nothing to show</em></p>"
    row, label_w, height = 24, 190, 24 * len(rows) + 24

    def x(v: float) -> float:
        return label_w + width * (max(low, min(v, top)) - low) / (top - low)

    parts = [f'<svg width="{label_w + width + 150}" height="{height}" role="img" xmlns="http://www.w3.org/2000/svg">']
    if mark is not None:
        parts.append(f'<line x1="{x(mark)}" y1="0" x2="{x(mark)}" y2="{height - 18}" stroke="#999" stroke-dasharray="4 3"/>')
    for tick in (low, (low + top) / 2, top):
        parts.append(f'<text x="{x(tick)}" y="{height - 4}" text-anchor="middle" font-size="11">{tick:g}</text>')
    for i, (label, value, interval) in enumerate(rows):
        y = i * row + 14
        parts.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end" font-size="13">{html.escape(str(label))}</text>')
        if interval:
            parts.append(f'<line x1="{x(interval[0])}" y1="{y}" x2="{x(interval[1])}" y2="{y}" stroke="#3b7dd8" stroke-width="2"/>')
        if value is not None:
            shown = f"{value:.{digits}f}" + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")
            parts.append(f'<circle cx="{x(value)}" cy="{y}" r="5" fill="#3b7dd8"/>')
            parts.append(f'<text x="{label_w + width + 8}" y="{y + 4}" font-size="12">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
