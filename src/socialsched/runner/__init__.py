"""The runner: claims due deliveries from the store and publishes them through their
channels' adapters (`Runner`), with what an operator watches it by: its log lines
(`logs`), metrics and health endpoints (`metrics`), alerts (`alerts`), the receipt
journal that survives a crash (`journal`, `receipts`) and the start-up checks
(`preflight`).

The names below are loaded when first used: `socialsched.runner.logs` configures
logging for every command, and must not pull in SQLAlchemy and APScheduler with it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import QUOTA_RECHECK, Runner, worker_name
    from .doubts import FOUND, on_doubt
    from .loops import DATABASE_RETRY_MAX
    from .threads import receipt_data

_WHERE = {
    "QUOTA_RECHECK": "core",
    "Runner": "core",
    "worker_name": "core",
    "FOUND": "doubts",
    "on_doubt": "doubts",
    "DATABASE_RETRY_MAX": "loops",
    "receipt_data": "threads",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATABASE_RETRY_MAX",
    "FOUND",
    "QUOTA_RECHECK",
    "Runner",
    "on_doubt",
    "receipt_data",
    "worker_name",
]
