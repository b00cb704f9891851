"""How the command line logs: human-readable lines, or one JSON object per line.

`--log-format json` is for log collectors (journald, Loki, Elasticsearch...): each line
is an object with `time` (UTC, ISO 8601), `level`, `logger`, `message` and the fields
the runner attaches to what it logs (`extra=`): `worker`, `delivery`, `channel`,
`event` and `error`, null when a line has none. Every line, in either format, passes
through the secret redactor, so a secret an adapter read never reaches the output even
when an error message repeats it.

Libraries' loggers (APScheduler, httpx, httpcore, SQLAlchemy, Alembic) stay at WARNING
unless `--verbose`: their INFO lines (a scheduler job per poll, a line per HTTP request)
would drown the runner's own. With `--log-format json`, what a command writes to
standard error besides log lines (its closing summary, an error that stops it, a usage
error) goes out as JSON lines too (`write`), so a collector can parse every line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from socialsched.trust.redaction import redact

LOG_FORMATS = ("text", "json")
FIELDS = ("worker", "delivery", "channel", "event", "error")
"""The structured fields a log line may carry (`logger.info(..., extra={...})`)."""
_HANDLER_NAME = "socialsched-cli"
THIRD_PARTY = ("apscheduler", "httpx", "httpcore", "sqlalchemy", "alembic")
"""Libraries' loggers kept at WARNING unless `verbose` (see `configure`)."""
DATA_FIELD = "data"
"""A record attribute (`extra={"data": {...}}`) whose keys become fields of a JSON line."""

# The format of the handler `configure` installed last (or asked for on the command
# line before it was installed): what `write` follows.
_state: dict[str, str] = {"format": "text"}


def _redacted(value: Any) -> Any:
    """`value` with every string in it redacted (dicts and lists walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


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
        data = getattr(record, DATA_FIELD, None)
        if isinstance(data, Mapping):
            line.update({key: value for key, value in data.items() if key not in line})
        # Redacted before encoding: JSON escapes could hide a secret from the redactor.
        return json.dumps(_redacted(line), ensure_ascii=False, default=str)


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


class _ExpectedSkips(logging.Filter):
    """Drops APScheduler's warning that a wake-up was skipped because the runner's pass
    is still going: one pass at a time is by design (a long batch would otherwise say
    so at every poll)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_EXPECTED_SKIPS = _ExpectedSkips()


def configure(
    log_format: str = "text",
    *,
    level: int = logging.INFO,
    worker: str | None = None,
    stream: TextIO | None = None,
    verbose: bool = False,
) -> logging.Handler:
    """Send socialsched's logs (and its libraries') to `stream` (standard error) in
    `log_format`; `worker` is the default worker field. Libraries' loggers
    (`THIRD_PARTY`) stay at WARNING unless `verbose`. Calling it again replaces the
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
    for name in THIRD_PARTY:
        # NOTSET: follow the root's level. SQLAlchemy logs every statement at INFO and
        # APScheduler two lines per poll: only on request.
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    scheduler = logging.getLogger("apscheduler.scheduler")
    scheduler.removeFilter(_EXPECTED_SKIPS)
    if not verbose:
        scheduler.addFilter(_EXPECTED_SKIPS)
    # In JSON, Python's warnings must be log lines too, not free text on stderr.
    logging.captureWarnings(log_format == "json")
    _state["format"] = log_format
    return handler


def current_format() -> str:
    """The log format in force ("text" until `configure` or `prefer` says otherwise)."""
    return _state["format"]


def prefer(log_format: str) -> None:
    """Use `log_format` for `write` before `configure` runs (a command line asking for
    JSON whose parsing fails must still get its error as JSON)."""
    if log_format in LOG_FORMATS:
        _state["format"] = log_format


def requested_format(args: Sequence[str]) -> str | None:
    """The last `--log-format` value in a command line's arguments, if any (read before
    click parses them, as parsing may fail)."""
    found = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--log-format" and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith("--log-format="):
            found = arg.split("=", 1)[1]
    return found


def write(
    message: str,
    *,
    level: int = logging.INFO,
    event: str | None = None,
    error: str | None = None,
    data: Mapping[str, Any] | None = None,
    logger: str = "socialsched.cli",
) -> None:
    """Write one thing a command says on standard error, whatever the log level: as
    is in text (as `click.echo(..., err=True)` would), as a JSON line in JSON (`event`,
    `error`, and `data`'s keys as fields). For summaries and errors, not log lines."""
    if _state["format"] != "json":
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        return
    record = logging.LogRecord(logger, level, __file__, 0, message, None, None)
    record.event, record.error = event, error
    if data is not None:
        setattr(record, DATA_FIELD, dict(data))
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == _HANDLER_NAME]
    if handlers:
        handlers[0].handle(record)  # its filters give the worker field
        return
    sys.stderr.write(JsonFormatter().format(record) + "\n")
    sys.stderr.flush()


__all__ = [
    "DATA_FIELD",
    "FIELDS",
    "LOG_FORMATS",
    "THIRD_PARTY",
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "current_format",
    "prefer",
    "requested_format",
    "write",
]
