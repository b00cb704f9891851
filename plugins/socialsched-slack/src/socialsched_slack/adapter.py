"""The `slack` adapter: one incoming webhook per segment, text or section blocks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from socialsched.adapters import (
    Adapter,
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.model import Channel
from socialsched.redaction import hide_secret

from .blocks import TEXT_LIMIT, escape, section_blocks

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FORMATS = ("blocks", "text")
DEFAULT_TIMEOUT = 10.0


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class SlackAdapter(Adapter):
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
        media=False,
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
        problems.extend(self._audience_problems(message.audience))
        return problems

    @staticmethod
    def _audience_problems(audience: Any) -> list[str]:
        # Another kind is reported by the base validate; only the id is checked here.
        if getattr(audience, "kind", None) != "webhook":
            return []
        if not _ENV_NAME.match(audience.id or ""):
            # Never echo the value: it is probably the webhook URL pasted in.
            return [
                "a webhook audience must name a secret or environment variable holding "
                "the webhook URL (e.g. webhook:SLACK_WEBHOOK_FR), not the URL itself"
            ]
        return []

    def _webhook_name(self, audience: Any) -> str:
        """The secret key or environment variable naming the webhook for `audience`."""
        if audience is None:
            return "webhook"
        kind = getattr(audience, "kind", None)
        if kind != "webhook":
            raise PermanentError(
                f"channel {self.channel.name!r}: {self.name} cannot target a {kind!r} "
                "audience (write webhook:NAME)"
            )
        problems = self._audience_problems(audience)
        if problems:
            raise PermanentError(f"channel {self.channel.name!r}: {problems[0]}")
        return str(audience.id)

    def _webhook_url(self, name: str) -> str:
        """The webhook URL `name` stands for; a credential that only `name` may show."""
        if name in self.channel.secrets or name == "webhook":
            url = self.secret(name)
        else:
            url = self.env_secret(name, "the segment's webhook URL")
        hide_secret(url, f"webhook {name}")
        return url

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
        name = self._webhook_name(message.audience)
        url = self._webhook_url(name)
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
