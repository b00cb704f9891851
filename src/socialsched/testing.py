"""The adapter conformance kit: pytest checks every socialsched adapter must pass.

A plugin author subclasses `AdapterContract` in a test module, names the adapter
class, and provides three fixtures: `remote` (a fake or local server standing in for
the network, following the `Remote` protocol), `channel` (a `Channel` pointing at it)
and `environ` (the environment holding the channel's secrets)::

    from socialsched.model import Channel
    from socialsched.testing import AdapterContract, LocalServer

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter

        @pytest.fixture
        def remote(self):
            with MyFakeNetwork() as fake:
                yield fake

        @pytest.fixture
        def channel(self, remote):
            return Channel(name="main", adapter="mynet",
                           settings={"url": remote.url}, secrets={"token": "MYNET_TOKEN"})

        @pytest.fixture
        def environ(self):
            return {"MYNET_TOKEN": "s3cr3t-value"}

Every `test_*` method below then runs against the adapter. Messages the kit
publishes have the text `"contract message <idempotency key>"`, so a remote that
only sees text can still tell which key a post belongs to (see `key_in_text`).

`LocalServer` is a real HTTP server on 127.0.0.1 (a thread, any free port) with
scripted responses, for adapters that talk HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol

import attrs
import pytest

from .adapters import (
    Adapter,
    AdapterError,
    Capabilities,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from .audiences import AUDIENCE_KINDS, Audience
from .media import Media
from .model import Channel

TEXT_PREFIX = "contract message "
_KEY_IN_TEXT = re.compile(re.escape(TEXT_PREFIX) + r"(\S+)")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def key_in_text(text: str) -> str | None:
    """The idempotency key a kit message carries in its text, or None."""
    match = _KEY_IN_TEXT.search(text)
    return match[1] if match else None


class Remote(Protocol):
    """The network stand-in a contract test talks to."""

    def published(self) -> list[str]:
        """Idempotency keys of the posts that exist on the remote now, one entry per
        post (a key posted twice appears twice; a deleted post is gone)."""

    def fail_next(self, kind: str) -> bool:
        """Make the next publish fail the way `kind` says: "transient" (rate limit,
        outage, timeout) or "permanent" (rejected, unauthorised). Return False when
        this remote cannot simulate that; the check is then skipped."""


class AdapterContract:
    """Base class of an adapter's conformance tests (see the module docs).

    Set `adapter_class`; provide the `remote`, `channel` and `environ` fixtures;
    override `make_adapter` when the constructor needs more than (channel, environ), and
    `make_audience` when the adapter needs a particular audience id.
    """

    adapter_class: ClassVar[type[Adapter]]

    def make_adapter(self, channel: Channel, environ: Mapping[str, str], remote: Any) -> Adapter:
        """A new adapter instance for the channel (override to pass extra arguments)."""
        return self.adapter_class(channel, environ=environ)

    def make_audience(self, adapter: Adapter) -> Audience | None:
        """The audience of the messages the kit publishes: by default one of the first
        declared kind with the id "contract-audience" (override when the adapter needs
        a particular id, e.g. one naming a secret)."""
        return _supported_audience(adapter)

    def make_message(
        self, adapter: Adapter, key: str, text: str | None = None, audience: Any = None
    ) -> Message:
        """A message the adapter should accept, carrying `key` in its text."""
        when = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)
        return Message(
            delivery_id=f"delivery-{key}",
            post="contract-post",
            segment="contract-segment",
            channel=adapter.channel.name,
            locale="en-US",
            text=text if text is not None else f"{TEXT_PREFIX}{key}",
            utc=when,
            local=when,
            audience=audience if audience is not None else self.make_audience(adapter),
        )

    # ---- fixtures the subclass must provide ----

    @pytest.fixture
    def remote(self) -> Any:
        """The fake or local network (override)."""
        pytest.fail(f"{type(self).__name__} must define a `remote` fixture")

    @pytest.fixture
    def channel(self, remote: Any) -> Channel:
        """The channel configuration pointing at `remote` (override)."""
        pytest.fail(f"{type(self).__name__} must define a `channel` fixture")

    @pytest.fixture
    def environ(self) -> Mapping[str, str]:
        """Environment variables holding the channel's secret values (override)."""
        return {}

    @pytest.fixture
    def adapter(
        self, channel: Channel, environ: Mapping[str, str], remote: Any
    ) -> Iterator[Adapter]:
        adapter = self.make_adapter(channel, environ, remote)
        yield adapter
        adapter.close()

    @pytest.fixture
    def secret_values(self, channel: Channel, environ: Mapping[str, str]) -> list[str]:
        return [environ[name] for name in channel.secrets.values() if environ.get(name)]

    # ---- the contract ----

    def test_has_a_name(self) -> None:
        name = self.adapter_class.name
        assert isinstance(name, str) and _NAME.match(name), (
            f"adapter name {name!r} must be lowercase letters, digits, '-' or '_'"
        )

    def test_declares_capabilities(self, adapter: Adapter) -> None:
        for capabilities in (self.adapter_class.capabilities, adapter.capabilities):
            assert isinstance(capabilities, Capabilities)
            limit = capabilities.max_length
            assert limit is None or (isinstance(limit, int) and limit > 0)
            # Kinds are open (a network may have its own), but each must be a word
            # a calendar can write before the ':' of an audience.
            bad = [kind for kind in capabilities.audiences if not _NAME.match(str(kind))]
            assert not bad, f"audience kinds {bad} must be lowercase words"

    def test_validate_accepts_a_fitting_message(self, adapter: Adapter) -> None:
        problems = adapter.validate(self.make_message(adapter, "fits"))
        assert isinstance(problems, list)
        assert problems == []

    def test_validate_rejects_text_over_max_length(self, adapter: Adapter) -> None:
        limit = adapter.capabilities.max_length
        if limit is None:
            pytest.skip("the adapter declares no length limit")
        fits = self.make_message(adapter, "k", text="a" * limit)
        too_long = self.make_message(adapter, "k", text="a" * (limit + 1))
        assert adapter.validate(fits) == []
        problems = adapter.validate(too_long)
        assert problems and all(isinstance(p, str) for p in problems)

    def test_validate_rejects_unsupported_audience(self, adapter: Adapter) -> None:
        supported = set(adapter.capabilities.audiences)
        if "any" in supported:
            pytest.skip("the adapter accepts any audience")
        kind = next(k for k in AUDIENCE_KINDS if k not in supported and k != "targeting")
        message = self.make_message(adapter, "k", audience=Audience(kind, "someone"))
        problems = adapter.validate(message)
        assert problems and all(isinstance(p, str) for p in problems)

    def test_validate_rejects_media_when_unsupported(self, adapter: Adapter) -> None:
        if adapter.capabilities.media:
            pytest.skip("the adapter supports media")
        message = attrs.evolve(self.make_message(adapter, "k"), attachments=(sample_image(),))
        assert adapter.validate(message)

    def test_publish_returns_a_receipt(self, adapter: Adapter, remote: Remote) -> None:
        receipt = adapter.publish(self.make_message(adapter, "key-1"), "key-1")
        assert isinstance(receipt, Receipt)
        assert isinstance(receipt.remote_id, str) and receipt.remote_id
        assert remote.published() == ["key-1"]

    def test_publish_with_the_same_key_posts_once(self, adapter: Adapter, remote: Remote) -> None:
        message = self.make_message(adapter, "key-same")
        first = adapter.publish(message, "key-same")
        second = adapter.publish(message, "key-same")
        assert first.remote_id == second.remote_id
        assert remote.published() == ["key-same"]

    def test_publish_with_different_keys_posts_each(self, adapter: Adapter, remote: Remote) -> None:
        adapter.publish(self.make_message(adapter, "key-a"), "key-a")
        adapter.publish(self.make_message(adapter, "key-b"), "key-b")
        assert sorted(remote.published()) == ["key-a", "key-b"]

    def test_declared_idempotency_holds_across_instances(
        self, adapter: Adapter, remote: Remote, channel: Channel, environ: Mapping[str, str]
    ) -> None:
        if not adapter.capabilities.idempotent:
            pytest.skip("the adapter does not declare cross-process idempotency")
        message = self.make_message(adapter, "key-x")
        adapter.publish(message, "key-x")
        other = self.make_adapter(channel, environ, remote)
        try:
            other.publish(message, "key-x")
        finally:
            other.close()
        assert remote.published() == ["key-x"]

    def test_transient_failure_raises_transient_error(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        if not remote.fail_next("transient"):
            pytest.skip("the remote cannot simulate a transient failure")
        with pytest.raises(AdapterError) as raised:
            adapter.publish(self.make_message(adapter, "key-t"), "key-t")
        assert isinstance(raised.value, TransientError)
        retry_after = raised.value.retry_after
        assert retry_after is None or (isinstance(retry_after, int | float) and retry_after >= 0)

    def test_permanent_failure_raises_permanent_error(
        self, adapter: Adapter, remote: Remote
    ) -> None:
        if not remote.fail_next("permanent"):
            pytest.skip("the remote cannot simulate a permanent failure")
        with pytest.raises(AdapterError) as raised:
            adapter.publish(self.make_message(adapter, "key-p"), "key-p")
        assert isinstance(raised.value, PermanentError)

    def test_missing_secret_is_a_permanent_error(self, channel: Channel, remote: Remote) -> None:
        if not channel.secrets:
            pytest.skip("the channel declares no secrets")
        try:
            adapter = self.make_adapter(channel, {}, remote)
        except PermanentError:
            return
        try:
            with pytest.raises(PermanentError):
                adapter.publish(self.make_message(adapter, "key-m"), "key-m")
        finally:
            adapter.close()

    def test_delete_removes_the_post_or_is_refused(self, adapter: Adapter, remote: Remote) -> None:
        receipt = adapter.publish(self.make_message(adapter, "key-d"), "key-d")
        if adapter.capabilities.delete:
            adapter.delete(receipt)
            assert "key-d" not in remote.published()
        else:
            with pytest.raises(PermanentError):
                adapter.delete(receipt)

    def test_repr_never_shows_secrets(
        self, adapter: Adapter, channel: Channel, secret_values: list[str]
    ) -> None:
        if not secret_values:
            pytest.skip("the channel declares no secrets")
        adapter.publish(self.make_message(adapter, "key-r"), "key-r")  # secrets now read
        shown = " ".join([repr(adapter), str(adapter), repr(channel), str(channel)])
        for value in secret_values:
            assert value not in shown, "a secret value appears in repr()"

    def test_logs_output_and_errors_never_show_secrets(
        self,
        adapter: Adapter,
        remote: Remote,
        secret_values: list[str],
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        if not secret_values:
            pytest.skip("the channel declares no secrets")
        caplog.set_level(logging.DEBUG)
        said: list[str] = []
        receipt = adapter.publish(self.make_message(adapter, "key-l"), "key-l")
        said.append(repr(receipt))
        for kind in ("transient", "permanent"):
            if remote.fail_next(kind):
                try:
                    adapter.publish(self.make_message(adapter, f"key-{kind}"), f"key-{kind}")
                except AdapterError as error:
                    said.extend([str(error), repr(error)])
        captured = capsys.readouterr()
        said.extend([caplog.text, captured.out, captured.err])
        for value in secret_values:
            assert not any(value in text for text in said), "a secret value was logged or shown"


def sample_image(width: int = 64, height: int = 48, *, alt: str = "A test card") -> Media:
    """A small PNG made with Pillow, for media cases."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return Media.from_bytes(buffer.getvalue(), alt=alt, filename="card.png")


def _supported_audience(adapter: Adapter) -> Audience | None:
    kinds = adapter.capabilities.audiences
    if not kinds or "any" in kinds:
        return None
    if kinds[0] == "targeting":
        return Audience("targeting", countries=("US",), locales=("en-US",))
    return Audience(kinds[0], "contract-audience")


# ---- a real local HTTP server for adapters that speak HTTP ----


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
                with server._lock:
                    number = len(server.requests) + 1
                    reply = server._replies.pop(0) if server._replies else None
                    if reply is None:
                        reply = Reply(200, {"id": str(number), "url": f"{server.url}/p/{number}"})
                    server.requests.append(
                        Request(
                            self.command, self.path, dict(self.headers.items()), body, reply.status
                        )
                    )
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


__all__ = [
    "TEXT_PREFIX",
    "AdapterContract",
    "LocalServer",
    "Remote",
    "Reply",
    "Request",
    "key_in_text",
]
