"""The `webhook` adapter: POSTs each message as JSON to a URL, signed as Standard
Webhooks sign (https://www.standardwebhooks.com; see `socialsched.webhook_signing`).

Channel configuration:

    [[channel]]
    name = "hooks"
    adapter = "webhook"
    settings = { url = "https://example.com/hook", timeout = 10, max_length = 500 }
    secrets = { signing_key = "HOOK_SIGNING_KEY" }   # granted secrets' names
    # secrets.url = "HOOK_URL" instead of settings.url when the URL itself is a secret

Each request carries `webhook-id` (the delivery's idempotency key: the receiver
should ignore an id it has seen), `webhook-timestamp` and `webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the signing key, which is
written `whsec_<base64>` (a key in another form is `CredentialsRejected`: the runner
holds the channel). `Idempotency-Key` repeats `webhook-id` for receivers written
before. Responses 429, 408 and 5xx, timeouts and connection failures are
`TransientError` (429/503 honour `Retry-After`); 401 and 403 are `CredentialsRejected`
(the runner holds the channel); other 4xx and redirects are `PermanentError`.
`verify` (the channel preflight) POSTs a signed ping, `{"type": "ping", "channel":
..., "time": ...}` with a `webhook-id` of its own: any answer but a 2xx fails it.

The body is `Message.to_dict()` plus `"type": "message"` and `idempotency_key`; its
`attachments` list carries each image or video inline: `kind`, `mime_type`, `size`,
`digest` (SHA-256 hex of the bytes), `width`, `height`, `alt`, `filename`, `source`
and `data` (the bytes, base64), all covered by the signature.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import httpx

from socialsched.calendar.model import Channel
from socialsched.media.model import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

from .base import Adapter, read_media
from .capabilities import Capabilities
from .errors import CredentialsRejected, PermanentError, TransientError
from .messages import Message, Receipt
from .webhook_signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    SigningKeyError,
    key_bytes,
    sign,
)
from .webhook_signing import verify as verify_signature

IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TIMEOUT = 10.0

log = logging.getLogger(__name__)


__all__ = [
    "IDEMPOTENCY_HEADER",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "WebhookAdapter",
    "parse_retry_after",
    "verify_signature",
]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class WebhookAdapter(Adapter):
    """POSTs each message as a signed JSON body to a URL (see the module docs)."""

    name = "webhook"
    # Every request is signed; the URL is either `settings.url` or `secrets.url`,
    # which the constructor checks (a declaration cannot say "one of").
    required_secrets = ("signing_key",)
    # The receiver decides what it accepts; the body carries media inline, so keep a
    # post's media within what one request can sensibly carry.
    capabilities = Capabilities(
        audiences=("any",),
        images=MediaLimits(max_count=10, max_bytes=20_000_000),
        videos=MediaLimits(max_count=1, max_bytes=100_000_000),
        mixed_media=True,
    )
    #: The receiver drops a repeated `Idempotency-Key`; it cannot be asked what it got.
    doubt_guarantee = "idempotent key (receiver)"
    #: Every secret goes to the URL's origin: `settings.url`, or the `url` secret's own.
    secret_destinations = declare(
        {"url": Destination(in_value=True), ANY_SECRET: Destination("url")}
    )

    @classmethod
    def destinations(
        cls, channel: Channel, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Each secret's destination: the origin of `settings.url`, or of the `url`
        secret's value when the URL is a secret (the signing key goes there too)."""
        if channel.settings.get("url") or "url" not in channel.secrets:
            return super().destinations(channel, environ)
        name = channel.secrets["url"]
        where = cls._destination(channel, "url", name, environ)
        return dict.fromkeys(sorted(channel.secrets.values()), where)

    def __init__(
        self,
        channel: Channel,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        self._url_in_settings = settings.get("url")
        if not self._url_in_settings and "url" not in channel.secrets:
            raise PermanentError(
                f"channel {channel.name!r}: the webhook adapter needs settings.url "
                "(or secrets.url naming a granted secret)"
            )
        try:
            self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            raise PermanentError(
                f"channel {channel.name!r}: settings.timeout must be a number of seconds"
            ) from None
        if settings.get("max_length") is not None:
            self.capabilities = attrs.evolve(
                self.capabilities, max_length=int(settings["max_length"])
            )
        self._transport = transport
        self._client: httpx.Client | None = None
        self._receipts: dict[str, Receipt] = {}
        self._last_url: tuple[str, httpx.URL] | None = None

    def _target(self) -> str:
        url = str(self._url_in_settings or self.secret("url"))
        if not url.startswith(("http://", "https://")):
            raise PermanentError(f"channel {self.channel.name!r}: webhook URL must be http(s)")
        return url

    def _host(self, url: str) -> str:
        # Only the host goes into messages and logs: paths often embed tokens.
        return self._parsed(url).host or "?"

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._receipts:
            return self._receipts[idempotency_key]
        url = self._target()
        key = self._signing_key()
        record = {
            "type": "message",
            "idempotency_key": idempotency_key,
            **message.to_dict(),
            "attachments": [self._inline(media) for media in message.attachments],
        }
        body = json.dumps(record, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "socialsched-webhook",
            IDEMPOTENCY_HEADER: idempotency_key,
            **sign(key, idempotency_key, body),
        }
        # Streamed: the status decides whether the post went out; the body is read only
        # after, so failing to read it cannot make a delivered post look failed.
        response = self._send("POST", url, body, headers, stream=True)
        try:
            status = response.status_code
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: HTTP %s for %s", self._where(url), status, idempotency_key)
            if 200 <= status < 300:
                # The post is out: nothing below may raise (the runner would count it failed).
                receipt = self._receipt(response, idempotency_key)
                self._receipts[idempotency_key] = receipt
                return receipt
        finally:
            response.close()
        self._raise_for(url, response)
        raise PermanentError(self._reason(url, response))

    def verify(self) -> str:
        """POST the documented signed ping; anything but a 2xx fails the check (a wrong
        path answers 404 here and would fail every post later)."""
        url = self._target()
        key = self._signing_key()
        ping = {
            "type": "ping",
            "channel": self.channel.name,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        body = json.dumps(ping).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "socialsched-webhook",
            # Its own id: a receiver that dedupes ids must still answer the next ping.
            **sign(key, f"ping_{uuid.uuid4().hex}", body),
        }
        response = self._send("POST", url, body, headers)
        self._raise_for(url, response)
        if not 200 <= response.status_code < 300:
            raise PermanentError(self._reason(url, response) + " (a ping needs a 2xx answer)")
        return f"{self._host(url)} answers (HTTP {response.status_code})"

    def _signing_key(self) -> bytes:
        """The HMAC key from the `signing_key` secret (`whsec_<base64>`); a key in
        another form is rejected credentials, so the runner holds the channel."""
        try:
            return key_bytes(self.secret("signing_key"))
        except SigningKeyError as error:
            name = self.channel.secrets.get("signing_key")
            raise CredentialsRejected(
                f"channel {self.channel.name!r}: secret 'signing_key' ({name}) {error}"
            ) from None

    def _inline(self, media: Media) -> dict[str, Any]:
        data = read_media(media)
        return {**media.to_dict(), "data": base64.b64encode(data).decode("ascii")}

    def _where(self, url: str) -> str:
        return f"webhook {self.channel.name!r} ({self._host(url)})"

    def _reason(self, url: str, response: httpx.Response) -> str:
        return f"{self._where(url)}: HTTP {response.status_code} {response.reason_phrase}".rstrip()

    def _send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
    ) -> httpx.Response:
        """The answer to one request; with `stream`, before its body is read (the
        caller reads and closes it)."""
        client = self._http()
        try:
            request = client.build_request(method, self._parsed(url), content=body, headers=headers)
            return client.send(request, stream=stream)
        except httpx.TimeoutException:
            raise TransientError(
                f"{self._where(url)}: no response within {self.timeout:g}s"
            ) from None
        except httpx.TransportError as error:
            raise TransientError(f"{self._where(url)}: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise PermanentError(f"{self._where(url)}: {type(error).__name__}") from None

    def _parsed(self, url: str) -> httpx.URL:
        """`url` parsed, once per URL: parsing costs more than a request's own work on
        a kept connection."""
        if self._last_url is None or self._last_url[0] != url:
            self._last_url = (url, httpx.URL(url))
        return self._last_url[1]

    def _raise_for(self, url: str, response: httpx.Response) -> None:
        """Raise for an answer that says the credentials or the receiver are at fault."""
        status = response.status_code
        if status in (401, 403):
            raise CredentialsRejected(self._reason(url, response))
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(self._reason(url, response), retry_after=retry_after)

    def _receipt(self, response: httpx.Response, idempotency_key: str) -> Receipt:
        """The receipt of an accepted post; a body that cannot be read or parsed gives
        one keyed by the idempotency key (the post went out all the same)."""
        try:
            # json.loads reads bytes in any UTF: quicker than decoding to text first.
            data: Any = json.loads(response.read())
        except (httpx.HTTPError, ValueError):
            data = None
        if not isinstance(data, dict):
            data = {}
        remote_id = data.get("id")
        url = data.get("url")
        return Receipt(
            remote_id=str(remote_id) if remote_id is not None else idempotency_key,
            url=str(url) if url is not None else None,
            extra={"status": response.status_code},
        )

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None
