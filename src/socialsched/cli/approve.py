"""`socialsched channels approve`: the operator approves where channels send secrets.

Added to the `channels` group by `socialsched.cli.channels`. See `Store.approve` and
docs/security.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from socialsched.errors import CalendarError, Problem

from .options import db_option, format_option
from .stores import open_store

# The store (SQLAlchemy) and the calendar are imported where they are used: `lint` and
# `schedule` import this module, and `channels` loads it with the group.
if TYPE_CHECKING:
    from socialsched.calendar.model import Calendar
    from socialsched.store import Approval, Store


@click.command("approve")
@click.argument("channels", nargs=-1, metavar="CHANNEL...")
@click.option("--all", "approve_all", is_flag=True, help="Approve every channel in the store.")
@db_option
@format_option("text", "json")
def channels_approve_command(
    channels: tuple[str, ...], approve_all: bool, db: str | None, output_format: str
) -> None:
    """Approve where each CHANNEL (as the last `schedule` stored it) sends its secrets
    now: one line per secret with its destination (scheme://host:port). The runner
    holds a channel whose secrets would go anywhere not approved; approving it lifts
    that hold. Read the destinations before approving: a calendar change can move them.

    Secrets whose value is the URL (webhooks) are read here to find their origin, so
    run it where the runner's secrets are granted; only the origin is stored."""
    from socialsched.store import DESTINATION_NOT_APPROVED

    if bool(channels) == approve_all:
        raise click.UsageError("give CHANNEL... or --all (not both)")
    with open_store(db) as store:
        approvals = store.approve_channels(None if approve_all else channels)
        resumed = _lift_holds(store, approvals)
    if output_format == "json":
        shown = [
            {**approval.to_dict(), "resumed": approval.channel in resumed} for approval in approvals
        ]
        click.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    several = len({approval.calendar for approval in approvals}) > 1
    rows = [("CHANNEL", "ADAPTER", "SECRET", "DESTINATION")]
    for approval in approvals:
        name = f"{approval.calendar}/{approval.channel}" if several else approval.channel
        for secret, where in approval.destinations.items() or [("-", "(no secrets)")]:
            rows.append((name, approval.adapter, secret, where))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[3]]).rstrip())
    count = len(approvals)
    click.echo(f"\napproved {count} channel{'' if count == 1 else 's'}")
    for name in sorted(resumed):
        click.echo(f"resumed channel {name} (held: {DESTINATION_NOT_APPROVED})")


def _lift_holds(store: Store, approvals: list[Approval]) -> set[str]:
    """Lift the runner's holds of the approved channels that were for destinations not
    approved (a hold for rejected credentials or an operator's pause stays)."""
    from socialsched.store import DESTINATION_NOT_APPROVED, RUNNER_ACTOR, Hold

    names = {approval.channel for approval in approvals}
    resumed = set()
    for entry in store.hold_entries():
        hold = entry.hold
        if (
            hold == Hold(channel=hold.channel)
            and hold.channel in names
            and entry.actor == RUNNER_ACTOR
            and (entry.reason or "").startswith(DESTINATION_NOT_APPROVED)
        ):
            store.resume(hold, reason="destinations approved")
            resumed.add(str(hold.channel))
    return resumed


def approval_problems(calendar_file: Path, db: str | None) -> list[Problem]:
    """For `lint --db`: an error per channel of the calendar in `calendar_file` that the
    runner would hold (a secret going to a destination not approved in store `db`);
    none when the calendar does not load (lint reports why)."""
    from socialsched.planning.calendar_load import load
    from socialsched.trust.approval_checks import unapproved_channels

    try:
        calendar = load(calendar_file)
    except CalendarError:
        return []
    # A store that does not exist yet approved nothing (and lint creates none).
    found = unapproved_channels(calendar.name, calendar.channels, stored_approvals(db))
    return [Problem(problem.message, file=calendar.source) for problem in found]


def warn_unapproved(store: Store, calendar: Calendar) -> None:
    """For `schedule`: a warning per channel of `calendar` the runner would hold."""
    from socialsched.trust.approval_checks import unapproved_channels

    for problem in unapproved_channels(calendar.name, calendar.channels, store.approvals()):
        click.echo(f"warning: {problem.message}", err=True)


def stored_approvals(db: str | None) -> dict[tuple[str, str], Approval]:
    """For `channels check CAL`: the approvals in store `db` (default: $SOCIALSCHED_DB,
    else ./socialsched.db); none when that SQLite file does not exist (then no channel
    with secrets is approved, and none is sent a check)."""
    from socialsched.store import database_url

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}
    with open_store(db) as store:
        return store.approvals()
