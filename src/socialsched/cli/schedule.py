"""`socialsched schedule`: plan a calendar and reconcile the store with it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import attrs
import click

from socialsched.planning.calendar_load import load
from socialsched.planning.planner import Planner
from socialsched.scheduling import queue_pins

from .options import (
    calendar_argument,
    date_range,
    db_option,
    end_option,
    format_option,
    start_option,
)
from .output import echo_json
from .progress import chunk_progress
from .stores import open_store
from .volume import max_deliveries_option


@click.command("schedule")
@max_deliveries_option
@calendar_argument
@start_option
@end_option(30)
@db_option
@format_option(
    "text",
    "json",
    help="text: one line of counts (with --dry-run: a line per change first); json: the "
    "ids added, moved, updated and cancelled (with --dry-run: each change's details).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would change (each delivery added, moved, updated with a text diff, "
    "cancelled), changing nothing.",
)
def schedule_command(
    calendar_file: Path,
    start: date | None,
    end: date | None,
    db: str | None,
    output_format: str,
    dry_run: bool,
) -> None:
    """Plan CAL and reconcile the store with it: add new deliveries, move changed ones,
    cancel removed ones; published ones are never touched. Safe to run again."""
    start, end = date_range(start, end, 30)
    calendar = load(calendar_file)
    with open_store(_dry_run_db(db) if dry_run else db) as store:
        planner = Planner(
            calendar,
            media_cache=store.media_cache(read_only=dry_run),
            today=date.today(),
            pins=queue_pins(store, calendar),  # queued posts that went out keep their slots
        )
        from socialsched.planning.lateness import past_report

        past = past_report(store, calendar, planner, start, end)  # said before any change
        if output_format != "json" and past.text():
            click.echo(past.text())
        # A chunk at a time: a range of years takes the memory of one chunk.
        chunks = chunk_progress(planner.plan_chunks(start, end), start, end)
        result = store.schedule_chunks(calendar, chunks, dry_run=dry_run)
        from .approve import warn_unapproved

        warn_unapproved(store, calendar)  # the runner would hold these channels
    counts = (
        f"{len(result.added)} added, {len(result.moved)} moved, {len(result.updated)} "
        f"updated, {len(result.cancelled)} cancelled, {result.unchanged} unchanged"
    )
    if output_format == "json":
        shown = attrs.asdict(result, filter=lambda field, value: field.name != "changes")
        shown["past"] = past.to_dict()
        if dry_run:
            shown["changes"] = [change.to_dict() for change in result.changes]
        else:
            del shown["dry_run"]
        echo_json(shown)
    elif dry_run:
        for change in result.changes:
            click.echo(_change_text(change))
        click.echo(f"dry run: {counts}; nothing was changed")
    else:
        click.echo(counts)


def _dry_run_db(db: str | None) -> str | None:
    """The database a dry run reads: an SQLite file that does not exist yet is not
    created (an empty in-memory database stands in for it)."""
    from socialsched.store import database_url

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return "sqlite://"
    return db


_CHANGE_VERBS = {"added": "add", "moved": "move", "updated": "update", "cancelled": "cancel"}


def _change_text(change: Any) -> str:
    """One change of a dry run, as lines of text."""
    where = f"{change.post}/{change.segment}/{change.channel}"
    when = change.local if change.old_local is None else f"{change.old_local} -> {change.local}"
    line = f"{_CHANGE_VERBS[change.kind]:<6}  {change.id}  {where}  {when}"
    if change.kind == "updated" and change.diff is None:
        line += f"  ({', '.join(change.fields)})"
    if change.diff:
        line += "\n" + "\n".join(f"    {diff_line}" for diff_line in change.diff.splitlines())
    return line
