"""The durable outbox: planned deliveries in a relational database, and their history.

`Store` keeps every delivery with its state (scheduled, paused, claimed, published,
failed, cancelled, missed) in SQLite (a file, the default) or PostgreSQL, through
SQLAlchemy Core. Every state change is appended to the activity log with its time,
actor, reason, attempt and receipt. The schema is created and upgraded by the Alembic
migrations shipped in `socialsched/migrations`, run when the store is opened.

The package is split by responsibility: `common` (database URL, errors, events),
`records` (what the store hands out), `rows` and `bulk` (turning a plan into rows,
dialect-specific bulk SQL), `core` (engine, migrations, activity log), `queries`,
`operator` (holds and operator transitions), `worker` (claim, lease, finish) and
`reconcile` (scheduling a plan); `Store` (in `facade`) combines them.
"""

from __future__ import annotations

from .approvals import DESTINATION_NOT_APPROVED, Approval
from .common import DEFAULT_DB as DEFAULT_DB
from .common import DEFAULT_MISFIRE_GRACE as DEFAULT_MISFIRE_GRACE
from .common import ENV_DB as ENV_DB
from .common import Clock as Clock
from .common import StoreError, database_url, describe_database_error
from .common import _emit as _emit
from .facade import Store
from .records import (
    CREDENTIALS_REJECTED,
    OUTCOMES,
    RUNNER_ACTOR,
    Activity,
    Hold,
    HoldEntry,
    Outcomes,
    ReconcileResult,
    Record,
    Status,
)

# Lifecycle listeners (event name, fields): `socialsched.store.tuning.listeners`, the
# same list, which tests replace.
from .tuning import listeners

__all__ = [
    "CREDENTIALS_REJECTED",
    "DESTINATION_NOT_APPROVED",
    "OUTCOMES",
    "RUNNER_ACTOR",
    "Activity",
    "Approval",
    "Hold",
    "HoldEntry",
    "Outcomes",
    "ReconcileResult",
    "Record",
    "Status",
    "Store",
    "StoreError",
    "database_url",
    "describe_database_error",
    "listeners",
]
