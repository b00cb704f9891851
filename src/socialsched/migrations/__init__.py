"""Alembic migrations of the outbox schema, run programmatically by `Store`."""
