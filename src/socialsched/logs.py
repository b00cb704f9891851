"""How the command line logs: human-readable lines, or one JSON object per line.

`--log-format json` is for log collectors (journald, Loki, Elasticsearch...): each line
is an object with `time` (UTC, ISO 8601), `level`, `logger`, `message` and the fields
the runner attaches to what it logs (`extra=`): `worker`, `delivery`, `channel`,
`event` and `error`, null when a line has none. Every line, in either format, passes
through the secret redactor, so a secret an adapter read never reaches the output even
when an error message repeats it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from .redaction import redact

LOG_FORMATS = ("text", "json")
FIELDS = ("worker", "delivery", "channel", "event", "error")
"""The structured fields a log line may carry (`logger.info(..., extra={...})`)."""
_HANDLER_NAME = "socialsched-cli"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            line[field] = None if value is None else str(value)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = line["error"] or f"{type(error).__name__}: {error}"
            line["traceback"] = self.formatException(record.exc_info)
        # Redacted before encoding: JSON escapes could hide a secret from the redactor.
        line = {
            key: redact(value) if isinstance(value, str) else value for key, value in line.items()
        }
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time logger level message`, secrets redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StandardError(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record (as logging's
    last-resort handler does), so a replaced standard error (tests, redirections) is
    followed instead of a stale one being written to."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _Defaults(logging.Filter):
    """Gives every record the process's worker name unless it names one itself."""

    def __init__(self, worker: str | None) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "worker", None) is None and self.worker is not None:
            record.worker = self.worker
        return True


def configure(
    log_format: str = "text",
    *,
    level: int = logging.INFO,
    worker: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send socialsched's logs (and its libraries') to `stream` (standard error) in
    `log_format`; `worker` is the default worker field. Calling it again replaces the
    handler it installed before. Returns the handler."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = _StandardError() if stream is None else logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_Defaults(worker))
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces every migration check at INFO.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    return handler


__all__ = ["FIELDS", "LOG_FORMATS", "JsonFormatter", "TextFormatter", "configure"]
