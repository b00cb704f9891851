"""`socialsched status` and `socialsched log`: what the store holds and what happened."""

from __future__ import annotations

import json
from datetime import datetime

import click

from .options import db_option, format_option, parse_since
from .output import counts_text, echo_json
from .stores import open_store


@click.command("status")
@db_option
@format_option("text", "json")
def status_command(db: str | None, output_format: str) -> None:
    """Counts per state, per channel, and the next due time."""
    with open_store(db) as store:
        status = store.status()
    next_due = status.next_due.strftime("%Y-%m-%dT%H:%M:%SZ") if status.next_due else None
    if output_format == "json":
        echo_json(
            {
                "counts": dict(status.counts),
                "per_channel": {k: dict(v) for k, v in status.per_channel.items()},
                "next_due": next_due,
                "holds": [entry.to_dict() for entry in status.holds],
            }
        )
        return
    click.echo(counts_text(status.counts))
    for channel, counts in sorted(status.per_channel.items()):
        click.echo(f"  {channel}: {counts_text(counts, skip_zero=True)}")
    click.echo(f"next due: {next_due or 'nothing scheduled'}")
    for entry in status.holds:
        kind = "credentials hold" if entry.credentials else "paused"
        click.echo(
            f"{kind}: {entry.hold.describe()} since {entry.at:%Y-%m-%d %H:%M}Z by {entry.actor}"
            + (f": {entry.reason}" if entry.reason else "")
        )


@click.command("log")
@db_option
@click.option("--post", metavar="ID")
@click.option("--segment", metavar="NAME")
@click.option("--channel", metavar="NAME")
@click.option("--delivery", metavar="ID")
@click.option(
    "--since", callback=parse_since, metavar="WHEN", help="ISO time (UTC) or age: 2h, 3d."
)
@format_option("table", "json")
def log_command(
    db: str | None,
    post: str | None,
    segment: str | None,
    channel: str | None,
    delivery: str | None,
    since: datetime | None,
    output_format: str,
) -> None:
    """The activity log: every state change with time, actor, reason, attempt, receipt."""
    with open_store(db) as store:
        entries = store.log(
            post=post, segment=segment, channel=channel, delivery=delivery, since=since
        )
    if output_format == "json":
        echo_json([entry.to_dict() for entry in entries])
        return
    for e in entries:
        change = f"{e.from_state or '-'} -> {e.to_state}"
        receipt = f" receipt={e.receipt.get('remote_id')}" if e.receipt else ""
        media = "".join(
            f" media={m['filename'] or '-'}@{m['digest'][:12]} "
            f"alt={json.dumps(m['alt'], ensure_ascii=False)}"
            for m in e.media
        )
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}Z {e.delivery_id} {e.post}/{e.segment}/{e.channel} "
            f"{change} #{e.attempt} by {e.actor}: {e.reason or ''}{receipt}{media}"
        )
