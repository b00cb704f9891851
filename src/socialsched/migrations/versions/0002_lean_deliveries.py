"""Leaner deliveries: no fingerprint column, rate-limit index on sent deliveries only;
the segment's quiet hours kept with each delivery.

Whether a planned delivery changed is now decided by comparing its stored planned
values with the new plan's, so the fingerprint (a hash of those same values) goes. The
(channel, sent_at) index only serves counts of sent deliveries, so unsent ones (all new
ones) no longer need an entry. `quiet_hours` hands adapters the segment's quiet hours
(Telegram's silent delivery); deliveries planned before it have none until the next
`schedule` fills them in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SENT = sa.text("sent_at IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_deliveries_channel_sent", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("fingerprint")
        batch.add_column(sa.Column("quiet_hours", sa.Text()))
    op.create_index(
        "ix_deliveries_channel_sent",
        "deliveries",
        ["channel", "sent_at"],
        sqlite_where=_SENT,
        postgresql_where=_SENT,
    )


def downgrade() -> None:
    # Revision 0001 compares fingerprints: an empty one makes the next `schedule`
    # rewrite each unsent delivery once with the same values, which is harmless.
    op.drop_index("ix_deliveries_channel_sent", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("quiet_hours")
        batch.add_column(sa.Column("fingerprint", sa.String(40), nullable=False, server_default=""))
    op.create_index("ix_deliveries_channel_sent", "deliveries", ["channel", "sent_at"])
