"""The engagement report as one self-contained HTML page (`socialsched report --html`).

Inline CSS and SVG only: no script, font, image or style is fetched (a Content
Security Policy in the page forbids it), so the page opens offline and leaks nothing.
A bar chart of each market's (segment's) median score (likes + reposts + replies +
quotes, see `socialsched.analytics.best_times.score`) with its deliveries; then per market, a bar
chart of each channel's median score and a week day x local hour heatmap of the median
score, the hours in the segment's own time zone. Every heatmap cell carries its
numbers as data attributes (`data-segment`, `data-weekday`, `data-hour`,
`data-deliveries`, `data-median`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from html import escape

from .best_times import SCORE_COUNTS, score
from .reports import WEEKDAYS, Observation, report, to_table

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2430; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
section.market { border-top: 1px solid #d5dae3; margin-top: 24px; }
pre.summary { background: #f4f6f9; padding: 12px; overflow-x: auto; }
table.heatmap { border-collapse: collapse; font-size: 11px; }
table.heatmap th { font-weight: normal; color: #5b6473; padding: 2px 4px; }
table.heatmap td { width: 26px; height: 22px; text-align: center; border: 1px solid #fff; }
td.empty { background: #f4f6f9; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2430; }
p.note { color: #5b6473; }
"""


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _scores(observations: Sequence[Observation], key: str) -> list[tuple[str, list[int], int]]:
    """(value of `key`, scores given, deliveries) for each value, sorted."""
    scored: dict[str, list[int]] = {}
    sent: dict[str, int] = {}
    for o in observations:
        name = str(getattr(o, key))
        sent[name] = sent.get(name, 0) + 1
        value = score(o)
        if value is not None:
            scored.setdefault(name, []).append(value)
    return [(name, scored.get(name, []), sent[name]) for name in sorted(sent)]


def _bars(kind: str, rows: list[tuple[str, list[int], int]], label: str, segment: str = "") -> str:
    """An SVG bar chart: a bar per row, as long as its median score."""
    medians = {name: _median(values) for name, values, _ in rows}
    top = max((m for m in medians.values() if m), default=1.0)
    row, label_w, bar_w = 26, 160, 360
    owner = f' data-segment="{escape(segment)}"' if segment else ""
    parts = [
        f'<svg class="bars" data-kind="{kind}"{owner} role="img" aria-label="{escape(label)}" '
        f'width="{label_w + bar_w + 360}" height="{row * len(rows) + 8}">'
    ]
    for i, (name, values, sent) in enumerate(rows):
        median = medians[name]
        width = 0 if not median else max(2, round(bar_w * median / top))
        y = i * row + 4
        caption = (
            f"median {_fmt(median)} ({len(values)} of {sent} deliveries scored)"
            if median is not None
            else f"no score given ({sent} deliveries)"
        )
        parts.append(
            f'<g class="bar" data-{kind}="{escape(name)}" data-median="{_fmt(median)}" '
            f'data-deliveries="{sent}">'
            f'<text x="0" y="{y + 15}">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{width}" height="{row - 8}" fill="#3b6fd4"/>'
            f'<text x="{label_w + width + 6}" y="{y + 15}">{escape(caption)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _heatmap(segment: str, observations: Sequence[Observation]) -> str:
    cells: dict[tuple[int, int], list[int]] = {}
    sent: dict[tuple[int, int], int] = {}
    for o in observations:
        key = (o.local.weekday(), o.local.hour)
        sent[key] = sent.get(key, 0) + 1
        value = score(o)
        if value is not None:
            cells.setdefault(key, []).append(value)
    top = max((_median(v) or 0.0 for v in cells.values()), default=0.0) or 1.0
    hours = "".join(f"<th>{hour:02d}</th>" for hour in range(24))
    rows = [
        f'<table class="heatmap" data-segment="{escape(segment)}">'
        f"<caption>deliveries per week day and local hour ({escape(_zone(observations))}), "
        "shaded by their median score</caption>"
        f"<tr><th></th>{hours}</tr>"
    ]
    for day, name in enumerate(WEEKDAYS):
        row = [f"<tr><th>{name}</th>"]
        for hour in range(24):
            count = sent.get((day, hour), 0)
            median = _median(cells.get((day, hour), []))
            data = (
                f'data-segment="{escape(segment)}" data-weekday="{name}" data-hour="{hour}" '
                f'data-deliveries="{count}" data-median="{_fmt(median)}"'
            )
            if not count:
                row.append(f'<td class="empty" {data}></td>')
                continue
            alpha = 0.12 + 0.88 * (median or 0.0) / top
            title = f"{name} {hour:02d}:00: median {_fmt(median) or '-'}, {count} deliveries"
            ink = "#fff" if alpha > 0.6 else "#1d2430"
            row.append(
                f'<td class="cell" {data} title="{escape(title)}" '
                f'style="background: rgba(59, 111, 212, {alpha:.2f}); color: {ink}">{count}</td>'
            )
        row.append("</tr>")
        rows.append("".join(row))
    rows.append("</table>")
    return "".join(rows)


def _zone(observations: Sequence[Observation]) -> str:
    # The zone's name when the observations carry a ZoneInfo, else its UTC offsets.
    names = {str(o.local.tzinfo) for o in observations}
    return ", ".join(sorted(names)) if len(names) <= 3 else "the segment's time zone"


def render_report_html(observations: Iterable[Observation], title: str = "Engagement") -> str:
    """The page for `observations`: a summary table and a bar chart by segment, then per
    segment a bar chart per channel and a local-hour x week-day heatmap."""
    found = list(observations)
    by_segment: dict[str, list[Observation]] = {}
    for o in found:
        by_segment.setdefault(o.segment, []).append(o)
    body = [f"<h1>{escape(title)}</h1>"]
    if not found:
        body.append('<p class="note">No engagement recorded yet.</p>')
    else:
        body.append(
            f'<p class="note">{len(found)} deliveries in {len(by_segment)} segments. Score: '
            f"{' + '.join(SCORE_COUNTS)} (those the network gives); hours in each "
            "segment's own time zone.</p>"
        )
        summary = to_table(report(found, ["segment"]), ["segment"])
        body.append(f'<pre class="summary">{escape(summary)}</pre>')
        body.append(
            "<h2>Which market answers</h2>"
            + _bars("segment", _scores(found, "segment"), "median score per market")
        )
    for segment in sorted(by_segment):
        members = by_segment[segment]
        channels = _bars(
            "channel",
            _scores(members, "channel"),
            f"median score per channel in {segment}",
            segment,
        )
        body.append(
            f'<section class="market" data-segment="{escape(segment)}">'
            f"<h2>{escape(segment)}</h2>"
            f"<h3>Median score per channel</h3>{channels}"
            f"<h3>When it answers</h3>{_heatmap(segment, members)}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-deliveries="{len(found)}">' + "".join(body) + "</body></html>\n"
    )


__all__ = ["render_report_html"]
