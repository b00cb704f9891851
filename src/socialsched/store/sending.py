"""The sending mark on SQLite, written through the driver directly.

The mark is one committed UPDATE per delivery, just before the network is called
(`WorkerProtocol.mark_sending`). Through SQLAlchemy's engine a transaction costs about
a millisecond of Python on SQLite, more than the statement itself; this path runs the
same single statement (atomic on its own, in autocommit: the store's SQLite
connections leave transaction control to their user) and binds times as SQLAlchemy
stores them, so comparisons with other rows' times hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from .common import _naive
from .tables import deliveries

_MARK = (
    "UPDATE deliveries SET sending_at = ?{lease} "
    "WHERE id = ? AND state = 'claimed' AND claimed_by = ?"
)


def mark_sqlite(
    engine: Engine, delivery_id: str, worker: str, now: datetime, lease: timedelta | None
) -> bool:
    """Set the sending mark of `delivery_id` (and extend its lease by `lease`) while
    `worker` holds its claim; whether it did."""
    to_text: Any = deliveries.c.sending_at.type.bind_processor(engine.dialect) or str
    moment = _naive(now)
    values: list[Any] = [to_text(moment)]
    if lease is not None:
        values.append(to_text(moment + lease))
    statement = _MARK.format(lease=", lease_until = ?" if lease is not None else "")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(statement, (*values, delivery_id, worker))
        marked = cursor.rowcount
        cursor.close()
        raw.commit()
    finally:
        raw.close()
    return bool(marked)
