"""`safe_fetch.Fetcher`: one connection pool kept across calls, with `fetch`'s guarantees
on every call (checked addresses, redirects checked, byte cap, one deadline per call).

Connections are made only to a server on 127.0.0.1 (allowed through
SOCIALSCHED_ALLOWED_NETWORKS); refusals of internal addresses use a mock resolver and a
network backend that records and refuses every connection."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest

from socialsched.trust.safe_fetch import ALLOWED_NETWORKS_VARIABLE, Fetcher, FetchRefused

from .test_media_urls import REFUSED, NoConnections

Route = Callable[[BaseHTTPRequestHandler], None]


class KeepAliveServer:
    """An HTTP/1.1 server on 127.0.0.1 (connections kept open between requests) that
    records, per request, the path and the client's (address, port)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.requests: list[tuple[str, tuple[str, int]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append((self.path, self.client_address[:2]))
                route = routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                # The client giving up (as it should, past a cap) is no error here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> KeepAliveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def body(data: bytes, status: int = 200, **headers: str) -> Route:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(data)

    return answer


class CountingBackend(httpcore.NetworkBackend):
    """The real backend, counting the connections it opens and where to."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, **kwargs: Any) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        return self.inner.connect_tcp(host, port, **kwargs)


@pytest.fixture
def local_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_VARIABLE, "127.0.0.1/32")


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    one, two = b"first body", b"second, longer body"
    routes = {
        "/one": body(one),
        "/two": body(two),
        "/big": body(b"x" * 5000),
        "/busy": body(b"{}", status=429, RateLimit_Reset="1800000000"),
    }
    with KeepAliveServer(routes) as running:
        yield running


def test_two_gets_go_over_one_connection(local_allowed: None, server: KeepAliveServer) -> None:
    backend = CountingBackend()
    with Fetcher(network_backend=backend) as fetcher:
        first = fetcher.get(f"{server.url}/one", max_bytes=1000, deadline=5)
        second = fetcher.get(f"{server.url}/two", max_bytes=1000, deadline=5)
    assert (first.data, first.url) == (b"first body", f"{server.url}/one")
    assert (second.data, second.url) == (b"second, longer body", f"{server.url}/two")
    assert [path for path, _ in server.requests] == ["/one", "/two"]
    clients = {client for _, client in server.requests}
    assert len(clients) == 1, f"two connections: {clients}"
    assert backend.connected == [("127.0.0.1", int(server.url.rsplit(":", 1)[1]))]


def test_each_get_has_its_own_deadline(local_allowed: None, server: KeepAliveServer) -> None:
    """The first call's deadline has passed when the second call reads from the same
    connection: the second call's own deadline is what counts."""
    with Fetcher() as fetcher:
        fetcher.get(f"{server.url}/one", max_bytes=1000, deadline=0.5)
        time.sleep(0.7)
        again = fetcher.get(f"{server.url}/two", max_bytes=1000, deadline=5)
    assert again.data == b"second, longer body"
    assert len({client for _, client in server.requests}) == 1


def test_the_byte_cap_is_per_get_and_the_fetcher_still_works(
    local_allowed: None, server: KeepAliveServer
) -> None:
    with Fetcher() as fetcher:
        with pytest.raises(FetchRefused, match=r"the body is .* over the 4000 bytes"):
            fetcher.get(f"{server.url}/big", max_bytes=4000, deadline=5)
        assert fetcher.get(f"{server.url}/big", max_bytes=6000, deadline=5).data == b"x" * 5000


def test_a_refused_status_says_which_with_its_headers(
    local_allowed: None, server: KeepAliveServer
) -> None:
    with Fetcher() as fetcher, pytest.raises(FetchRefused, match="HTTP 429") as caught:
        fetcher.get(f"{server.url}/busy", max_bytes=1000, deadline=5)
    assert caught.value.status == 429
    assert caught.value.headers["ratelimit-reset"] == "1800000000"


def test_without_the_allowed_network_the_local_server_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: KeepAliveServer
) -> None:
    monkeypatch.delenv(ALLOWED_NETWORKS_VARIABLE, raising=False)
    with Fetcher() as fetcher, pytest.raises(FetchRefused, match=r"127\.0\.0\.1 is a loopback"):
        fetcher.get(f"{server.url}/one", max_bytes=1000, deadline=5)
    assert server.requests == []


def test_a_redirect_to_another_internal_address_is_refused_on_a_kept_pool(
    local_allowed: None, server: KeepAliveServer
) -> None:
    port = server.url.rsplit(":", 1)[1]
    target = f"http://127.0.0.2:{port}/one"
    server_routes = {"/hop": body(b"", status=302, Location=target)}
    with KeepAliveServer(server_routes) as hopper, Fetcher() as fetcher:
        assert fetcher.get(f"{server.url}/one", max_bytes=1000, deadline=5).data == b"first body"
        with pytest.raises(FetchRefused) as caught:
            fetcher.get(f"{hopper.url}/hop", max_bytes=1000, deadline=5)
    assert str(caught.value).startswith(
        f"refused (redirected to {target}): 127.0.0.2 is a loopback address"
    )
    assert [path for path, _ in server.requests] == ["/one"]


@pytest.mark.parametrize("address", [a for a, _ in REFUSED[:6]])
def test_a_kept_fetcher_never_connects_to_an_internal_address(address: str) -> None:
    backend = NoConnections()
    with Fetcher(
        allowed=(), resolver=lambda host, port: [address], network_backend=backend
    ) as fetcher:
        for _ in range(2):
            with pytest.raises(FetchRefused) as caught:
                fetcher.get("https://media.example/a.png", max_bytes=1000, deadline=5)
            assert str(caught.value).startswith(f"refused: media.example resolves to {address} ")
    assert backend.asked == []
