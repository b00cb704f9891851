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
Secrets: access_token.
Audiences (per segment, see `socialsched.audiences`): "room:!abc:example.org" (a room
id) or "room:#news-fr:example.org" (an alias); the bot must already be in the room.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import html
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import ClientError
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    RoomRedactResponse,
    RoomResolveAliasResponse,
    RoomSendResponse,
)

from socialsched.adapters import (
    Adapter,
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.audiences import Audience
from socialsched.model import Channel

MSGTYPES = ("m.text", "m.notice")
FORMATS = ("plain", "html")
# The spec caps a whole event at 65536 bytes; leave room for the envelope the server adds.
MAX_CONTENT_BYTES = 60_000
_TAG = re.compile(r"<[^>]+>")
_ROOM = re.compile(r"^[!#][^:\s]+:\S+$")
_TXN_SAFE = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
_RESULT = TypeVar("_RESULT")


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
    capabilities = Capabilities(
        max_length=None,
        audiences=("room",),
        native_scheduling=False,
        delete=True,
        idempotent=True,
    )

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
        """The `m.room.message` content for `message`."""
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
        if not message.text.strip():
            problems.append("matrix cannot send an empty message")
        return problems

    # -- running nio --------------------------------------------------------------------

    def _run(self, work: Callable[[AsyncClient], Awaitable[_RESULT]]) -> _RESULT:
        """Run `work` with a logged-in client on a fresh event loop, mapping errors."""

        async def session() -> _RESULT:
            config = AsyncClientConfig(
                max_limit_exceeded=0,  # report 429 to the caller instead of sleeping
                max_timeouts=0,
                request_timeout=self.timeout,
                encryption_enabled=False,
            )
            client = AsyncClient(self.homeserver, self.user_id, config=config)
            client.restore_login(self.user_id, self.device_id, self.secret("access_token"))
            try:
                return await work(client)
            finally:
                await client.close()

        def run() -> _RESULT:
            try:
                return asyncio.run(session())
            except TimeoutError:
                raise TransientError(f"matrix {self.homeserver} timed out") from None
            except ClientError as error:
                raise TransientError(
                    f"matrix {self.homeserver} unreachable: {type(error).__name__}"
                ) from None

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return run()
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(run).result()

    def _check(self, response: Any, what: str) -> None:
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
        raise PermanentError(f"matrix {what} failed: {detail}")

    async def _room_id(self, client: AsyncClient, room: str) -> str:
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
        content = self.content(message)

        async def send(client: AsyncClient) -> Receipt:
            room_id = await self._room_id(client, room)
            response = await client.room_send(
                room_id, "m.room.message", content, tx_id=transaction_id(idempotency_key)
            )
            self._check(response, f"sending to {room}")
            assert isinstance(response, RoomSendResponse)
            return Receipt(
                remote_id=f"{room_id}/{response.event_id}",
                url=f"https://matrix.to/#/{room_id}/{response.event_id}",
                extra={"room_id": room_id, "event_id": response.event_id},
            )

        return self._run(send)

    def delete(self, receipt: Receipt) -> None:
        room_id, _, event_id = receipt.remote_id.partition("/")
        if not room_id.startswith("!") or not event_id.startswith("$"):
            raise PermanentError(f"matrix receipt {receipt.remote_id!r} is not 'room/event'")

        async def redact(client: AsyncClient) -> None:
            response = await client.room_redact(
                room_id, event_id, tx_id=transaction_id(f"redact-{event_id}")
            )
            self._check(response, f"redacting {event_id}")
            assert isinstance(response, RoomRedactResponse)

        self._run(redact)
