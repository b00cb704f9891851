"""`socialsched pause` and `socialsched resume`: hold matching deliveries, and lift it."""

from __future__ import annotations

from typing import Any

import click

from .options import db_option
from .stores import open_store


def _hold_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option("--segment", metavar="NAME"),
            click.option("--channel", metavar="NAME"),
            click.option("--tag", metavar="TAG"),
            click.option("--post", metavar="ID"),
            click.option("--all", "everything", is_flag=True, help="Every delivery."),
            click.option("--reason", metavar="TEXT", help="Why (goes to the activity log)."),
        ]
    ):
        function = option(function)
    return db_option(function)


def _hold(
    segment: str | None, channel: str | None, tag: str | None, post: str | None, everything: bool
) -> Any:
    from socialsched.store import Hold

    hold = Hold(segment=segment, channel=channel, tag=tag, post=post)
    given = any(v is not None for v in (segment, channel, tag, post))
    if given == everything:
        raise click.UsageError(
            "give --segment, --channel, --tag and/or --post (combined: all must match), "
            "or --all alone"
        )
    return hold


@click.command("pause")
@_hold_options
def pause_command(
    db: str | None,
    segment: str | None,
    channel: str | None,
    tag: str | None,
    post: str | None,
    everything: bool,
    reason: str | None,
) -> None:
    """Stop matching deliveries not yet claimed, at once and until `resume`
    (e.g. a crisis: --segment es-ES --tag promo)."""
    hold = _hold(segment, channel, tag, post, everything)
    with open_store(db) as store:
        count = store.pause(hold, reason=reason)
    click.echo(f"paused {count} deliveries ({hold.describe()})")


@click.command("resume")
@_hold_options
def resume_command(
    db: str | None,
    segment: str | None,
    channel: str | None,
    tag: str | None,
    post: str | None,
    everything: bool,
    reason: str | None,
) -> None:
    """Lift the pause given by the same options (--all: every pause); what is overdue
    goes out now, not missed."""
    hold = _hold(segment, channel, tag, post, everything)
    with open_store(db) as store:
        count = store.resume(hold, everything=everything, reason=reason)
    click.echo(f"resumed {count} deliveries")
