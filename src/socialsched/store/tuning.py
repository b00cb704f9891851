"""What an app or a test may change in the store, read at each use (so that
`monkeypatch.setattr(socialsched.store.tuning, "FANOUT_MIN_ROWS", 1)` takes effect)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Lifecycle events leave the store and the runner through `_emit` only, so they can be
# forwarded to plugin hooks in one place. Listeners get (event name, fields).
listeners: list[Callable[[str, Mapping[str, Any]], None]] = []

# Below this many rows, dropping and rebuilding indexes cannot pay off.
REBUILD_MIN_ROWS = 10_000
# Below this many new rows, temporary tables for SQLite to build them from cannot pay
# off (see `fanout`).
FANOUT_MIN_ROWS = 10_000
