"""Planning with a progress bar on standard error when it is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

import click

from socialsched.calendar.model import Calendar
from socialsched.media.model import MediaCache
from socialsched.planning.planner import CHUNK_DAYS, PlanChunk, Planner
from socialsched.planning.plans import Plan


def plan_with_progress(
    calendar: Calendar,
    start: date,
    end: date,
    media_cache: MediaCache | None = None,
    **options: Any,
) -> Plan:
    """Plan with a progress bar on standard error when it is a terminal (quiet otherwise).

    `media_cache` keeps media read and fitted (see `socialsched.media.model.MediaCache`)."""
    planner = Planner(calendar, media_cache=media_cache)
    if not sys.stderr.isatty():
        return planner.plan(start, end, **options)
    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="planning", file=sys.stderr))
        bars[0].update(1)

    try:
        return planner.plan(start, end, progress=progress, **options)
    finally:
        if bars:
            bars[0].render_finish()


def chunk_progress(chunks: Iterator[PlanChunk], start: date, end: date) -> Iterator[PlanChunk]:
    """`chunks` with a progress bar on standard error when it is a terminal and the
    range takes more than one chunk (quiet otherwise)."""
    total = (end - start).days + 1  # in days: chunks are sized by what they hold
    if total <= CHUNK_DAYS or not sys.stderr.isatty():
        yield from chunks
        return
    with click.progressbar(length=total, label="scheduling", file=sys.stderr) as bar:
        for chunk in chunks:
            yield chunk
            bar.update((chunk.end - chunk.start).days + 1)
