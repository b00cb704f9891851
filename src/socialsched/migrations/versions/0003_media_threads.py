"""Media and threads: media bytes kept in the store by digest, the files they were read
from, their fitted variants; each delivery's media and thread parts; the receipt of
each thread part already out; the media a published entry of the log sent.

Deliveries planned before this revision have no media and no parts (NULL), which is
what they had.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("media", sa.Text()))
        batch.add_column(sa.Column("parts", sa.Text()))
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("media", sa.Text()))
    op.create_table(
        "media",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("animated", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "media_sources",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "media_variants",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("limits_key", sa.String(200), primary_key=True),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "thread_parts",
        sa.Column("delivery_id", sa.String(40), primary_key=True),
        sa.Column("part", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    # Revision 0002 publishes text only: stored media and thread parts are dropped.
    op.drop_table("thread_parts")
    op.drop_table("media_variants")
    op.drop_table("media_sources")
    op.drop_table("media")
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("media")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("parts")
        batch.drop_column("media")
