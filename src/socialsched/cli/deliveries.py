"""The commands on single deliveries in the store: `cancel`, `resolve`, `publish-now`,
`retract` and `approve`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from .options import db_option, state_dir_option
from .stores import journal, open_store


@click.command("cancel")
@click.argument("delivery_id", metavar="ID")
@click.option("--reason", metavar="TEXT")
@db_option
def cancel_command(delivery_id: str, reason: str | None, db: str | None) -> None:
    """Cancel a delivery that has not gone out."""
    with open_store(db) as store:
        record = store.cancel(delivery_id, reason=reason)
    click.echo(f"{record.id} {record.state}")


@click.command("resolve")
@click.argument("delivery_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--sent", "sent", flag_value=True, default=None, help="It went out: record it.")
@click.option("--resend", "sent", flag_value=False, help="It did not: send it again now.")
@click.option("--reason", metavar="TEXT", help="Why (goes to the activity log).")
@db_option
@state_dir_option
def resolve_command(
    delivery_ids: Sequence[str],
    sent: bool | None,
    reason: str | None,
    db: str | None,
    state_dir: Path | None,
) -> None:
    """Settle deliveries held in doubt (their runner died while publishing them and
    the network cannot say whether they went out): --sent records them published,
    --resend sends them again at once, in this process as publish-now does, under the
    same idempotency key (a transient error leaves them scheduled for a runner's
    retry)."""
    if sent is None:
        raise click.UsageError("give --sent (it went out) or --resend (send it again)")
    with open_store(db) as store:
        records = [store.resolve(i, sent=sent, reason=reason) for i in delivery_ids]
        if not sent:
            from socialsched.runner import Runner

            runner = Runner(store, journal=journal(store, state_dir))
            try:
                runner.dispatch(ids=[record.id for record in records])
            finally:
                runner.receipts.close()
            records = [store.get(record.id) for record in records]
        for record in records:
            click.echo(f"{record.id} {record.state}")
            if not sent and record.state != "published" and record.last_error:
                click.echo(f"  {record.last_error}", err=True)


@click.command("publish-now")
@click.argument("delivery_id", metavar="ID")
@db_option
@state_dir_option
def publish_now_command(delivery_id: str, db: str | None, state_dir: Path | None) -> None:
    """Publish one delivery now, in this process."""
    from socialsched.runner import Runner

    with open_store(db) as store:
        runner = Runner(store, journal=journal(store, state_dir))
        try:
            record = runner.publish_now(delivery_id)
        finally:
            runner.receipts.close()
    click.echo(f"{record.id} {record.state}")
    if record.state != "published":
        detail = record.last_error or (
            "waiting for approval" if record.requires_approval and not record.approved else ""
        )
        raise click.ClickException(f"delivery {record.id} was not published: {detail}")


@click.command("retract")
@click.argument("delivery_id", metavar="ID")
@db_option
def retract_command(delivery_id: str, db: str | None) -> None:
    """Delete a published delivery from its network."""
    from socialsched.runner import Runner

    with open_store(db) as store:
        record = Runner(store).retract(delivery_id)
    click.echo(f"{record.id} retracted")


@click.command("approve")
@click.argument("delivery_id", metavar="ID", required=False)
@click.option("--post", metavar="ID", help="Approve every pending delivery of this post.")
@db_option
def approve_command(delivery_id: str | None, post: str | None, db: str | None) -> None:
    """Approve a delivery (or all of --post) of a post with requires_approval."""
    if (delivery_id is None) == (post is None):
        raise click.UsageError("give a delivery ID or --post, not both")
    with open_store(db) as store:
        count = store.approve(delivery_id, post=post)
    click.echo(f"approved {count} deliveries")
