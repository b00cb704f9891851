"""The built-in jsonl adapter: appends each message to a JSON Lines file."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from socialsched.calendar.model import Channel

from .base import Adapter
from .console import PRINTED, with_max_length
from .errors import PermanentError, TransientError
from .jsonl_log import LogRefused, check_line, open_log, record_key
from .messages import Message, Receipt


class JsonlAdapter(Adapter):
    """Appends one JSON object per published message to the file `settings.path`.

    Publishing the same idempotency key twice writes it once, even across processes
    (an exclusive file lock guards the check and the append), so it serves tests
    and audit trails. Attachments are recorded by description (type, size, digest,
    alt text), not their bytes; each thread part is one record. `settings.max_length`
    limits the text as a network would (threads are then split to fit).
    """

    name = "jsonl"
    capabilities = attrs.evolve(PRINTED, delete=True, idempotent=True)
    required_settings = ("path",)
    path_settings = ("path",)

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        path = channel.settings.get("path")
        if not path:
            raise PermanentError(f"channel {channel.name!r}: the jsonl adapter needs settings.path")
        self.path = Path(str(path))
        self.capabilities = with_max_length(self.capabilities, channel)
        self._keys: set[str] = set()
        self._offset = 0

    def _append(self, record: dict[str, Any], key: str | None) -> bool:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open_log(self.path) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_size < self._offset:
                    self._offset, self._keys = 0, set()  # replaced or truncated meanwhile
                # Catch up with what other processes appended since we last looked.
                end = self._offset
                handle.seek(end)
                for line in iter(handle.readline, b""):
                    check_line(line, self.path, end)
                    if not line.endswith(b"\n"):
                        # A writer was killed mid-line (its lock went with it): that
                        # record was never published. The bytes are not ours to cut:
                        # end the line, and readers skip it as a torn record.
                        handle.write(b"\n")
                        end += len(line) + 1
                        break
                    seen = record_key(line)
                    if seen:
                        self._keys.add(seen)
                    end += len(line)
                self._offset = end
                if key is not None and key in self._keys:
                    return False
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                self._offset = end + len(data)
                if key is not None:
                    self._keys.add(key)
                return True
        except LogRefused as error:
            raise PermanentError(str(error)) from None
        except OSError as error:
            raise TransientError(f"cannot write {self.path}: {error.strerror}") from None

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        record = {"idempotency_key": idempotency_key, **message.to_dict()}
        # Everything that could fail is done before the write: once the line is in the
        # file the message is published, and an error then would be counted as a
        # failed attempt of a post that went out.
        receipt = self._receipt(idempotency_key)
        self._append(record, idempotency_key)
        return receipt

    def _receipt(self, idempotency_key: str) -> Receipt:
        # absolute(): a channel built in Python may hold a relative path.
        url = f"{self.path.absolute().as_uri()}#{idempotency_key}"
        return Receipt(remote_id=idempotency_key, url=url)

    def verify(self) -> str:
        """Checks that the file (or the folder it will be made in) is writable."""
        path = self.path.absolute()
        # The file, or else the nearest folder that exists (the rest is made on demand).
        existing = next(p for p in (path, *path.parents) if p.exists())
        if existing == path and path.is_dir():
            raise PermanentError(f"cannot write {self.path}: it is a folder")
        if existing != path and not existing.is_dir():
            raise PermanentError(f"cannot write {self.path}: {existing} is a file")
        if not os.access(existing, os.W_OK):
            raise PermanentError(f"cannot write {self.path}: permission denied")
        return f"appends to {self.path}"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """The file is the network: a complete line with the key means it went out."""
        try:
            with self.path.open("rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # torn by a killed writer: never published
                    if record_key(line) == idempotency_key:
                        return self._receipt(idempotency_key)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise TransientError(f"cannot read {self.path}: {error.strerror}") from None
        return None

    def delete(self, receipt: Receipt) -> None:
        self._append({"deleted": receipt.remote_id}, None)
