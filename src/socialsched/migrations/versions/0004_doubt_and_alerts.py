"""Channels keep `on_doubt`; each calendar's `[runner]` settings (alert channels and
window) are kept so `socialsched run` knows where to send alerts.

`on_doubt` says what the runner does with a delivery whose worker died while
publishing it and whose network cannot be asked whether it went out; NULL is the
default (resend where the adapter is idempotent, else hold). Deliveries in doubt and
held use a new state value, "doubt", which needs no schema change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("on_doubt", sa.String(10)))
    op.create_table(
        "runner_settings",
        sa.Column("calendar", sa.String(200), primary_key=True),
        sa.Column("alert_channels", sa.Text(), nullable=False),
        sa.Column("alert_window_s", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runner_settings")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("on_doubt")
    # Revision 0003 knows no "doubt" state: such deliveries wait for an operator, and
    # "failed" is the state that does too (publish-now sends them again).
    op.execute(
        "UPDATE deliveries SET state = 'failed', last_error = 'in doubt (downgraded)' "
        "WHERE state = 'doubt'"
    )
