"""The jsonl adapter's log file: what its lines look like, and how it is opened.

The log's path comes from a calendar, so it may name a file that is not a log at all
(a shell profile, a config file). The adapter only ever appends, and only to a file
every line of which is one of its records; it never truncates or rewrites bytes.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO

LOG_RECORD_STARTS = (b'{"idempotency_key": ', b'{"deleted": ')
"""How every line the jsonl adapter writes begins: a file with any other line is not
its log, and it refuses to append to it."""


class LogRefused(Exception):
    """The file is not one the jsonl adapter may append to (the message says why)."""


def check_line(line: bytes, path: Path, offset: int) -> None:
    """Raise `LogRefused` unless `line` (at byte `offset` of `path`) starts as one of
    the adapter's records do."""
    if not line.startswith(LOG_RECORD_STARTS):
        raise LogRefused(
            f"{path} is not a socialsched jsonl log (the line at byte {offset} is not one "
            "of its records); socialsched never writes into other files: point "
            "settings.path at a new file"
        )


def record_key(line: bytes) -> str | None:
    """The idempotency key of a log line; None for a deletion or for a record a killed
    writer left unfinished (ended later by a newline, it is not JSON)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    key = record.get("idempotency_key") if isinstance(record, dict) else None
    return key if isinstance(key, str) else None


def open_log(path: Path) -> IO[bytes]:
    """`path` opened to read and append, created if missing: a regular file only (a
    FIFO or device is refused without blocking on it), never through a symlink.
    Raises `LogRefused`, or `OSError` when the file cannot be opened."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, 0o666)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise LogRefused(f"cannot write {path}: it is not a regular file")
    return os.fdopen(descriptor, "ab+")


__all__ = ["LOG_RECORD_STARTS", "LogRefused", "check_line", "open_log", "record_key"]
