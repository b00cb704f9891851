"""Keeping webhook URLs out of logs.

httpx logs every request's full URL at INFO level ("HTTP Request: POST https://..."),
and a webhook URL is a credential. Each URL this adapter sends to is registered here,
and a filter on the `httpx` logger replaces it with the name of the secret it came from.
"""

from __future__ import annotations

import logging

HTTPX_LOGGER = "httpx"


class RedactWebhookUrls(logging.Filter):
    """Rewrites log records that mention a registered webhook URL."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def register(self, url: str, name: str) -> None:
        """Hide `url` (and any URL starting with it) behind `name` in httpx logs."""
        self._names[url.rstrip("/")] = name

    def _redact(self, value: object) -> object:
        text = str(value)
        for url, name in self._names.items():
            if url in text:
                return text.replace(url, f"[webhook {name}]")
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(arg) for arg in record.args)
        elif record.args is None or not record.args:
            record.msg = self._redact(record.msg)
        return True


REDACTOR = RedactWebhookUrls()
logging.getLogger(HTTPX_LOGGER).addFilter(REDACTOR)
