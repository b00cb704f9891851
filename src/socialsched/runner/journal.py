"""The runner's receipt journal: a receipt the network gave is written here, fsynced,
before the runner records it in the database, so that no crash and no database outage
can lose it.

Each runner process appends to its own file in the state folder,
`receipts-<database>-<pid>-<random>.jsonl`, and holds an exclusive `flock` on it while
it lives (the kernel drops the lock when the process dies, even on SIGKILL). A runner
replays the files nobody holds (their runner is gone) before it claims anything: each
receipt is recorded (`Store.record_receipt`, `Store.keep_thread_part`), then the file
is removed. Recording a receipt twice is harmless (a published delivery is left as
is), so a file is never edited in place: its own runner empties it when everything in
it is recorded and it has grown past `ROTATE_BYTES`, and removes it on a clean stop.

Where the state folder is: `socialsched run --state-dir DIR`; else `$STATE_DIRECTORY`
(systemd's `StateDirectory=`); else `socialsched-state/` next to an SQLite database
file; else `$XDG_STATE_HOME/socialsched` (`~/.local/state/socialsched`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from socialsched.errors import SocialschedError

logger = logging.getLogger("socialsched.journal")

#: A runner's own journal file is emptied past this size once all of it is recorded.
ROTATE_BYTES = 1 << 20

#: The name of the state folder made next to an SQLite database file.
STATE_FOLDER = "socialsched-state"


def default_state_dir(url: str, environ: Mapping[str, str] | None = None) -> Path:
    """The state folder of a runner on the database at `url` when none is given: see
    the module's docstring."""
    environ = os.environ if environ is None else environ
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///")).resolve().parent / STATE_FOLDER
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "socialsched"


def database_tag(url: str) -> str:
    """A short name for the database at `url` (its password left out), so that runners
    on different databases may share one state folder."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite:///"):
        identity = "sqlite:" + str(Path(url.removeprefix("sqlite:///")).resolve())
    else:
        identity = make_url(url).set(password=None).render_as_string(hide_password=False)
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


@attrs.frozen
class Entry:
    """One receipt in a journal: the delivery, the thread part (None: the delivery as a
    whole) and what the store keeps of the receipt."""

    delivery: str
    part: int | None
    receipt: dict[str, Any]

    def to_line(self, worker: str) -> bytes:
        """The entry as one JSON line."""
        data = {
            "delivery": self.delivery,
            "part": self.part,
            "receipt": self.receipt,
            "worker": worker,
            "at": datetime.now(UTC).isoformat(),
        }
        return (json.dumps(data, default=str, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> Entry | None:
        """The entry of a line, or None for a line cut short by a crash."""
        try:
            data = json.loads(line)
            return cls(str(data["delivery"]), data.get("part"), dict(data["receipt"]))
        except (ValueError, KeyError, TypeError):
            return None


def _fsync_folder(folder: Path) -> None:
    """Make a file's creation (or removal) in `folder` survive a power loss."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Journal:
    """The receipt journal of one runner process on the database `url`, in `folder`."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = Path(folder)
        self._prefix = f"receipts-{database_tag(url)}-"
        self._descriptor: int | None = None
        self._path: Path | None = None
        self._unrecorded = 0
        #: Called before the file is emptied or removed: the store may have recorded
        #: its receipts without waiting for the disk (`Store.make_durable`).
        self.before_empty: Callable[[], None] | None = None
        self._kept = False  # whether keeping the file was already reported

    def __repr__(self) -> str:
        return f"<Journal {self.folder}>"

    def _open(self) -> int:
        if self._descriptor is not None:
            return self._descriptor
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{self._prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        # Held while this process lives: other runners replay only files nobody holds.
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_folder(self.folder)
        self._descriptor, self._path = descriptor, path
        return descriptor

    def prepare(self) -> Journal:
        """Create the state folder and this process's file now, so that a folder that
        cannot be used stops the runner before it sends anything."""
        try:
            self._open()
        except OSError as error:
            raise SocialschedError(
                f"cannot use the state folder {self.folder} for the receipt journal: "
                f"{error.strerror or error}; give a writable one with --state-dir"
            ) from None
        return self

    def write(self, entry: Entry, worker: str) -> None:
        """Append `entry` and wait until it is on disk (fdatasync)."""
        descriptor = self._open()
        line = entry.to_line(worker)
        # One write on an O_APPEND file: a crash leaves the line whole or cut short,
        # and a cut line is skipped on replay.
        written = os.write(descriptor, line)
        if written != len(line):
            raise OSError(errno.EIO, f"short write to {self._path}")
        os.fdatasync(descriptor)
        self._unrecorded += 1

    def recorded(self) -> None:
        """Say that the oldest entry not yet recorded is now in the database; once
        everything is and the file has grown past ROTATE_BYTES, it is emptied."""
        self._unrecorded = max(0, self._unrecorded - 1)
        if self._descriptor is None or self._unrecorded:
            return
        if os.fstat(self._descriptor).st_size > ROTATE_BYTES and self._durable():
            os.ftruncate(self._descriptor, 0)

    def entries(self) -> list[Entry]:
        """The entries of this process's own file (none before the first write)."""
        if self._path is None:
            return []
        with open(self._path, "rb") as file:
            return [entry for line in file if (entry := Entry.from_line(line)) is not None]

    def _durable(self) -> bool:
        """Whether what the store recorded is on its disk (`before_empty` succeeded)."""
        try:
            if self.before_empty is not None:
                self.before_empty()
        except Exception as error:  # the database is away or restarted: the file stays
            if not self._kept:  # said once: this runs again at every recorded receipt
                logger.warning(
                    "journal %s kept, to be replayed: the store cannot say its receipts are "
                    "on disk (%s)",
                    self._path,
                    type(error).__name__,  # not its text: a driver's may name the server
                )
            self._kept = True
            return False
        return True

    @property
    def unrecorded(self) -> int:
        """Entries this process wrote that are not recorded in the database yet."""
        return self._unrecorded

    def close(self) -> None:
        """Close this process's file; remove it when everything in it is recorded."""
        if self._descriptor is None or self._path is None:
            return
        if not self._unrecorded and self._durable():
            with contextlib.suppress(OSError):
                self._path.unlink()
        os.close(self._descriptor)
        self._descriptor = None

    def _orphans(self) -> Iterator[tuple[Path, int]]:
        """The journal files of runners that are gone, each opened and locked."""
        try:
            paths = sorted(self.folder.glob(f"{self._prefix}*.jsonl"))
        except OSError:
            return
        for path in paths:
            if path == self._path:
                continue
            try:
                descriptor = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # replayed and removed by another runner meanwhile
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)  # its runner is alive
                continue
            try:
                yield path, descriptor
            finally:
                os.close(descriptor)

    def replay(self, record: Callable[[Entry], Any]) -> int:
        """Hand `record` every receipt in the journals of runners that are gone, oldest
        first, then remove those files. An exception from `record` (the database is
        away) leaves the rest of the file for the next try. Returns the entries read."""
        count = 0
        for path, descriptor in self._orphans():
            with os.fdopen(os.dup(descriptor), "rb") as handle:
                lines = handle.read().splitlines()
            entries = [entry for line in lines if (entry := Entry.from_line(line)) is not None]
            for entry in entries:
                record(entry)
            count += len(entries)
            if entries:
                logger.info(
                    "replayed %d receipt(s) from %s",
                    len(entries),
                    path.name,
                    extra={"event": "journal_replayed"},
                )
            path.unlink(missing_ok=True)
            _fsync_folder(self.folder)
        return count


def runner_journal(url: str, state_dir: str | Path | None = None) -> Journal:
    """The prepared journal of a runner on the database at `url`: in `state_dir`, else
    in `default_state_dir(url)`."""
    folder = Path(state_dir) if state_dir else default_state_dir(url)
    return Journal(folder, url).prepare()


__all__ = [
    "ROTATE_BYTES",
    "STATE_FOLDER",
    "Entry",
    "Journal",
    "database_tag",
    "default_state_dir",
    "runner_journal",
]
