"""The outbox: deliveries, activity log, pause holds and channel settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("calendar", sa.String(200), nullable=False),
        sa.Column("post", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("adapter", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("utc", sa.DateTime(), nullable=False),
        sa.Column("local", sa.String(40), nullable=False),
        sa.Column("local_day", sa.String(10), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("audience", sa.Text()),
        sa.Column("tags", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("holiday", sa.String(200)),
        sa.Column("shifted_from", sa.String(40)),
        sa.Column("reason", sa.String(200)),
        sa.Column("fingerprint", sa.String(40), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("state_actor", sa.String(100)),
        sa.Column("due", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime()),
        sa.Column("grace_s", sa.Integer()),
        sa.Column("requires_approval", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("approved", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("receipt", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_deliveries_state_due", "deliveries", ["state", "due"])
    op.create_index("ix_deliveries_calendar_day", "deliveries", ["calendar", "local_day"])
    op.create_index("ix_deliveries_channel_sent", "deliveries", ["channel", "sent_at"])
    op.create_table(
        "activity",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("post", sa.String(200), nullable=False),
        sa.Column("segment", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("from_state", sa.String(12)),
        sa.Column("to_state", sa.String(12), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("receipt", sa.Text()),
    )
    op.create_index("ix_activity_delivery", "activity", ["delivery_id"])
    op.create_index("ix_activity_at", "activity", ["at"])
    op.create_table(
        "holds",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("segment", sa.String(200)),
        sa.Column("channel", sa.String(200)),
        sa.Column("tag", sa.String(200)),
        sa.Column("post", sa.String(200)),
        sa.Column("reason", sa.Text()),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "channels",
        sa.Column("calendar", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("adapter", sa.String(100), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=False),
        sa.Column("rate", sa.String(40)),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channels")
    op.drop_table("holds")
    op.drop_table("activity")
    op.drop_table("deliveries")
