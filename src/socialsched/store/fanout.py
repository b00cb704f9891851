"""A plan's new rows built by SQLite itself, for a first schedule of a range.

Each route's shared values and each timing's slot values go into temporary tables
once; per delivery only its id, route, slot and text (and media and thread parts, where
the plan has any) are bound; one `INSERT ... SELECT` joins them into a `deliveries` row
per delivery, in plan order. Binding costs the sqlite3 driver more than storing the
value, and building a tuple of every column per delivery costs Python as much again:
at 200,000 deliveries this takes about a third off the time of building and binding
every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from .columns import _PLANNED_COLUMNS, NEW_STATE, NEW_STATE_ACTOR

if TYPE_CHECKING:
    from .rows import RoutedPlan, _RowBuilder

_ROUTE_COLUMNS = (
    "post",
    "segment",
    "channel",
    "adapter",
    "locale",
    "audience",
    "tags",
    "quiet_hours",
    "grace_s",
    "requires_approval",
)
_SLOT_COLUMNS = ("utc", "local", "local_day", "holiday", "shifted_from", "reason", "deadline")
# Bound once, as parameters of the INSERT ... SELECT, in this order.
_CONSTANT_COLUMNS = ("calendar", "state_actor", "updated_at", "state")


def insert_fanned_out(
    connection: Connection, builder: _RowBuilder, plan: RoutedPlan, route_ids: Sequence[list[str]]
) -> None:
    """Insert a `deliveries` row for every delivery of `plan` (whose ids, route by route,
    are `route_ids`), in plan order, with the values `builder` gives rows."""
    routes: list[tuple[Any, ...]] = []
    slots: list[tuple[Any, ...]] = []
    # One run of slots per (timing, grace), as the deadline depends on both: where each
    # run starts in `slots`, whose positions are the slots' keys.
    starts: dict[int, int] = {}
    per_route: list[list[tuple[Any, ...]]] = []
    has_media = any(route.media is not None for route in plan.routes)
    has_parts = any(route.parts is not None for route in plan.routes)
    for number, (route, ids) in enumerate(zip(plan.routes, route_ids, strict=True)):
        values = builder.timing_values(route)
        start = starts.get(id(values))
        if start is None:
            start = starts[id(values)] = len(slots)
            slots += [(start + slot, *slot_values) for slot, slot_values in enumerate(values)]
        routes.append((number, *builder.route_head(route)))
        columns: list[Any] = [repeat(None) if route.texts is None else route.texts]
        if has_media:
            columns.append(map(builder.media_value, route.media or repeat((), len(ids))))
        if has_parts:
            columns.append(map(builder.parts_value, route.parts or repeat((), len(ids))))
        keys = range(start, start + len(ids))
        per_route.append(list(zip(ids, repeat(number), keys, *columns, strict=False)))
    new = plan.gather(per_route)
    own = ["text", *(["media"] if has_media else []), *(["parts"] if has_parts else [])]

    sources = {
        **{name: f"plan_routes.{name}" for name in _ROUTE_COLUMNS},
        **{name: f"plan_slots.{name}" for name in _SLOT_COLUMNS},
        **{name: f"plan_new.{name}" for name in ("id", *own)},
        **dict.fromkeys(_CONSTANT_COLUMNS, "?"),
        "due": "plan_slots.utc",
    }
    # Media and thread parts of a plan without any stay NULL, as the table's default.
    columns_set = [name for name in _PLANNED_COLUMNS if name in sources]
    constants = {
        "calendar": builder.calendar.name,
        "state_actor": NEW_STATE_ACTOR,
        "updated_at": builder.db_now,
        "state": NEW_STATE,
    }
    execute = connection.exec_driver_sql
    execute(
        "CREATE TEMP TABLE plan_routes (number INTEGER PRIMARY KEY, "
        + ", ".join(_ROUTE_COLUMNS)
        + ")"
    )
    execute(f"CREATE TEMP TABLE plan_slots (key INTEGER PRIMARY KEY, {', '.join(_SLOT_COLUMNS)})")
    execute(f"CREATE TEMP TABLE plan_new (id, route INTEGER, slot INTEGER, {', '.join(own)})")
    try:
        for table, rows in (("plan_routes", routes), ("plan_slots", slots), ("plan_new", new)):
            if rows:
                markers = ", ".join(["?"] * len(rows[0]))
                execute(f"INSERT INTO {table} VALUES ({markers})", rows)
        execute(
            f"INSERT INTO deliveries ({', '.join(columns_set)}) "
            f"SELECT {', '.join(sources[name] for name in columns_set)} FROM plan_new "
            "JOIN plan_routes ON plan_routes.number = plan_new.route "
            "JOIN plan_slots ON plan_slots.key = plan_new.slot "
            "ORDER BY plan_new.rowid",
            tuple(constants[name] for name in columns_set if sources[name] == "?"),
        )
    finally:
        for table in ("plan_routes", "plan_slots", "plan_new"):
            execute(f"DROP TABLE IF EXISTS temp.{table}")
