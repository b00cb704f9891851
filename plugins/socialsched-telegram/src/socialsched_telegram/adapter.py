"""Telegram adapter: messages through the Telegram Bot API.

Text goes out with `sendMessage`; one image with `sendPhoto`, one video with
`sendVideo`, two to ten with `sendMediaGroup` (the text as the caption of the first
item); `deleteMessage`/`deleteMessages` retract, `getMe` checks the token.

Channel settings:
  parse_mode          "HTML", "MarkdownV2" or "Markdown" (default: plain text)
  silent              true to deliver every message without a notification sound
  silent_quiet_hours  true to deliver silently while the segment is in its quiet hours
  quiet_hours         the quiet hours for that, instead of the segments' own: "22:00-08:00"
                      or a list for every segment, or a table segment -> windows
  disable_link_preview  true to send without a link preview
  api_url             Bot API server (default https://api.telegram.org; a local Bot API
                      server works too)
  timeout             seconds per HTTP request (default 20)
Secrets: token (the bot token from @BotFather).
Media: JPEG, PNG, WebP or static GIF photos (10 MB, width + height at most 10000, sides
at most 20:1) and MP4 videos (50 MB, the upload limit of the Bot API); up to ten in
one album, photos and videos mixed; the caption is at most 1024 characters (text alone
4096). Telegram has no alt text: the alt text of media is not sent.
Audiences (per segment, see `socialsched.calendar.audiences`):
  "group:-1001234567890"   a group, supergroup or channel by chat id ...
  "group:@brand_fr"        ... or a public channel/group by its @username
  "group:-1001234567890/5" a forum topic (message thread 5) of a supergroup
  "recipient:987654321"    one user, by numeric user id: a direct one-to-one message
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx

from socialsched.adapters import (
    Adapter,
    CannotCheck,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel, QuietWindow
from socialsched.media import Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

MAX_LENGTH = 4096
MAX_CAPTION = 1024
"""Most characters of a photo's, video's or album's caption (text alone: 4096)."""
MB = 1024 * 1024
PHOTOS = MediaLimits(
    max_count=10,
    max_bytes=10 * MB,
    # The Bot API wants width + height <= 10000; 5000 a side always keeps to that.
    max_side=5000,
    types=("image/jpeg", "image/png", "image/webp", "image/gif"),
    animated=False,  # an animated GIF sent as a photo would lose its animation
)
VIDEOS = MediaLimits(max_count=10, max_bytes=50 * MB, types=("video/mp4",))
MAX_RATIO = 20
"""Longest side over shortest side of a photo Telegram takes."""
UNPARSED = "?"
"""The message id of a receipt whose answer could not be read (the message was sent)."""
UNREADABLE: Any = object()
"""What `_call` returns for a 2xx answer it cannot read."""
PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")
DEFAULT_API_URL = "https://api.telegram.org"
_TAG = re.compile(r"<[^>]+>")
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


@attrs.frozen
class Target:
    """Where one segment's messages go on Telegram."""

    chat_id: int | str
    thread_id: int | None = None


class TelegramAdapter(Adapter):
    """Sends messages as a Telegram bot to channels, groups and single users."""

    name = "telegram"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("api_url", DEFAULT_API_URL)})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=MAX_LENGTH,
        audiences=("group", "recipient"),
        native_scheduling=False,
        delete=True,
        idempotent=False,
        images=PHOTOS,
        videos=VIDEOS,
        mixed_media=True,
        threads=False,
        # The Bot API has no method that reads a sent message's views, forwards,
        # reactions or replies (docs/networks/telegram.md, Engagement).
        engagement=(),
    )
    required_secrets = ("token",)
    # Bots cannot read their chats back; `find` only knows this process's own sends.
    doubt_guarantee = "cannot check"

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        self.parse_mode: str | None = settings.get("parse_mode") or None
        if self.parse_mode is not None and self.parse_mode not in PARSE_MODES:
            raise PermanentError(
                f"channel {channel.name!r}: telegram parse_mode {self.parse_mode!r} is not "
                f"one of {', '.join(PARSE_MODES)}"
            )
        self.api_url = str(settings.get("api_url", DEFAULT_API_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout", 20))
        try:
            self.quiet_hours = _quiet_hours(settings.get("quiet_hours"))
        except ValueError as error:
            raise PermanentError(
                f"channel {channel.name!r}: settings.quiet_hours: {error}"
            ) from None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._client: httpx.Client | None = None
        # The Bot API has no idempotency key; this at least keeps one adapter from
        # sending the same delivery twice (e.g. a retry after a lost response is not covered).
        self._sent: dict[str, Receipt] = {}

    def target(self, message: Message) -> Target:
        """The chat (and forum topic) the segment of `message` is reached through."""
        audience: Audience | None = message.audience
        where = f"channel {self.channel.name!r}, segment {message.segment!r}"
        if audience is None or audience.kind not in self.capabilities.audiences:
            raise PermanentError(
                f"{where}: telegram needs an audience 'group:<chat id or @username>' "
                "or 'recipient:<user id>'"
            )
        ident = str(audience.id)
        if audience.kind == "recipient":
            if not ident.isdigit():
                raise PermanentError(
                    f"{where}: telegram recipient {ident!r} must be a numeric user id"
                )
            return Target(int(ident))
        chat, slash, thread = ident.partition("/")
        if slash and not thread.isdigit():
            raise PermanentError(
                f"{where}: telegram forum topic {thread!r} in {ident!r} must be a number"
            )
        thread_id = int(thread) if slash else None
        if _USERNAME.match(chat):
            return Target(chat, thread_id)
        try:
            return Target(int(chat), thread_id)
        except ValueError:
            raise PermanentError(
                f"{where}: telegram chat {chat!r} is neither a chat id nor an '@username'"
            ) from None

    def text_length(self, text: str) -> int:
        """Length as Telegram counts it: UTF-16 code units after entity parsing
        (HTML tags removed; Markdown counted with its markup, which only overestimates)."""
        if self.parse_mode == "HTML":
            text = html.unescape(_TAG.sub("", text))
        return len(text.encode("utf-16-le")) // 2

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        if message.attachments:
            length = self.text_length(message.text)
            if length > MAX_CAPTION:
                problems.append(
                    f"text is {length} characters; telegram takes at most {MAX_CAPTION} "
                    "as the caption of photos or videos"
                )
            for media in message.attachments:
                if media.kind == "image" and media.width and media.height:
                    ratio = max(media.width, media.height) / min(media.width, media.height)
                    if ratio > MAX_RATIO:
                        problems.append(
                            f"{media.source or media.filename}: {media.width}x{media.height} "
                            f"pixels; telegram takes photos at most {MAX_RATIO} times longer "
                            "than wide"
                        )
        elif not message.text.strip():
            problems.append("telegram cannot send an empty message")
        audience = message.audience
        # An unsupported kind was named by the base check; say nothing twice.
        if audience is None or audience.kind in self.capabilities.audiences:
            try:
                self.target(message)
            except PermanentError as error:
                problems.append(str(error))
        return problems

    def silent(self, message: Message) -> bool:
        """Whether to send without notification: always, or now in the segment's quiet hours
        (the channel's `quiet_hours` for it if set, else the segment's own)."""
        settings = self.channel.settings
        if settings.get("silent"):
            return True
        if not settings.get("silent_quiet_hours"):
            return False
        windows = self.quiet_hours.get(
            message.segment, self.quiet_hours.get("*", message.quiet_hours)
        )
        zone = message.local.tzinfo or UTC
        # The time of sending, not of planning: a late delivery can fall into quiet hours.
        now_local = self.clock().astimezone(zone).time()
        return any(window.contains(now_local) for window in windows)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=f"{self.api_url}/bot{self.secret('token')}", timeout=self.timeout
            )
        return self._client

    def _call(
        self,
        method: str,
        body: dict[str, Any],
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    ) -> Any:
        """The `result` of Bot API `method`; `UNREADABLE` when it answered 2xx with a
        body that cannot be read (for a send method, the message went out)."""
        try:
            if files:
                # Multipart fields are text: numbers as digits, objects as JSON.
                form = {
                    key: value if isinstance(value, str) else json.dumps(value)
                    for key, value in body.items()
                }
                response = self._http().post(f"/{method}", data=form, files=files)
            else:
                response = self._http().post(f"/{method}", json=body)
        except httpx.TimeoutException:
            raise TransientError(f"telegram {method} timed out") from None
        except httpx.TransportError as error:
            raise TransientError(f"telegram unreachable: {type(error).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.is_success:
                return UNREADABLE
            answer = {}
        if response.is_success and answer.get("ok"):
            return answer.get("result", UNREADABLE)
        description = str(answer.get("description") or response.reason_phrase)
        parameters = answer.get("parameters") or {}
        code = int(answer.get("error_code") or response.status_code)
        if code in (401, 404):
            # 401: a revoked or wrong token; 404: the token is not a bot's at all (every
            # method exists, so only the /bot<token>/ part of the path can be unknown).
            raise CredentialsRejected(f"telegram {method} failed: {code} {description}")
        if code == 429 or code >= 500:
            retry_after = parameters.get("retry_after")
            raise TransientError(
                f"telegram {method} failed: {code} {description}",
                retry_after=float(retry_after) if retry_after is not None else None,
            )
        hint = ""
        if "migrate_to_chat_id" in parameters:
            hint = f" (the group is now chat {parameters['migrate_to_chat_id']}: update audiences)"
        raise PermanentError(f"telegram {method} failed: {code} {description}{hint}")

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        if idempotency_key in self._sent:
            return self._sent[idempotency_key]
        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        target = self.target(message)
        body: dict[str, Any] = {"chat_id": target.chat_id}
        if target.thread_id is not None:
            body["message_thread_id"] = target.thread_id
        if self.silent(message):
            body["disable_notification"] = True
        media = message.attachments
        if not media:
            method = "sendMessage"
            body["text"] = message.text
            if self.parse_mode:
                body["parse_mode"] = self.parse_mode
            if self.channel.settings.get("disable_link_preview"):
                body["link_preview_options"] = {"is_disabled": True}
            result = self._call(method, body)
        elif len(media) == 1:
            method = "sendPhoto" if media[0].kind == "image" else "sendVideo"
            field = "photo" if media[0].kind == "image" else "video"
            body.update(self._caption(message.text))
            body.update(_video_fields(media[0]))
            result = self._call(method, body, [_file_part(field, media[0])])
        else:
            method = "sendMediaGroup"
            items = []
            for number, item in enumerate(media):
                entry = {
                    "type": "photo" if item.kind == "image" else "video",
                    "media": f"attach://media{number}",
                    **_video_fields(item),
                }
                if number == 0:
                    # The album shows the caption of its first item.
                    entry.update(self._caption(message.text))
                items.append(entry)
            body["media"] = items
            parts = [_file_part(f"media{n}", item) for n, item in enumerate(media)]
            result = self._call(method, body, parts)
        # The message went out: whatever the answer holds, return a receipt.
        receipt = _receipt(target, result)
        self._sent[idempotency_key] = receipt
        return receipt

    def _caption(self, text: str) -> dict[str, Any]:
        if not text.strip():
            return {}
        caption: dict[str, Any] = {"caption": text}
        if self.parse_mode:
            caption["parse_mode"] = self.parse_mode
        return caption

    def verify(self) -> str:
        """Check the token with `getMe`: the bot's @username and id."""
        me = self._call("getMe", {})
        if not isinstance(me, dict) or "id" not in me:
            raise TransientError("telegram getMe answered without the bot's id")
        return f"telegram bot @{me.get('username', '?')} (id {me['id']})"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """Bots cannot read back what they sent to a chat (the Bot API has no history
        method), so an earlier post cannot be looked up."""
        if idempotency_key in self._sent:
            return self._sent[idempotency_key]
        raise CannotCheck("telegram bots cannot read their chats' history")

    def delete(self, receipt: Receipt) -> None:
        chat_id, _, message_id = receipt.remote_id.rpartition("/")
        if message_id == UNPARSED:
            raise PermanentError(
                f"telegram receipt {receipt.remote_id!r}: the message id was never known"
            )
        if not chat_id or not message_id.isdigit():
            raise PermanentError(f"telegram receipt {receipt.remote_id!r} is not 'chat/message'")
        chat: int | str = chat_id if chat_id.startswith("@") else int(chat_id)
        album = receipt.extra.get("message_ids")
        if album and len(album) > 1:
            self._call("deleteMessages", {"chat_id": chat, "message_ids": list(album)})
        else:
            self._call("deleteMessage", {"chat_id": chat, "message_id": int(message_id)})


def _file_part(name: str, media: Media) -> tuple[str, tuple[str, bytes, str]]:
    suffix = media.mime_type.partition("/")[2]
    return name, (media.filename or f"{name}.{suffix}", media.read(), media.mime_type)


def _video_fields(media: Media) -> dict[str, Any]:
    if media.kind != "video":
        return {}
    fields: dict[str, Any] = {"supports_streaming": True}
    if media.width and media.height:
        fields.update(width=media.width, height=media.height)
    return fields


def _receipt(target: Target, result: Any) -> Receipt:
    """The receipt of a sent message (or album, whose first message names it)."""
    sent = result if isinstance(result, list) else [result]
    ids = []
    for entry in sent:
        try:
            ids.append(int(entry["message_id"]))
        except (TypeError, KeyError, ValueError):
            ids = []
            break
    if not ids:
        return Receipt(
            remote_id=f"{target.chat_id}/{UNPARSED}",
            extra={"chat_id": target.chat_id, "unread_answer": True},
        )
    url = None
    if isinstance(target.chat_id, str):
        url = f"https://t.me/{target.chat_id.removeprefix('@')}/{ids[0]}"
    extra: dict[str, Any] = {"chat_id": target.chat_id, "message_id": ids[0]}
    if len(ids) > 1:
        extra["message_ids"] = ids
    return Receipt(remote_id=f"{target.chat_id}/{ids[0]}", url=url, extra=extra)


def _quiet_hours(value: Any) -> dict[str, tuple[QuietWindow, ...]]:
    """Quiet windows by segment; key "*" holds those for every segment."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(segment): _windows(windows) for segment, windows in value.items()}
    return {"*": _windows(value)}


def _windows(value: Any) -> tuple[QuietWindow, ...]:
    items = [value] if isinstance(value, str) else list(value)
    return tuple(QuietWindow.parse(item) for item in items)
