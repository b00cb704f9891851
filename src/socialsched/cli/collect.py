"""`socialsched collect`: fetch and store the engagement of published deliveries.

Added to `socialsched.cli.main` by the package; a thin layer over
`socialsched.analytics.collect.Collector`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import click

from .options import db_option, parse_since
from .stores import open_store

if TYPE_CHECKING:
    from socialsched.analytics.collect import CollectResult


@click.command("collect")
@click.option(
    "--since",
    callback=parse_since,
    metavar="WHEN",
    help="Only deliveries published since then: YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC unless "
    "an offset is given) or an age such as 30d.",
)
@db_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the counts and a line per channel; json: the same as one object.",
)
def collect_command(since: datetime | None, db: str | None, output_format: str) -> None:
    """Fetch the engagement (likes, reposts, replies, ...) of published deliveries that
    are due and store a snapshot of each: due once a delivery reaches an age of its
    calendar's `[runner] collect_after` (1 h, 24 h and 7 d by default) with no snapshot
    for it yet. Running it again at once fetches nothing.

    Each channel is asked for many posts per call, within its `rate` (what the runner
    published in the window counts too). Each call's snapshots are stored before the
    next call: an interrupted run loses nothing, and the next one goes on. A channel
    that fails (network unreachable, rate-limited, refused) is left for later with a
    message and exit status 1; the others are collected. The counts printed are what
    the store recorded."""
    from socialsched.analytics.collect import Collector, store_adapters

    with open_store(db) as store:
        adapters, close = store_adapters(store)
        try:
            total = sum(store.engagement_due_counts(since=since).values())
            with _progress(total) as progress:
                result = Collector(store, adapters).collect(since=since, progress=progress)
        finally:
            close()
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_text(result)
    if result.failed:
        sys.exit(1)


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error when it is a terminal and there is work."""
    if not total or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="collecting", file=sys.stderr) as bar:
        yield bar.update


def _print_text(result: CollectResult) -> None:
    totals = result.totals
    click.echo(
        f"collected {totals.collected}: {totals.snapshots} snapshot"
        f"{'' if totals.snapshots == 1 else 's'}, {totals.not_found} no longer on their "
        f"network ({result.calls} call{'' if result.calls == 1 else 's'})"
    )
    for channel, counts in sorted(result.recorded.items()):
        if counts.collected:
            click.echo(
                f"  {channel}: {counts.collected} collected, {counts.snapshots} snapshots, "
                f"{counts.not_found} not found"
            )
    for stop in result.stopped:
        left = f" ({stop.left} left)" if stop.left else ""
        line = f"channel {stop.channel}: {stop.reason}{left}"
        click.echo(("error: " if stop.error else "") + line, err=stop.error)
    if result.left:
        click.echo(f"{result.left} still due")
