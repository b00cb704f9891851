"""Alembic environment: always runs on the connection `Store` hands over."""

from __future__ import annotations

from alembic import context

from socialsched.migrations import VERSION_TABLE
from socialsched.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
