"""Opening the store and the receipt journal a command works on (imported when a
command runs: SQLAlchemy is not loaded for the commands that only plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_store(db: str | None) -> Any:
    from socialsched.store import Store

    return Store(db)


def journal(store: Any, state_dir: Path | None) -> Any:
    """The receipt journal of a runner on `store` (see socialsched.runner.journal)."""
    from socialsched.runner.journal import runner_journal

    return runner_journal(store.url, state_dir)
