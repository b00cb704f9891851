"""The `discord` adapter: one webhook per segment (community), plain content or an embed,
with images and videos as attachments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from socialsched.adapters import (
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
    WebhookAudienceAdapter,
)
from socialsched.calendar.model import Channel
from socialsched.media import IMAGE_TYPES, Media, MediaLimits
from socialsched.trust.http_client import ChannelClient

CONTENT_LIMIT = 2_000
"""Most characters of a message's `content`."""
EMBED_DESCRIPTION_LIMIT = 4_096
"""Most characters of an embed's `description`."""
EMBED_TITLE_LIMIT = 256
FORMATS = ("content", "embed")
DEFAULT_TIMEOUT = 10.0
UNKNOWN_MESSAGE = 10008
"""Discord's JSON error code for a message that does not exist (already deleted)."""
REJECTED_WEBHOOK = (10015, 50027)
"""Discord's JSON error codes for a deleted webhook (Unknown Webhook) and a wrong token."""
MIB = 1024 * 1024
MAX_FILES = 10
"""Most attachments one message may carry."""
FILE_LIMIT = 10 * MIB
"""Default most bytes per file (servers without boosts); `settings.upload_limit_mb`
raises it for boosted servers."""
REQUEST_LIMIT = 25 * MIB
"""Most bytes of all a message's files together (the request size limit)."""
DESCRIPTION_LIMIT = 1024
"""Most characters of an attachment's description (its alt text)."""
UNKNOWN_ID = "?"
"""The remote id of a posted message whose reply could not be read."""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    # The JSON body carries the precise value (fractions of a second); the header
    # is a rounded copy, and proxies in front of Discord may send only the header.
    value = _json(response).get("retry_after", response.headers.get("Retry-After"))
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class DiscordAdapter(WebhookAudienceAdapter):
    """Posts to Discord through channel webhooks (one webhook per segment's community).

    A segment's audience `webhook:NAME` *names* where its webhook URL lives (the URL holds
    the webhook token): NAME is a key of the channel's `secrets` table or else an
    environment variable name. With no audience, the channel's `webhook` secret is used.

    Settings: `format` ("content", the default, up to 2,000 characters; or "embed": the
    text as an embed description, up to 4,096), `embed_title`, `embed_color` (integer),
    `username`, `avatar_url`, `allow_mentions` (default false: `@everyone` and role or
    user mentions in rendered text do not ping anyone), `timeout` (seconds, default 10).
    Messages are posted with `?wait=true` so Discord returns the message id, which the
    receipt keeps for `delete`.
    """

    name = "discord"
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=CONTENT_LIMIT,
        audiences=("webhook",),
        native_scheduling=False,
        delete=True,
        idempotent=False,
        images=MediaLimits(max_count=MAX_FILES, max_bytes=FILE_LIMIT, types=IMAGE_TYPES),
        videos=MediaLimits(max_count=MAX_FILES, max_bytes=FILE_LIMIT, types=("video/mp4",)),
        mixed_media=True,
        max_alt_length=DESCRIPTION_LIMIT,
        threads=False,
        engagement=(),  # no views, shares or reply counts (docs/networks/discord.md)
    )
    # A webhook cannot list messages; `find` only knows this process's own sends.
    doubt_guarantee = "cannot check"

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        self.format = str(settings.get("format", "content"))
        if self.format not in FORMATS:
            raise PermanentError(
                f"channel {channel.name!r}: settings.format must be one of "
                f"{', '.join(FORMATS)}, not {self.format!r}"
            )
        if self.format == "embed":
            self.capabilities = attrs.evolve(self.capabilities, max_length=EMBED_DESCRIPTION_LIMIT)
        upload_mb = settings.get("upload_limit_mb")
        if upload_mb is not None:
            file_limit = int(float(upload_mb) * MIB)
            self.capabilities = attrs.evolve(
                self.capabilities,
                images=attrs.evolve(self.capabilities.images, max_bytes=file_limit),
                videos=attrs.evolve(self.capabilities.videos, max_bytes=file_limit),
            )
        self.request_limit = max(REQUEST_LIMIT, int(float(upload_mb or 0) * MIB))
        title = settings.get("embed_title")
        self.embed_title = None if title is None else str(title)
        if self.embed_title is not None and len(self.embed_title) > EMBED_TITLE_LIMIT:
            raise PermanentError(
                f"channel {channel.name!r}: settings.embed_title is longer than "
                f"{EMBED_TITLE_LIMIT} characters"
            )
        color = settings.get("embed_color")
        self.embed_color = None if color is None else int(color)
        self.username = settings.get("username")
        self.avatar_url = settings.get("avatar_url")
        self.allow_mentions = bool(settings.get("allow_mentions", False))
        self.timeout = float(settings.get("timeout", DEFAULT_TIMEOUT))
        self._http = ChannelClient(timeout=self.timeout)
        # Webhooks take no idempotency key (Discord's `nonce` is for bot messages),
        # so keys published by this instance are remembered and not sent again.
        self._published: dict[str, Receipt] = {}

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        total = sum(media.size for media in message.attachments)
        if len(message.attachments) > MAX_FILES:
            problems.append(
                f"{len(message.attachments)} attachments; discord takes at most {MAX_FILES}"
            )
        if total > self.request_limit:
            problems.append(
                f"attachments are {total} bytes together; discord takes at most "
                f"{self.request_limit} bytes per message"
            )
        if not message.text.strip() and not message.attachments:
            problems.append("text is empty; discord refuses empty messages")
        return problems

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body posted to the webhook for `message`."""
        body: dict[str, Any] = {}
        if self.format == "embed":
            embed: dict[str, Any] = {"description": message.text}
            if self.embed_title is not None:
                embed["title"] = self.embed_title
            if self.embed_color is not None:
                embed["color"] = self.embed_color
            body["embeds"] = [embed]
        else:
            body["content"] = message.text
        if self.username:
            body["username"] = str(self.username)
        if self.avatar_url:
            body["avatar_url"] = str(self.avatar_url)
        if not self.allow_mentions:
            body["allowed_mentions"] = {"parse": []}
        return body

    def _send(self, where: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException:
            raise TransientError(f"{where}: timed out after {self.timeout:g}s") from None
        except httpx.HTTPError as error:
            raise TransientError(f"{where}: {type(error).__name__}") from None
        if response.status_code < 400:
            return response
        detail = _json(response).get("message") or response.text.strip()[:200]
        if response.status_code == 429:
            raise TransientError(f"{where}: rate limited (429)", retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise TransientError(f"{where}: server error {response.status_code} {detail}")
        code = _json(response).get("code")
        if method == "DELETE" and code == UNKNOWN_MESSAGE:
            return response
        refusal: type[PermanentError] = PermanentError
        if response.status_code == 401 or code in REJECTED_WEBHOOK:
            refusal = CredentialsRejected
        raise refusal(
            f"{where}: rejected with {response.status_code}"
            + (f" (code {code})" if code is not None else "")
            + f" {detail}"
        )

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        name = self.webhook_name(message.audience)
        url = self.webhook_url(name).rstrip("/")
        where = f"discord webhook {name}"
        payload = self.payload(message)
        if message.attachments:
            files = _files(message.attachments)
            described = []
            for number, (media, (_, (filename, _, _))) in enumerate(
                zip(message.attachments, files, strict=True)
            ):
                entry: dict[str, Any] = {"id": number, "filename": filename}
                if media.alt:
                    entry["description"] = media.alt  # Discord's alt text
                described.append(entry)
            payload["attachments"] = described
            content: dict[str, Any] = {
                "data": {"payload_json": json.dumps(payload, ensure_ascii=False)},
                "files": files,
            }
        else:
            content = {"json": payload}
        response = self._send(where, "POST", url, params={"wait": "true"}, **content)
        # The message is posted: from here on, a receipt whatever the reply holds.
        posted = _json(response)
        guild, channel_id = posted.get("guild_id"), posted.get("channel_id")
        message_id = posted.get("id")
        link = (
            f"https://discord.com/channels/{guild}/{channel_id}/{message_id}"
            if guild and channel_id and message_id
            else None
        )
        receipt = Receipt(
            remote_id=str(message_id or UNKNOWN_ID),
            url=link,
            extra={"webhook": name, "channel_id": channel_id},
        )
        self._published[idempotency_key] = receipt
        return receipt

    def verify(self) -> str:
        """Fetch each webhook the channel names (`GET` on its URL answers the webhook's
        name and channel without posting)."""
        names = self.webhook_names()
        if not names:
            raise PermanentError(
                f"channel {self.channel.name!r} names no discord webhook (a `webhook` "
                "secret or webhook:NAME audiences)"
            )
        seen = []
        for name in names:
            url = self.webhook_url(name).rstrip("/")
            info = _json(self._send(f"discord webhook {name}", "GET", url))
            seen.append(f"{name} -> {info.get('name', '?')!s} (channel {info.get('channel_id')})")
        return "discord webhooks " + ", ".join(seen)

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """A webhook cannot list the messages of its channel (only fetch one by the id
        the reply gave), so a post whose reply was lost cannot be looked up."""
        if idempotency_key in self._published:
            return self._published[idempotency_key]
        raise CannotCheck("discord webhooks cannot list their channel's messages")

    def delete(self, receipt: Receipt) -> None:
        """Delete a message this webhook posted (already deleted counts as done)."""
        if receipt.remote_id == UNKNOWN_ID:
            raise PermanentError("discord never told the id of this message: delete it by hand")
        name = str(receipt.extra.get("webhook", "webhook"))
        url = self.webhook_url(name).rstrip("/")
        self._send(f"discord webhook {name}", "DELETE", f"{url}/messages/{receipt.remote_id}")

    def close(self) -> None:
        self._http.close()


def _files(attachments: tuple[Media, ...]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The `files[n]` multipart parts, each with a distinct file name."""
    parts = []
    used: set[str] = set()
    for number, media in enumerate(attachments):
        filename = media.filename or f"media{number}.{media.mime_type.partition('/')[2]}"
        if filename in used:
            filename = f"{number}-{filename}"
        used.add(filename)
        parts.append((f"files[{number}]", (filename, media.read(), media.mime_type)))
    return parts
