"""`socialsched queue show`: each segment's queue slots and what fills them.

Added to `socialsched.cli.main` by the package; a thin layer over
`socialsched.planning.queue_show.show`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from socialsched.errors import PlanError
from socialsched.planning.calendar_load import load
from socialsched.planning.queue_plan import QueuePin, QueueSlot
from socialsched.planning.queue_show import show
from socialsched.scheduling import queue_pins

from .options import calendar_argument, date_range, db_option, format_option, parse_date
from .stores import open_store


@click.group("queue")
def queue_group() -> None:
    """Queues: posting times that queued posts fill, per segment (see `[[queue]]`)."""


@queue_group.command("show")
@calendar_argument
@click.option(
    "--segment",
    "segments",
    multiple=True,
    metavar="NAME",
    help="Only this segment (repeat for several; default: every segment).",
)
@click.option(
    "--queue", "queues", multiple=True, metavar="NAME", help="Only this queue (repeatable)."
)
@click.option(
    "--start", callback=parse_date, metavar="YYYY-MM-DD", help="First local day (default: today)."
)
@click.option(
    "--end",
    callback=parse_date,
    metavar="YYYY-MM-DD",
    help="Last local day, inclusive (default: start + 13 days).",
)
@click.option(
    "--today",
    callback=parse_date,
    metavar="YYYY-MM-DD",
    help="The day of scheduling, as `schedule` takes it (default: today): a queue without "
    "a start begins then, and posts not yet out take no slot before it.",
)
@db_option
@format_option("text", "json")
def queue_show_command(
    calendar_file: Path,
    segments: tuple[str, ...],
    queues: tuple[str, ...],
    start: date | None,
    end: date | None,
    today: date | None,
    db: str | None,
    output_format: str,
) -> None:
    """List each queue's slots in CAL, per segment and channel, in the segment's local
    time, with the post that fills each (an evergreen repeat says which) or "free".

    With --db, queued posts that went out (as the store says) keep their slots and the
    rest flow around them, as `schedule` plans them."""
    start, end = date_range(start, end, 13)
    calendar = load(calendar_file)
    pins: list[QueuePin] = []
    if db is not None:
        with open_store(db) as store:
            pins = queue_pins(store, calendar)
    try:
        slots = show(
            calendar,
            start,
            end,
            segments=segments or None,
            queues=queues or None,
            today=today or date.today(),
            pins=pins,
        )
    except PlanError as error:
        raise click.BadParameter(str(error)) from None
    if output_format == "json":
        click.echo(json.dumps([slot.to_dict() for slot in slots], ensure_ascii=False, indent=2))
        return
    if not slots:
        click.echo("no queue slots in this range")
        return
    click.echo(_text(slots))


def _text(slots: list[QueueSlot]) -> str:
    lines: list[str] = []
    heading = None
    for slot in slots:
        current = (slot.queue, slot.segment, slot.channel)
        if current != heading:
            if lines:
                lines.append("")
            lines.append(f"queue {slot.queue}: segment {slot.segment}, channel {slot.channel}")
            heading = current
        filled = [
            post if use == 1 else f"{post} (evergreen repeat {use - 1})" for post, use in slot.posts
        ]
        filled += ["free"] * slot.free
        lines.append(f"  {slot.local:%Y-%m-%d %a %H:%M %z}  {', '.join(filled)}")
    return "\n".join(lines)


__all__ = ["queue_group", "queue_show_command"]
