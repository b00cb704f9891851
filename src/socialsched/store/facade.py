"""`Store`, the one public face of the durable outbox, composed of the parts that
each own one responsibility."""

from __future__ import annotations

from .operator import Operations
from .reconcile import Reconciliation
from .worker import WorkerProtocol


class Store(Reconciliation, Operations, WorkerProtocol):
    """The outbox of deliveries and its activity log, in SQLite or PostgreSQL.

    `db` is a SQLAlchemy URL or an SQLite file path (default: $SOCIALSCHED_DB, else
    ./socialsched.db). `clock` returns the current time (aware UTC); tests inject one.
    `schema` (PostgreSQL only) puts every table in that schema, created if missing.
    """
