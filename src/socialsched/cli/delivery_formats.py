"""A plan's deliveries as `socialsched plan` prints them: a table, a JSON array, JSON
lines or CSV."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
from collections.abc import Iterator, Sequence
from typing import Any

from socialsched.calendar.model import Delivery
from socialsched.planning.plans import Plan

FORMATS = ("table", "json", "jsonl", "csv")


def format_deliveries(deliveries: Sequence[Delivery], output_format: str) -> Iterator[str]:
    """Deliveries as a table, JSON array, JSON lines or CSV, in pieces to write one
    after another: a `Plan` is read from its columns as it is written, so the whole
    output is never held at once (but for the table, which aligns its columns)."""
    if output_format == "table":
        yield _table(deliveries)
        return
    rows: Iterator[dict[str, Any]] = (
        deliveries.dicts()
        if isinstance(deliveries, Plan)
        else (delivery.to_dict() for delivery in deliveries)
    )
    if output_format == "json":
        pieces = _json_array(rows)
    elif output_format == "jsonl":
        pieces = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        pieces = _csv_lines(rows, _has_media(deliveries))
    # Written a batch of rows at a time: one write per row costs more than the rows.
    while batch := list(itertools.islice(pieces, 1024)):
        yield "".join(batch)


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """What `json.dumps(list(rows), indent=2)` writes, one row at a time."""
    opening = "[\n  "
    for row in rows:
        # A JSON string holds no raw newline: every newline starts an indented line.
        yield opening + json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        opening = ",\n  "
    yield "[]\n" if opening == "[\n  " else "\n]\n"


_CSV_COLUMNS = [
    "id",
    "post",
    "segment",
    "channel",
    "utc",
    "local",
    "holiday",
    "shifted_from",
    "reason",
    "text",
]


def _csv_lines(rows: Iterator[dict[str, Any]], media: bool) -> Iterator[str]:
    # A media column only when some delivery has media: the columns of a plan without
    # media stay as they always were.
    columns = [*_CSV_COLUMNS, "media"] if media else _CSV_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        if media:
            row["media"] = "; ".join(item["source"] for item in row.get("media", ()))
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _has_media(deliveries: Sequence[Delivery]) -> bool:
    if isinstance(deliveries, Plan):
        return any(route.media is not None and any(route.media) for route in deliveries.routes)
    return any(delivery.media for delivery in deliveries)


def _rich_marker(delivery: Delivery) -> str:
    """ "[1 image] [3 parts] " for a delivery with media or thread parts, else ""."""
    marks = []
    for kind in ("image", "video"):
        count = sum(1 for media in delivery.media if media.kind == kind)
        if count:
            marks.append(f"{count} {kind}{'s' if count > 1 else ''}")
    if delivery.parts:
        marks.append(f"{len(delivery.parts)} parts")
    return "".join(f"[{mark}] " for mark in marks)


def _table(deliveries: Sequence[Delivery]) -> str:
    if not deliveries:
        return "no deliveries in this range\n"
    header = ("UTC", "LOCAL", "SEGMENT", "CHANNEL", "POST", "NOTE", "TEXT")
    rows = []
    for d in deliveries:
        note = ""
        if d.reason and d.shifted_from:
            note = f"moved ({d.reason}) from {d.shifted_from:%m-%d %H:%M}"
        elif d.holiday:
            note = f"holiday: {d.holiday}"
        rows.append(
            (
                f"{d.utc:%Y-%m-%d %H:%M}",
                f"{d.local:%Y-%m-%d %H:%M %z}",
                d.segment,
                d.channel,
                d.post,
                note,
                _rich_marker(d) + (d.text or "").replace("\n", " "),
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    terminal = shutil.get_terminal_size((160, 24)).columns
    text_width = max(20, terminal - sum(widths) - 2 * len(widths))
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        text = row[-1] if len(row[-1]) <= text_width else row[-1][: text_width - 1] + "…"
        lines.append("  ".join([*cells, text]).rstrip())
    lines.append(f"\n{len(deliveries)} deliveries")
    return "\n".join(lines) + "\n"
