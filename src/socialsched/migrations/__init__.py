"""Alembic migrations of the outbox schema, run programmatically by `Store`."""

#: The table where alembic keeps a store's revision.
VERSION_TABLE = "socialsched_alembic_version"
#: The newest revision in `versions/`: a store already there needs no migration, which
#: `Store` can tell without importing alembic (a test checks it against alembic's head).
HEAD_REVISION = "0007"
