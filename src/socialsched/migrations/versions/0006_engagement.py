"""Engagement: snapshots of what each network says of published deliveries.

`engagement` keeps one row per delivery and fetch (a time series), each count NULL
where the network gives none. `engagement_progress` says, per delivery, which age
after publishing was collected last (so a delivery is due once it reaches the next
one, and an interrupted collection goes on where it stopped). `engagement_calls`
counts the calls made against each channel's rate; `engagement_leases` says which
collector is collecting a channel now. `runner_settings.collect_after`
keeps each calendar's ages (NULL: the default 1 h, 24 h and 7 d).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "engagement",
        sa.Column("delivery_id", sa.String(40), primary_key=True),
        sa.Column("fetched_at", sa.DateTime(), primary_key=True),
        sa.Column("age_s", sa.Integer(), nullable=False),
        sa.Column("likes", sa.BigInteger()),
        sa.Column("reposts", sa.BigInteger()),
        sa.Column("replies", sa.BigInteger()),
        sa.Column("quotes", sa.BigInteger()),
        sa.Column("views", sa.BigInteger()),
        sa.Column("clicks", sa.BigInteger()),
        sa.Column("parts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_engagement_fetched_at", "engagement", ["fetched_at"])
    op.create_table(
        "engagement_progress",
        sa.Column("delivery_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("age_s", sa.Integer(), nullable=False),
        sa.Column("collected_at", sa.DateTime(), nullable=False),
        sa.Column("found", sa.Boolean()),
        sa.Column("fetched_at", sa.DateTime()),
        sa.Column("snapshots", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("collected_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_engagement_progress_collected_by", "engagement_progress", ["collected_by"])
    op.create_table(
        "engagement_calls",
        sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
        sa.Column("calendar", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("receipts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_engagement_calls_channel_at", "engagement_calls", ["channel", "at"])
    op.create_table(
        "engagement_leases",
        sa.Column("calendar", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("runner_settings") as batch:
        batch.add_column(sa.Column("collect_after", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("runner_settings") as batch:
        batch.drop_column("collect_after")
    op.drop_table("engagement_leases")
    op.drop_table("engagement_calls")
    op.drop_table("engagement_progress")
    op.drop_table("engagement")
