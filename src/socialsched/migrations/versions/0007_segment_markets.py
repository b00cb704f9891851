"""Segment markets: each scheduled segment's time zone and country.

Engagement reports group by country and by local hour in each segment's own time
zone; `deliveries` keeps neither. `schedule` records them per calendar and segment.
A store scheduled before this revision has no rows until the next `schedule`: reports
then read local hours with the offset each delivery was planned with.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_markets",
        sa.Column("calendar", sa.String(200), primary_key=True),
        sa.Column("segment", sa.String(200), primary_key=True),
        sa.Column("timezone", sa.String(100), nullable=False),
        sa.Column("country", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("segment_markets")
