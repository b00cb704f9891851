"""Matrix adapter: `m.room.message` events through matrix-nio (Client-Server API v3).

matrix-nio is asyncio-only; the adapter API is synchronous, so each call runs a short
event loop (in a worker thread when the caller already has one running).

Channel settings:
  homeserver  base URL of the homeserver, e.g. "https://matrix.example.org" (required)
  user_id     the bot's full user id, e.g. "@brand:example.org" (required)
  device_id   the device id of the access token (optional)
  msgtype     "m.text" (default) or "m.notice" (what bots are advised to send)
  format      "plain" (default) or "html": with html, the text is sent as the
              `formatted_body` and its tag-stripped version as `body`
  timeout     seconds per HTTP request (default 20)
  max_upload_mb  the homeserver's upload limit (`m.upload.size` of /_matrix/media/v3/config;
              default 50, Synapse's default)
Secrets: access_token.
Media: each image or video is uploaded to the media repository, then sent as an
`m.image`/`m.video` event whose `body` is its alt text; the text follows as its own
event, so the post's last event (its receipt) exists only once everything went out.
Audiences (per segment, see `socialsched.calendar.audiences`): "room:!abc:example.org" (a room
id) or "room:#news-fr:example.org" (an alias); the bot must already be in the room.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from socialsched.adapters import (
    Adapter,
    Capabilities,
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel
from socialsched.media import IMAGE_TYPES, Media, MediaLimits
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

from .loop import KeptLoop

# matrix-nio (with aiohttp) costs about half a second to import, and every `socialsched`
# command that loads a calendar loads the installed plugins: it is imported where the
# adapter calls it.
if TYPE_CHECKING:
    from nio import AsyncClient

MSGTYPES = ("m.text", "m.notice")
FORMATS = ("plain", "html")
# The spec caps a whole event at 65536 bytes; leave room for the envelope the server adds.
MAX_CONTENT_BYTES = 60_000
_TAG = re.compile(r"<[^>]+>")
_ROOM = re.compile(r"^[!#][^:\s]+:\S+$")
_TXN_SAFE = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
_RESULT = TypeVar("_RESULT")
MB = 1024 * 1024
UPLOAD_LIMIT = 50 * MB
"""Synapse's default `max_upload_size`; `settings.max_upload_mb` sets the homeserver's."""
MAX_MEDIA = 10
"""Most images or videos per post: Matrix has no limit, a room reading a post does."""
MARKER = "org.socialsched.post"
"""Key of the content field each event of a post carries: the idempotency key and the
event's place in the post, which is how `find` recognises a post and whether it is
complete."""
FIND_MARGIN = timedelta(days=1)
"""How far before the earlier of the due time and now `find` looks: a post goes out
at or after its due time, or (publish-now) shortly before the lookup."""
FIND_PAGE = 100
CREDENTIAL_ERRORS = ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_USER_DEACTIVATED")
UNREAD_EVENT = "?"
"""The event id of a receipt whose answer could not be read (the event was sent)."""


def transaction_id(idempotency_key: str) -> str:
    """The Matrix transaction id for a key: the key itself when URL-safe, else its hash.

    The homeserver treats a repeated transaction id (same access token) as the same
    event, which is what makes publishing idempotent.
    """
    if _TXN_SAFE.match(idempotency_key):
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


class MatrixAdapter(Adapter):
    """Sends messages as a Matrix user (usually a bot) to rooms."""

    name = "matrix"
    #: Where each secret is sent (the origin the operator approves).
    secret_destinations = declare({ANY_SECRET: Destination("homeserver")})
    # Its checks read the text, media and audience, never the time.
    validation_reads_time = False
    capabilities = Capabilities(
        max_length=None,
        audiences=("room",),
        native_scheduling=False,
        delete=True,
        idempotent=True,
        images=MediaLimits(max_count=MAX_MEDIA, max_bytes=UPLOAD_LIMIT, types=IMAGE_TYPES),
        videos=MediaLimits(max_count=MAX_MEDIA, max_bytes=UPLOAD_LIMIT, types=("video/mp4",)),
        mixed_media=True,
        threads=False,
        engagement=(),  # no views or shares; reactions are room events (docs/networks/matrix.md)
    )
    required_secrets = ("access_token",)
    required_settings = ("homeserver", "user_id")
    doubt_guarantee = "idempotent key, checked (find)"

    def __init__(self, channel: Channel, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(channel, environ)
        settings = channel.settings
        for required, example in (("homeserver", "https://matrix.org"), ("user_id", "@bot:hs")):
            if not settings.get(required):
                raise PermanentError(
                    f"channel {channel.name!r}: the matrix adapter needs settings.{required} "
                    f"(e.g. {example!r})"
                )
        self.homeserver = str(settings["homeserver"]).rstrip("/")
        self.user_id = str(settings["user_id"])
        self.device_id = str(settings.get("device_id", ""))
        self.msgtype = str(settings.get("msgtype", "m.text"))
        self.format = str(settings.get("format", "plain"))
        if self.msgtype not in MSGTYPES:
            raise PermanentError(
                f"channel {channel.name!r}: matrix msgtype {self.msgtype!r} is not one of "
                f"{', '.join(MSGTYPES)}"
            )
        if self.format not in FORMATS:
            raise PermanentError(
                f"channel {channel.name!r}: matrix format {self.format!r} is not one of "
                f"{', '.join(FORMATS)}"
            )
        self.timeout = float(settings.get("timeout", 20))
        # One client on one kept event loop: the homeserver connection is reused.
        self._kept = KeptLoop(f"matrix {channel.name}")
        self._nio: AsyncClient | None = None
        upload_mb = settings.get("max_upload_mb")
        if upload_mb is not None:
            limit = int(float(upload_mb) * MB)
            self.capabilities = attrs.evolve(
                self.capabilities,
                images=attrs.evolve(self.capabilities.images, max_bytes=limit),
                videos=attrs.evolve(self.capabilities.videos, max_bytes=limit),
            )
        self._room_ids: dict[str, str] = {}

    def room(self, message: Message) -> str:
        """The room id or alias that the segment of `message` is reached through."""
        audience: Audience | None = message.audience
        room = audience.id if audience is not None and audience.kind == "room" else None
        if room is None or not _ROOM.match(room):
            shown = str(audience) if audience is not None else "none"
            raise PermanentError(
                f"channel {self.channel.name!r}, segment {message.segment!r}: matrix needs an "
                f"audience 'room:!id:server' or 'room:#alias:server', not {shown}"
            )
        return room

    def content(self, message: Message) -> dict[str, Any]:
        """The `m.room.message` content of the text of `message`."""
        if self.format == "html":
            return {
                "msgtype": self.msgtype,
                "body": html.unescape(_TAG.sub("", message.text)),
                "format": "org.matrix.custom.html",
                "formatted_body": message.text,
            }
        return {"msgtype": self.msgtype, "body": message.text}

    def validate(self, message: Message) -> list[str]:
        problems = super().validate(message)
        # An unsupported kind was named by the base check; say nothing twice.
        if message.audience is None or message.audience.kind == "room":
            try:
                self.room(message)
            except PermanentError as error:
                problems.append(str(error))
        size = len(json.dumps(self.content(message), ensure_ascii=False).encode())
        if size > MAX_CONTENT_BYTES:
            problems.append(f"message is {size} bytes; matrix events must stay under 65536")
        if not message.text.strip() and not message.attachments:
            problems.append("matrix cannot send an empty message")
        return problems

    # -- running nio --------------------------------------------------------------------

    def _run(self, work: Callable[[AsyncClient], Awaitable[_RESULT]]) -> _RESULT:
        """Run `work` with the channel's logged-in client on its kept event loop (built
        at first use, closed by `close`), mapping errors."""
        from aiohttp import ClientError
        from nio import AsyncClient, AsyncClientConfig

        async def session() -> _RESULT:
            if self._nio is None:
                config = AsyncClientConfig(
                    max_limit_exceeded=0,  # report 429 to the caller instead of sleeping
                    max_timeouts=0,
                    request_timeout=self.timeout,
                    encryption_enabled=False,
                )
                client = AsyncClient(self.homeserver, self.user_id, config=config)
                client.restore_login(self.user_id, self.device_id, self.secret("access_token"))
                self._nio = client
            return await work(self._nio)

        try:
            return self._kept.run(session)
        except TimeoutError:
            raise TransientError(f"matrix {self.homeserver} timed out") from None
        except ClientError as error:
            raise TransientError(
                f"matrix {self.homeserver} unreachable: {type(error).__name__}"
            ) from None

    def close(self) -> None:
        """Close the channel's client and stop its event loop."""
        client, self._nio = self._nio, None
        self._kept.close(client.close if client is not None else None)

    def _check(self, response: Any, what: str) -> None:
        from nio import ErrorResponse

        if not isinstance(response, ErrorResponse):
            return
        transport = getattr(response, "transport_response", None)
        status = getattr(transport, "status", 0) or 0
        if response.status_code == "M_LIMIT_EXCEEDED" or status == 429:
            retry = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise TransientError(f"matrix {what}: rate limited", retry_after=retry)
        detail = f"{response.status_code or status} {response.message}".strip()
        if status >= 500:
            raise TransientError(f"matrix {what} failed: {detail}")
        if status == 401 or response.status_code in CREDENTIAL_ERRORS:
            raise CredentialsRejected(f"matrix {what} failed: {detail}")
        raise PermanentError(f"matrix {what} failed: {detail}")

    async def _send_event(
        self, client: AsyncClient, room_id: str, content: dict[str, Any], txn: str, what: str
    ) -> str:
        """Send one event; its id (`UNREAD_EVENT` when a 2xx answer could not be read:
        the event exists all the same)."""
        from nio import RoomSendResponse

        response = await client.room_send(room_id, "m.room.message", content, tx_id=txn)
        if isinstance(response, RoomSendResponse):
            return str(response.event_id)
        status = getattr(getattr(response, "transport_response", None), "status", 0) or 0
        if 200 <= status < 300:
            return UNREAD_EVENT
        self._check(response, what)
        raise TransientError(f"matrix {what}: unexpected answer {type(response).__name__}")

    async def _upload(self, client: AsyncClient, media: Media, number: int) -> str:
        """Upload `media` to the media repository (nothing is posted); its mxc:// URI."""
        from nio import UploadResponse

        data = media.read()
        response, _ = await client.upload(
            io.BytesIO(data),
            content_type=media.mime_type,
            filename=_filename(media, number),
            filesize=len(data),
        )
        self._check(response, f"uploading {_filename(media, number)}")
        if not isinstance(response, UploadResponse):
            raise TransientError("matrix upload: unexpected answer")
        return str(response.content_uri)

    async def _room_id(self, client: AsyncClient, room: str) -> str:
        from nio import RoomResolveAliasResponse

        if room.startswith("!"):
            return room
        if room not in self._room_ids:
            response = await client.room_resolve_alias(room)
            self._check(response, f"resolving {room}")
            assert isinstance(response, RoomResolveAliasResponse)
            self._room_ids[room] = response.room_id
        return self._room_ids[room]

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        problems = self.validate(message)
        if problems:
            raise PermanentError("; ".join(problems))
        room = self.room(message)
        events = self.events(message, idempotency_key)

        async def send(client: AsyncClient) -> Receipt:
            room_id = await self._room_id(client, room)
            # Uploads post nothing; the events follow, media first and the text last, each
            # under its own transaction id so that sending again repeats none of them.
            uris = [
                await self._upload(client, media, number)
                for number, media in enumerate(message.attachments)
            ]
            event_ids = []
            for number, (txn, content) in enumerate(events):
                if number < len(uris):
                    content = {**content, "url": uris[number]}
                event_ids.append(
                    await self._send_event(client, room_id, content, txn, f"sending to {room}")
                )
            return _receipt(room_id, event_ids)

        return self._run(send)

    def events(self, message: Message, idempotency_key: str) -> list[tuple[str, dict[str, Any]]]:
        """The (transaction id, content) of each event of the post, in sending order:
        one per attachment (its `url` added once uploaded), then the text. The text's
        transaction id is the key's own; each carries the `MARKER` field."""
        contents = [_media_content(media, n) for n, media in enumerate(message.attachments)]
        if message.text.strip():
            contents.append(self.content(message))
        last = len(contents)
        return [
            (
                transaction_id(idempotency_key if n == last else f"{idempotency_key}#media{n}"),
                {**content, MARKER: {"key": idempotency_key, "event": n, "events": last}},
            )
            for n, content in enumerate(contents, start=1)
        ]

    def verify(self) -> str:
        """`whoami` with the access token: the account (and device) it belongs to, which
        must be `settings.user_id`."""
        from nio import WhoamiResponse

        async def whoami(client: AsyncClient) -> str:
            response = await client.whoami()
            self._check(response, "whoami")
            if not isinstance(response, WhoamiResponse):
                raise TransientError("matrix whoami: unexpected answer")
            if response.user_id != self.user_id:
                raise CredentialsRejected(
                    f"matrix: the access token belongs to {response.user_id}, not "
                    f"settings.user_id {self.user_id}"
                )
            device = f" (device {response.device_id})" if response.device_id else ""
            return f"matrix {response.user_id} on {self.homeserver}{device}"

        return self._run(whoami)

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        """Look back through the room's recent events by this account for the post's last
        event (its `MARKER` names the key): its receipt, or None when the post is not
        there or incomplete (sending again then repeats no event whose transaction id the
        homeserver still remembers)."""
        from nio import RoomMessagesResponse

        room = self.room(message)
        since_ms = (min(message.utc, datetime.now(UTC)) - FIND_MARGIN).timestamp() * 1000
        wanted = {"types": ["m.room.message"], "senders": [self.user_id]}

        async def look(client: AsyncClient) -> Receipt | None:
            room_id = await self._room_id(client, room)
            last: tuple[int, str] | None = None  # (the post's event count, its last event)
            media: dict[int, str] = {}
            start: str | None = None
            while True:
                page = await client.room_messages(
                    room_id, start=start, limit=FIND_PAGE, message_filter=wanted
                )
                self._check(page, f"reading {room}")
                if not isinstance(page, RoomMessagesResponse):
                    raise TransientError("matrix messages: unexpected answer")
                oldest_ms = None
                for event in page.chunk:  # newest first
                    source = getattr(event, "source", None) or {}
                    oldest_ms = source.get("origin_server_ts", 0)
                    mark = (source.get("content") or {}).get(MARKER) or {}
                    if mark.get("key") != idempotency_key or not source.get("event_id"):
                        continue
                    if mark.get("event") == mark.get("events"):
                        last = (int(mark["events"]), str(source["event_id"]))
                    else:
                        media[int(mark.get("event", 0))] = str(source["event_id"])
                exhausted = not page.chunk or not page.end or page.end == start
                too_old = oldest_ms is not None and oldest_ms < since_ms
                if last is not None and (len(media) >= last[0] - 1 or exhausted or too_old):
                    earlier = [media.get(n, UNREAD_EVENT) for n in range(1, last[0])]
                    return _receipt(room_id, [*earlier, last[1]])
                if exhausted or too_old:
                    return None  # no complete post under this key
                start = page.end

        return self._run(look)

    def delete(self, receipt: Receipt) -> None:
        from nio import RoomRedactResponse

        room_id, _, event_id = receipt.remote_id.partition("/")
        if not room_id.startswith("!") or not event_id.startswith("$"):
            raise PermanentError(f"matrix receipt {receipt.remote_id!r} is not 'room/event'")
        event_ids = [*(receipt.extra.get("media_event_ids") or ()), event_id]

        async def redact(client: AsyncClient) -> None:
            for target in event_ids:
                if target == UNREAD_EVENT:
                    continue
                response = await client.room_redact(
                    room_id, target, tx_id=transaction_id(f"redact-{target}")
                )
                self._check(response, f"redacting {target}")
                assert isinstance(response, RoomRedactResponse)

        self._run(redact)


def _filename(media: Media, number: int) -> str:
    return media.filename or f"media{number}.{media.mime_type.partition('/')[2]}"


def _media_content(media: Media, number: int) -> dict[str, Any]:
    """An `m.image`/`m.video` content without its `url`. Its `body` is the alt text (or
    the file name): with no `filename` field, clients read `body` as the media's
    description, not as a caption."""
    info: dict[str, Any] = {"mimetype": media.mime_type, "size": media.size}
    if media.width and media.height:
        info.update(w=media.width, h=media.height)
    return {
        "msgtype": "m.image" if media.kind == "image" else "m.video",
        "body": media.alt or _filename(media, number),
        "info": info,
    }


def _receipt(room_id: str, event_ids: list[str]) -> Receipt:
    """The receipt of a post: its last event (the text, or the last media when there is
    no text), with the media events before it for `delete`."""
    last = event_ids[-1]
    extra: dict[str, Any] = {"room_id": room_id, "event_id": last}
    if len(event_ids) > 1:
        extra["media_event_ids"] = event_ids[:-1]
    url = None if last == UNREAD_EVENT else f"https://matrix.to/#/{room_id}/{last}"
    return Receipt(remote_id=f"{room_id}/{last}", url=url, extra=extra)
