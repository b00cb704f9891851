"""Destinations the operator approved per channel, and the sending mark.

`destination_approvals` keeps, per calendar and channel, the secret names and the
destination origins they may be sent to, as the operator approved them with
`socialsched channels approve`. A channel whose secrets would go anywhere else is held.

`deliveries.sending_at` is set, durably, just before the runner calls the network for
a delivery (or one of its thread parts): after a crash only deliveries with that mark
are in doubt; claimed deliveries without it were never sent.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destination_approvals",
        sa.Column("calendar", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("adapter", sa.String(100), nullable=False),
        # JSON: {secret name: destination origin}, as approved.
        sa.Column("destinations", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("sending_at", sa.DateTime()))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("sending_at")
    op.drop_table("destination_approvals")
