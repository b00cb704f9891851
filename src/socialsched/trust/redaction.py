"""Keeping secret values out of HTTP client logs.

httpx logs every request's full URL at INFO level, and for many networks the URL is a
credential (a webhook URL, a bot token in the path). Every secret an adapter reads
through `Adapter.secret` or `Adapter.env_secret` is registered here, and a filter on
the `httpx` and `httpcore` loggers replaces it with a label naming where it came from.
"""

from __future__ import annotations

import logging

HTTP_LOGGERS = ("httpx", "httpcore")
# Shorter values would be replaced inside ordinary words; no real credential is this short.
_MIN_SECRET_LENGTH = 6


class SecretRedactor(logging.Filter):
    """Rewrites log records that contain a registered secret value."""

    def __init__(self) -> None:
        super().__init__()
        self._labels: dict[str, str] = {}

    def register(self, secret: str, label: str) -> None:
        """Show `label` in place of `secret` (a URL: also any longer URL starting with it)."""
        if len(secret) >= _MIN_SECRET_LENGTH:
            self._labels[secret.rstrip("/")] = label

    def redact(self, text: str) -> str:
        """`text` with every registered secret replaced by `[label]`."""
        # Longest first, so a webhook URL is replaced whole before a token inside it.
        for secret in sorted(self._labels, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, f"[{self._labels[secret]}]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._labels:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


REDACTOR = SecretRedactor()
for _name in HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(REDACTOR)


def redact(text: str) -> str:
    """`text` with every secret an adapter read replaced by a label naming its source
    (for error messages kept in the store or logged)."""
    return REDACTOR.redact(text)


def hide_secret(secret: str, label: str) -> None:
    """Never let `secret` appear in HTTP client logs; `label` stands in for it."""
    REDACTOR.register(secret, label)
