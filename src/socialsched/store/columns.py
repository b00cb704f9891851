"""The `deliveries` columns a plan sets, shared by the ways rows are built and
inserted (`rows`, `fanout`) and compared (`reconcile`)."""

_CONTENT_COLUMNS = (
    "post",
    "segment",
    "channel",
    "adapter",
    "locale",
    "utc",
    "local",
    "local_day",
    "text",
    "audience",
    "tags",
    "holiday",
    "shifted_from",
    "reason",
    "quiet_hours",
    "grace_s",
    "requires_approval",
    "media",
    "parts",
)
"""The `deliveries` columns that say what a plan wants of a delivery: a delivery whose
stored values equal the new plan's is unchanged."""
_PLANNED_COLUMNS = (
    "id",
    "calendar",
    *_CONTENT_COLUMNS,
    "due",
    "deadline",
    "state_actor",
    "updated_at",
    "state",
)
"""The `deliveries` columns a plan sets, in the order of `PlannedRows` values."""

#: What a new row's state_actor and state are (state: paused instead where a pause
#: rule holds it).
NEW_STATE_ACTOR, NEW_STATE = "schedule", "scheduled"
