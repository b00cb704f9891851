"""`socialsched channels check` (the preflight) and `channels approve`: the channels
of a calendar or of the store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .approve import channels_approve_command, stored_approvals
from .options import format_option
from .output import echo_json
from .stores import open_store


@click.group("channels")
def channels_group() -> None:
    """The channels of a calendar or of the store."""


@channels_group.command("check")
@click.argument(
    "calendar_file",
    metavar="[CAL]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--db",
    metavar="URL|FILE",
    help="Without CAL: check the channels of what is scheduled in this store. Either "
    "way, the store whose approved destinations apply (default: $SOCIALSCHED_DB, else "
    "./socialsched.db).",
)
@format_option("text", "json")
def channels_check_command(calendar_file: Path | None, db: str | None, output_format: str) -> None:
    """Ask each channel's network whether its credentials work, posting nothing:
    ok, missing secret (which variable), rejected credentials, unreachable, not
    checkable or broken. Exits 1 when any channel fails (not checkable is no failure)."""
    from socialsched.planning.calendar_load import load
    from socialsched.runner.preflight import OUTCOMES, check_channels

    if calendar_file is not None:
        # Nothing goes to a destination the operator has not approved, not even a check.
        checks = check_channels(load(calendar_file), approvals=stored_approvals(db))
    else:
        with open_store(db) as store:
            checks = check_channels(store.channels(), approvals=store.approvals())
    if output_format == "json":
        echo_json([check.to_dict() for check in checks])
    else:
        several = len({check.calendar for check in checks}) > 1
        rows = [("CHANNEL", "ADAPTER", "RESULT", "DETAIL")] + [
            (
                f"{check.calendar}/{check.channel}" if several else check.channel,
                check.adapter,
                OUTCOMES[check.outcome],
                check.detail,
            )
            for check in checks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[3]]).rstrip())
        failed = sum(check.failed for check in checks)
        click.echo(f"\n{len(checks)} channel{'' if len(checks) == 1 else 's'}, {failed} failed")
    if any(check.failed for check in checks):
        sys.exit(1)


channels_group.add_command(channels_approve_command)
