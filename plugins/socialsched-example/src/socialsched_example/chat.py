"""The `example-chat` adapter: a small chat API reached over HTTPS with a bearer token."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from socialsched.adapters import (
    Adapter,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.model import Channel
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

log = logging.getLogger(__name__)


class ExampleChatAdapter(Adapter):
    """Posts to `{base_url}/chats/{chat}/messages`; the audience names the chat
    (`group:<chat id>`) or a person (`recipient:<user>`, a direct message)."""

    name = "example-chat"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("base_url")})
    capabilities = Capabilities(max_length=500, audiences=("group", "recipient"), delete=True)
    required_secrets = ("token",)  # `socialsched lint` reports a channel without them
    required_settings = ("base_url",)

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        base_url = channel.settings.get("base_url")
        if not base_url:
            raise PermanentError(f"channel {channel.name!r}: example-chat needs settings.base_url")
        self.base_url = str(base_url).rstrip("/")
        self._client = httpx.Client(timeout=float(channel.settings.get("timeout", 10)))
        self._sent: dict[str, Receipt] = {}

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)  # length, media, audience kind
        if message.audience is None:
            problems.append("example-chat needs an audience (group:<chat> or recipient:<user>)")
        return problems

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._sent:  # the same key never posts twice
            return self._sent[idempotency_key]
        headers = {
            "Authorization": f"Bearer {self.secret('token')}",
            "Idempotency-Key": idempotency_key,
        }
        audience = message.audience
        if audience is not None and audience.kind == "recipient":
            url, body = f"{self.base_url}/direct", {"to": audience.id, "text": message.text}
        else:
            chat = audience.id if audience is not None else "general"
            url, body = f"{self.base_url}/chats/{chat}/messages", {"text": message.text}
        response = self._send("POST", url, headers, body)
        # The message is out: nothing below may raise, or the runner would record it
        # as a failed attempt and send it again.
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        receipt = Receipt(remote_id=str(data.get("id", idempotency_key)), url=data.get("url"))
        self._sent[idempotency_key] = receipt
        log.info("example-chat %s: posted %s", self.channel.name, receipt.remote_id)
        return receipt

    def delete(self, receipt: Receipt) -> None:
        headers = {"Authorization": f"Bearer {self.secret('token')}"}
        self._send("DELETE", f"{self.base_url}/messages/{receipt.remote_id}", headers, None)

    def _send(self, method: str, url: str, headers: dict[str, str], body: object) -> httpx.Response:
        # Map every failure to the two errors socialsched knows; never echo headers.
        try:
            response = self._client.request(method, url, headers=headers, json=body)
        except httpx.TimeoutException:
            raise TransientError("example-chat: timed out") from None
        except httpx.HTTPError as error:
            raise TransientError(f"example-chat: {type(error).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("Retry-After")
            raise TransientError(
                f"example-chat: HTTP {response.status_code}",
                retry_after=float(retry) if retry and retry.isdigit() else None,
            )
        if response.status_code in (401, 403):  # the runner holds the channel
            raise CredentialsRejected(f"example-chat: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"example-chat: HTTP {response.status_code}")
        return response

    def close(self) -> None:
        self._client.close()
