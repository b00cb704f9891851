"""Whether a runner's store can be used right now, and if not, why.

`/readyz` and `/metrics` (`socialsched_store_up`) ask this. Three ways a store fails:

- `missing`: its SQLite file was deleted or replaced by another file. SQLite gives no
  error: the runner's open connections go on with the deleted file, and a new one would
  create an empty database in its place, so the file itself is compared with the one
  the store opened (device and inode).
- `read_only`: the SQLite file (or its folder) cannot be written, or PostgreSQL answers
  read-only (a standby, `default_transaction_read_only`).
- `unreachable`: the database does not answer, or the outbox's tables are gone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import attrs
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .common import describe_database_error
from .facade import Store

REASONS = ("missing", "read_only", "unreachable")
"""Why a store cannot be used (`StoreHealth.reason`)."""


@attrs.frozen
class StoreHealth:
    """The answer of `StoreProbe.check`: `up`, else the `reason` (one of `REASONS`)
    and a one-line `detail` for an operator."""

    up: bool
    reason: str | None = None
    detail: str = ""

    def describe(self) -> str:
        """ "database read-only: ..." and the like; "" when up."""
        if self.up:
            return ""
        return f"database {str(self.reason).replace('_', '-')}: {self.detail}"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite"):
        return None
    name = url.split(":///", 1)[1] if ":///" in url else ""
    name = name.split("?", 1)[0]
    if not name or name == ":memory:":
        return None
    return Path(name)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


class StoreProbe:
    """Checks `store` on request. Remembers which SQLite file the store had open when
    the probe was made, to notice it deleted or replaced later."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = sqlite_path(store.url)
        self._identity = None if self.path is None else _identity(self.path)

    def check(self) -> StoreHealth:
        """The store's health now (a file check on SQLite, then one query)."""
        if self.path is not None:
            file_problem = self._file_problem(self.path)
            if file_problem is not None:
                return file_problem
        problem = self.store.unreachable()
        if problem is not None:
            return StoreHealth(False, "unreachable", problem)
        if getattr(self.store, "is_postgresql", False):
            return self._postgresql()
        return StoreHealth(True)

    def _file_problem(self, path: Path) -> StoreHealth | None:
        identity = _identity(path)
        if identity is None:
            return StoreHealth(False, "missing", f"the SQLite file {path} was deleted")
        if self._identity is not None and identity != self._identity:
            return StoreHealth(
                False, "missing", f"the SQLite file {path} was replaced by another file"
            )
        if not _writable(path):
            return StoreHealth(False, "read_only", f"the SQLite file {path} cannot be written")
        if not _writable(path.parent, folder=True):
            # SQLite writes its journal beside the database.
            return StoreHealth(
                False, "read_only", f"the folder of the SQLite file {path} cannot be written"
            )
        return None

    def _postgresql(self) -> StoreHealth:
        try:
            with self.store.engine.connect() as connection:
                read_only, standby = connection.execute(
                    text("SELECT current_setting('transaction_read_only'), pg_is_in_recovery()")
                ).one()
        except SQLAlchemyError as error:
            return StoreHealth(False, "unreachable", describe_database_error(error))
        if standby:
            return StoreHealth(False, "read_only", "PostgreSQL is a standby (in recovery)")
        if read_only == "on":
            return StoreHealth(False, "read_only", "PostgreSQL answers read-only transactions")
        return StoreHealth(True)


def _writable(path: Path, *, folder: bool = False) -> bool:
    """Whether this process can write `path`. The mode's write bits are asked for
    too: root may write a file whose mode forbids it, but whoever took those bits
    away meant the database to be read-only."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    access = os.W_OK | (os.X_OK if folder else 0)
    return bool(mode & bits) and os.access(path, access)


__all__ = ["REASONS", "StoreHealth", "StoreProbe", "sqlite_path"]
