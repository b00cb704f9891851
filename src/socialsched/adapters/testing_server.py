"""A real HTTP server on 127.0.0.1 with scripted responses, for the tests of adapters
that speak HTTP, and a folder served the way a channel's media host is
(`socialsched.testing`)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import functools
import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class Reply:
    """A scripted HTTP response; `delay` seconds before answering (to force timeouts)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0


@attrs.frozen
class Request:
    """An HTTP request the local server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, bytes]:
        """The fields of a form body (multipart/form-data or url-encoded) by name, as
        bytes: the file's content for a file field, the UTF-8 text of the others."""
        content_type = self.header("Content-Type") or ""
        if content_type.startswith("multipart/"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            parsed = email.message_from_bytes(head + self.body, policy=email.policy.default)
            fields = {}
            for part in parsed.iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                payload = part.get_payload(decode=True)
                fields[name] = payload if isinstance(payload, bytes) else b""
            return fields
        return {
            key: values[0].encode()
            for key, values in urllib.parse.parse_qs(self.body.decode()).items()
        }


class LocalServer:
    """A real HTTP server on 127.0.0.1 (free port, own thread) for adapter tests.

    It records every request in `requests` and answers with the scripted replies
    queued by `reply(...)`, then with the default: 200 and `{"id": n, "url": ...}`.
    Use as a context manager; `url` is its base URL.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body, 0)
                with server._lock:
                    number = len(server.requests) + 1
                    reply = server._replies.pop(0) if server._replies else None
                    if reply is None:
                        reply = server.respond(request, number)
                    if reply is None:
                        reply = Reply(200, {"id": str(number), "url": f"{server.url}/p/{number}"})
                    server.requests.append(attrs.evolve(request, status=reply.status))
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                payload = b""
                if reply.body is not None:
                    payload = (
                        reply.body
                        if isinstance(reply.body, bytes)
                        else json.dumps(reply.body).encode()
                    )
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    if reply.body is not None and not isinstance(reply.body, bytes):
                        self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD answer has headers only
                        self.wfile.write(payload)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            do_POST = do_PUT = do_DELETE = do_GET = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def respond(self, request: Request, number: int) -> Reply | None:
        """The reply to request `number` (from 1) when none is queued; None for the
        default. Override to answer from what earlier requests did (e.g. a listing of
        the posts made so far); it runs under the server's lock, with `self.requests`
        holding the requests before this one."""
        return None

    def reply(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _QuietFolderHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


@contextlib.contextmanager
def serve_folder(folder: str | Path) -> Iterator[str]:
    """A real web server on 127.0.0.1 publishing `folder` while the block runs; yields
    its base URL. For adapters of networks that fetch media by URL: point the
    channel's `media_host` at the folder and this URL, and have the fake network fetch
    what the adapter names, as the real one would."""
    handler = functools.partial(_QuietFolderHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
