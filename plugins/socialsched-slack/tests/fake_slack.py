"""A fake Slack Web API (respx) that keeps what it is sent, as Slack would.

It answers `auth.test`, `chat.postMessage`, the external upload flow
(`files.getUploadURLExternal`, the POST of the bytes to the upload URL,
`files.completeUploadExternal`), `conversations.history` (newest first, `oldest`,
`limit` and `cursor` paging), `chat.delete` and `files.delete`; it checks the bot token
(`invalid_auth` otherwise, with HTTP 200 as Slack does) and fails on request with a 429
and `Retry-After`, or `channel_not_found`.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import respx

from socialsched.testing import Arrived, key_in_text

BOT_USER, BOT_ID = "U0BOT", "B0BOT"
UPLOAD_URL = "https://files.slack.example/upload/v1/"


class FakeSlackApi:
    """Messages of every Slack channel, newest last; files uploaded, shared or not."""

    def __init__(self, router: respx.MockRouter, api_url: str, token: str) -> None:
        self.router = router
        self.token = token
        self.page_size: int | None = None  # caps `limit`, to make paging visible
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages
        self.files: dict[str, dict[str, Any]] = {}  # file id -> what was uploaded
        self._ids = itertools.count(1)
        self._clock = itertools.count()
        self._failure: str | None = None
        for method in (
            "auth.test",
            "chat.postMessage",
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "conversations.history",
            "chat.delete",
            "files.delete",
        ):
            router.route(url=f"{api_url}/{method}").mock(side_effect=self._handler(method))
        router.post(url__startswith=UPLOAD_URL).mock(side_effect=self._receive_bytes)

    # -- what the kit and tests look at ------------------------------------------------

    def published(self) -> list[str]:
        return [_key(message) for messages in self.messages.values() for message in messages]

    def attachments(self, key: str) -> list[Arrived]:
        for messages in self.messages.values():
            for message in messages:
                if _key(message) == key:
                    return [
                        Arrived.of(self.files[f["id"]]["data"], self.files[f["id"]].get("alt"))
                        for f in message.get("files", [])
                    ]
        return []

    def fail_next(self, kind: str) -> bool:
        self._failure = kind
        return True

    # -- the API -----------------------------------------------------------------------

    def _handler(self, method: str) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            failure, self._failure = self._failure, None
            if failure == "transient":
                return httpx.Response(429, headers={"Retry-After": "4"}, text="ratelimited")
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _answer(ok=False, error="invalid_auth")
            if failure == "permanent":
                return _answer(ok=False, error="channel_not_found")
            return getattr(self, "_" + method.replace(".", "_"))(_arguments(request))

        return handle

    def _auth_test(self, args: dict[str, Any]) -> httpx.Response:
        return _answer(user="socialsched", user_id=BOT_USER, bot_id=BOT_ID, team="Brand")

    def _post(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        # Real time (as Slack's ts is), made unique by a microsecond step per message.
        message.update(ts=f"{time.time() + next(self._clock) / 1e6:.6f}", user=BOT_USER)
        message["bot_id"] = BOT_ID
        self.messages.setdefault(channel, []).append(message)
        return message

    def _chat_postMessage(self, args: dict[str, Any]) -> httpx.Response:
        message = {"text": args["text"]}
        if "metadata" in args:
            message["metadata"] = args["metadata"]
        posted = self._post(args["channel"], message)
        return _answer(channel=args["channel"], ts=posted["ts"])

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> httpx.Response:
        file_id = f"F{next(self._ids):04d}"
        self.files[file_id] = {
            "name": args["filename"],
            "length": int(args["length"]),
            "alt": args.get("alt_txt"),
        }
        return _answer(upload_url=f"{UPLOAD_URL}{file_id}", file_id=file_id)

    def _receive_bytes(self, request: httpx.Request) -> httpx.Response:
        upload = self.files[request.url.path.rsplit("/", 1)[1]]
        if len(request.content) != upload["length"]:
            return httpx.Response(400, text="length mismatch")
        upload.update(data=request.content, mime=request.headers["Content-Type"])
        return httpx.Response(200, text=f"OK - {len(request.content)}")

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> httpx.Response:
        shared = [{"id": f["id"], "name": self.files[f["id"]]["name"]} for f in args["files"]]
        if any("data" not in self.files[f["id"]] for f in shared):
            return _answer(ok=False, error="file_not_found")
        self._post(args["channel_id"], {"text": args.get("initial_comment", ""), "files": shared})
        # Slack processes the share asynchronously: the answer names the files only.
        return _answer(files=[{"id": f["id"], "title": f.get("title")} for f in args["files"]])

    def _conversations_history(self, args: dict[str, Any]) -> httpx.Response:
        newest_first = [
            message
            for message in reversed(self.messages.get(args["channel"], []))
            if float(message["ts"]) > float(args.get("oldest", 0))
        ]
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit", 100)), self.page_size or 1000)
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        return _answer(
            messages=page,
            has_more=more,
            response_metadata={"next_cursor": str(start + limit) if more else ""},
        )

    def _chat_delete(self, args: dict[str, Any]) -> httpx.Response:
        messages = self.messages.get(args["channel"], [])
        for message in messages:
            if message["ts"] == args["ts"]:
                messages.remove(message)
                return _answer(channel=args["channel"], ts=args["ts"])
        return _answer(ok=False, error="message_not_found")

    def _files_delete(self, args: dict[str, Any]) -> httpx.Response:
        if self.files.pop(args["file"], None) is None:
            return _answer(ok=False, error="file_not_found")
        for messages in self.messages.values():
            for message in list(messages):
                if "files" in message:
                    message["files"] = [f for f in message["files"] if f["id"] != args["file"]]
                    if not message["files"]:  # a share whose files are all gone goes too
                        messages.remove(message)
        return _answer()


def _answer(ok: bool = True, **fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"ok": ok, **fields})


def _arguments(request: httpx.Request) -> dict[str, Any]:
    """A Web API call's arguments: query string, form or JSON body."""
    args: dict[str, Any] = dict(request.url.params)
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        args.update(json.loads(request.content))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        args.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
    return args


def _key(message: dict[str, Any]) -> str:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    return str(payload.get("idempotency_key") or key_in_text(message["text"]) or "")


__all__ = ["BOT_ID", "BOT_USER", "UPLOAD_URL", "FakeSlackApi"]
