"""A fast local HTTP receiver for benchmarks and tests: HTTP/1.1 with keep-alive, each
answer (headers and body) written in one send on a TCP_NODELAY socket.

Why not `http.server`: speaking HTTP/1.1 keep-alive it writes an answer's headers and
body in separate packets, and the client's delayed ACK then stalls every request by
about 40 ms (about 20 requests/s per client, whatever the client does). This receiver
answers each request at once, so what a benchmark measures is the client's own cost.

It counts the connections it accepted, the requests it answered and each request's
`Idempotency-Key`, and can run in a thread of this process (tests) or in a process of
its own (benchmarks, so that its work does not share the measured process's
interpreter):

    with Receiver(in_process=False) as receiver:
        ...post to receiver.url...
    receiver.stats.connections, receiver.stats.requests, receiver.stats.keys
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import threading
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import attrs

#: The answer to every request: a JSON body with an id, as the webhook adapter reads.
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


@attrs.frozen
class ReceiverStats:
    """What a receiver saw: connections accepted, requests answered, and each
    request's Idempotency-Key header in arrival order (empty when absent)."""

    connections: int = 0
    requests: int = 0
    keys: tuple[str, ...] = ()


class _Counters:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.keys: list[str] = []

    def stats(self) -> ReceiverStats:
        return ReceiverStats(self.connections, self.requests, tuple(self.keys))


class _Http(asyncio.Protocol):
    """One connection: parse requests as they arrive (Content-Length bodies only)
    and answer each in one write."""

    def __init__(self, counters: _Counters) -> None:
        self.counters = counters
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.counters.connections += 1
        raw = transport.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            self.buffer = self.buffer[end + 4 + length :]
            self.counters.requests += 1
            number = self.counters.requests
            self.counters.keys.append(fields.get("idempotency-key", ""))
            # "id" as webhooks, Discord and the Graph API answer; "data.id" as X does.
            body = b'{"id": "%d", "url": "http://127.0.0.1/p/%d", "data": {"id": "%d"}}' % (
                number,
                number,
                number,
            )
            assert self.transport is not None
            if head[0].startswith("HEAD "):
                body = b""
            self.transport.write(_HEAD % len(body) + body)


async def _serve(
    sock: socket.socket, counters: _Counters, stop: asyncio.Event, started: threading.Event
) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(counters), sock=sock)
    started.set()
    async with server:
        await stop.wait()


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _child(sock: socket.socket, pipe: Connection) -> None:
    """The receiver's own process: serve until the parent writes to `pipe`, then
    send the counts back."""
    counters = _Counters()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(pipe.fileno(), stop.set)
        await _serve(sock, counters, stop, threading.Event())

    pipe.send("ready")
    asyncio.run(main())
    pipe.recv()
    pipe.send(attrs.asdict(counters.stats()))


class Receiver:
    """The receiver as a context manager; `url` is its base URL, `stats` what it saw
    (read after the `with` block, or at any time in-process)."""

    def __init__(self, *, in_process: bool = True) -> None:
        self.in_process = in_process
        self._sock = _listening()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._counters = _Counters()
        self._final: ReceiverStats | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._process: Any = None
        self._pipe: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The receiver's process id once started in a process of its own, else None."""
        return None if self._process is None else self._process.pid

    @property
    def stats(self) -> ReceiverStats:
        """Connections, requests and keys seen so far (final once stopped)."""
        return self._final if self._final is not None else self._counters.stats()

    def __enter__(self) -> Receiver:
        if self.in_process:
            started = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
            self._thread.start()
            started.wait(10)
        else:
            # fork: the child inherits the listening socket as it is.
            context = multiprocessing.get_context("fork")
            self._pipe, child_end = context.Pipe()
            self._process = context.Process(target=_child, args=(self._sock, child_end))
            self._process.start()
            if not self._pipe.poll(30):
                raise RuntimeError("the receiver process did not start")
            self._pipe.recv()
        return self

    def _run(self, started: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await _serve(self._sock, self._counters, self._stop, started)

        asyncio.run(main())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            assert self._loop is not None and self._stop is not None
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._final = self._counters.stats()
        elif self._process is not None and self._pipe is not None:
            self._pipe.send("stop")
            self._final = ReceiverStats(**_tuple_keys(self._pipe.recv()))
            self._process.join(10)
        self._sock.close()


def _tuple_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "keys": tuple(data["keys"])}


__all__ = ["Receiver", "ReceiverStats"]
