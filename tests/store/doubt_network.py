"""A fake network for the in-doubt crash tests: a local HTTP receiver that keeps every
post it receives and can hold its answers back (so a runner is killed after the post
arrived but before it recorded it), and two adapters talking to it.

Run as a script, it is the `socialsched` command with those adapters registered:
`python doubt_network.py run --db ...`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from socialsched import hookimpl, plugins
from socialsched.adapters import (
    Adapter,
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)


class Receiver:
    """Keeps the posts it receives (POST /posts, JSON with an idempotency key) and
    answers whether one exists (GET /posts/KEY: 200 with its id, or 404). While
    `holding`, a post is kept at once but answered only on `release()`. `arrived` has
    the Idempotency-Key header of every POST as soon as its headers are read, kept
    even when the sender dies before the body is in (a request cut mid-flight)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []  # (idempotency key, remote id)
        self.arrived: list[str] = []
        self.delay = 0.0  # seconds each POST takes to answer (a network's latency)
        self.holding = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.arrived.append(self.headers.get("Idempotency-Key", ""))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    remote_id = f"post-{len(receiver.posts) + 1}"
                    receiver.posts.append((body["key"], remote_id))
                if receiver.holding.is_set():
                    receiver.released.wait(60)
                elif receiver.delay:
                    time.sleep(receiver.delay)
                self._answer(200, {"id": remote_id})

            def do_GET(self) -> None:
                key = self.path.removeprefix("/posts/")
                with receiver._lock:
                    found = [remote for seen, remote in receiver.posts if seen == key]
                if found:
                    self._answer(200, {"id": found[0]})
                else:
                    self._answer(404, {"error": "no such post"})

            def _answer(self, status: int, data: Any) -> None:
                payload = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the runner was killed meanwhile
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def keys(self) -> list[str]:
        with self._lock:
            return [key for key, _ in self.posts]

    def release(self) -> None:
        self.holding.clear()
        self.released.set()

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


class ReceiverAdapter(Adapter):
    """Posts to the receiver; `find` asks it for a post under the key."""

    name = "receiver"
    capabilities = Capabilities(audiences=("any",))

    def _url(self, path: str) -> str:
        return f"{self.channel.settings['url']}{path}"

    @property
    def _client(self) -> httpx.Client:
        # One client per channel: a new one per request costs tens of milliseconds.
        client = self.__dict__.get("_http")
        if client is None:
            client = self.__dict__["_http"] = httpx.Client(timeout=90)
        return client

    def close(self) -> None:
        client = self.__dict__.pop("_http", None)
        if client is not None:
            client.close()

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        try:
            response = self._client.post(
                self._url("/posts"),
                json={"key": idempotency_key, "text": message.text},
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.HTTPError as error:
            raise TransientError(f"receiver: {type(error).__name__}") from None
        if response.status_code != 200:
            raise PermanentError(f"receiver: HTTP {response.status_code}")
        return Receipt(remote_id=response.json()["id"])

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        try:
            response = self._client.get(self._url(f"/posts/{idempotency_key}"), timeout=10)
        except httpx.HTTPError as error:
            raise TransientError(f"receiver: {type(error).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransientError(f"receiver: HTTP {response.status_code}")
        return Receipt(remote_id=response.json()["id"])


class BlindReceiverAdapter(ReceiverAdapter):
    """Posts to the receiver but cannot ask it anything (the base `find`)."""

    name = "receiver-blind"

    def find(self, message: Message, idempotency_key: str) -> Receipt | None:
        return Adapter.find(self, message, idempotency_key)


class Plugin:
    @hookimpl
    def register_adapters(self, register: Any) -> None:
        register(ReceiverAdapter)
        register(BlindReceiverAdapter)


if __name__ == "__main__":
    from socialsched.cli import main

    plugins.register(Plugin(), name="doubt-network")
    sys.exit(main())
