"""The `slack` adapter: one incoming webhook per segment, text or section blocks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from socialsched.adapters import (
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    WebhookAudienceAdapter,
)
from socialsched.model import Channel

from .blocks import TEXT_LIMIT, escape, section_blocks

FORMATS = ("blocks", "text")
DEFAULT_TIMEOUT = 10.0


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class SlackAdapter(WebhookAudienceAdapter):
    """Posts to Slack through incoming webhooks (one webhook, hence one Slack channel,
    per segment).

    A segment's audience `webhook:NAME` *names* where its webhook URL lives, because the
    URL is a credential: NAME is a key of the channel's `secrets` table or else an
    environment variable name. With no audience, the channel's `webhook` secret is used.

    Settings: `format` ("blocks", the default: the text split into mrkdwn section blocks
    of at most 3,000 characters, with the whole text as notification fallback; or
    "text"), `escape` (default true: `&`, `<`, `>` are escaped so rendered text is never
    read as Slack markup; false lets templates write `<url|label>` links),
    `unfurl_links` (bool), `timeout` (seconds, default 10).
    """

    name = "slack"
    capabilities = Capabilities(
        max_length=TEXT_LIMIT,
        audiences=("webhook",),
        native_scheduling=False,
        delete=False,
        idempotent=False,
    )

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        self.format = str(settings.get("format", "blocks"))
        if self.format not in FORMATS:
            raise PermanentError(
                f"channel {channel.name!r}: settings.format must be one of "
                f"{', '.join(FORMATS)}, not {self.format!r}"
            )
        self.escape = bool(settings.get("escape", True))
        self.unfurl_links = settings.get("unfurl_links")
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        # Incoming webhooks have no idempotency key, so a key published by this
        # instance is remembered and not sent again (a retry after a lost reply can
        # still post twice: Slack offers no way to tell).
        self._published: dict[str, Receipt] = {}

    def _slack_text(self, text: str) -> str:
        return escape(text) if self.escape else text

    def text_length(self, text: str) -> int:
        """Characters Slack counts: escaping `&`, `<`, `>` makes the text longer."""
        return len(self._slack_text(text))

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        return problems

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body posted to the webhook for `message`."""
        text = self._slack_text(message.text)
        body: dict[str, Any] = {"text": text}
        if self.format == "blocks":
            body["blocks"] = section_blocks(text)
        if self.unfurl_links is not None:
            body["unfurl_links"] = bool(self.unfurl_links)
        return body

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        name = self.webhook_name(message.audience)
        url = self.webhook_url(name)
        where = f"slack webhook {name}"
        try:
            response = httpx.post(url, json=self.payload(message), timeout=self.timeout)
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: {type(error).__name__}") from None
        detail = response.text.strip()[:200]
        if response.status_code == 429:
            raise TransientError(f"{where}: rate limited (429)", retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise TransientError(
                f"{where}: server error {response.status_code} {detail}",
                retry_after=_retry_after(response),
            )
        if response.status_code >= 400:
            raise PermanentError(f"{where}: rejected with {response.status_code} {detail}")
        receipt = Receipt(remote_id=idempotency_key, extra={"webhook": name})
        self._published[idempotency_key] = receipt
        return receipt
