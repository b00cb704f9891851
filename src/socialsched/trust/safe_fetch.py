"""Fetching a calendar's media URLs without reaching internal hosts or exhausting the
machine.

A media URL is written by whoever edits the calendar, and the runner fetches it from
inside the operator's network. So: http(s) only; the host is resolved here and every
address is checked before connecting to *that* address (no second lookup an attacker's
DNS could answer differently); loopback, private, link-local, multicast, reserved,
unspecified and other non-global addresses are refused, IPv4 and IPv6 alike, IPv4
embedded in IPv6 (mapped, compatible, 6to4, Teredo, NAT64) included, unless the
operator allows their network in `SOCIALSCHED_ALLOWED_NETWORKS` (comma-separated
CIDRs). Redirects (at most `MAX_REDIRECTS`) are followed here, each new host checked
the same way. The body is streamed and refused past a byte cap, and the whole fetch
(lookups, connections, redirects, every read) has one deadline: a server dripping a
byte every few seconds cannot hold it longer.

`fetch` makes one call with a pool of its own; a `Fetcher` keeps one pool (one TLS
context, kept connections) across calls, with the same checks and a deadline of each
call's own, for a caller reading many URLs (e.g. an adapter's public API reads).

No proxy from the environment is used (a proxy would connect on our behalf to
addresses never checked), and no compressed encoding is asked for (the cap counts
the bytes as received).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpcore

ALLOWED_NETWORKS_VARIABLE = "SOCIALSCHED_ALLOWED_NETWORKS"
"""The environment variable listing networks (CIDRs, comma-separated) media URLs may
reach although they are not public (e.g. `127.0.0.1/32` for tests, an intranet)."""

DEADLINE_VARIABLE = "SOCIALSCHED_FETCH_DEADLINE"
"""The environment variable giving the deadline of one media fetch, in seconds."""

FETCH_DEADLINE = 30.0
"""Seconds one media fetch may take in all, redirects and slow servers included."""

MAX_REDIRECTS = 5
"""Redirects one media fetch follows at most."""

_REDIRECTS = (301, 302, 303, 307, 308)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""Host and port to the addresses (text) to try, in order."""


class FetchRefused(ValueError):
    """A media URL socialsched will not fetch or could not fetch: the message says why
    (refused address, scheme, too large, too slow, HTTP status, network error). For an
    HTTP answer refused by its status, `status` and `headers` (names lower-case) say
    which (e.g. a rate limit's reset time); otherwise None and empty."""

    def __init__(
        self, message: str, *, status: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers: Mapping[str, str] = dict(headers or {})


class _AddressRefused(Exception):
    """Raised inside a connection attempt; turned into `FetchRefused` by `fetch`."""


def allowed_networks(environ: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """The networks `SOCIALSCHED_ALLOWED_NETWORKS` allows; raises `FetchRefused` for
    an entry that is not a CIDR (a typo must not silently allow nothing or all)."""
    environ = os.environ if environ is None else environ
    networks = []
    for entry in environ.get(ALLOWED_NETWORKS_VARIABLE, "").split(","):
        if not entry.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise FetchRefused(
                f"{ALLOWED_NETWORKS_VARIABLE}: {entry.strip()!r} is not a network "
                "(write CIDRs such as 10.1.0.0/16, comma-separated)"
            ) from None
    return tuple(networks)


def deadline_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The deadline of one fetch: `SOCIALSCHED_FETCH_DEADLINE` seconds, else 30."""
    environ = os.environ if environ is None else environ
    value = environ.get(DEADLINE_VARIABLE, "").strip()
    if not value:
        return FETCH_DEADLINE
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise FetchRefused(f"{DEADLINE_VARIABLE}={value!r}: give a number of seconds")
    return seconds


def _embedded(address: Address) -> list[Address]:
    """`address` and the IPv4 addresses an IPv6 one carries (mapped, compatible,
    6to4, Teredo, NAT64), each of which the packets may really reach."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        value = int(address)
        if 1 < value < 2**32:  # IPv4-compatible ::a.b.c.d (deprecated, still routed)
            found.append(ipaddress.IPv4Address(value))
        if address in ipaddress.ip_network("64:ff9b::/96") or address in ipaddress.ip_network(
            "64:ff9b:1::/48"
        ):
            found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return found


def _kind(address: Address) -> str | None:
    """Why `address` is not public, or None when it is."""
    for name in (
        "unspecified",
        "loopback",
        "link_local",
        "multicast",
        "reserved",
        "private",
    ):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "non-public"
    return None


def refusal(address: Address, allowed: Iterable[Network] = ()) -> str | None:
    """Why a connection to `address` is refused, or None when it may be made: a public
    address, or one inside an allowed network (an IPv4-mapped address counts as its
    IPv4 form)."""
    allowed = tuple(allowed)
    direct = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        direct.append(address.ipv4_mapped)
    if any(a in network for a in direct for network in allowed if a.version == network.version):
        return None
    # The IPv4 address an IPv6 one carries first: it says best where packets go.
    candidates = _embedded(address)
    for candidate in [*candidates[1:], address]:
        kind = _kind(candidate)
        if kind is not None:
            shown = "" if candidate == address else f" (which carries {candidate})"
            article = "an" if kind[0] in "aeiou" else "a"
            return (
                f"{address}{shown} is {article} {kind} address; socialsched fetches media only "
                f"from public addresses (allow a network with {ALLOWED_NETWORKS_VARIABLE})"
            )
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, from the system's resolver, each once, in order."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        text = str(sockaddr[0]).split("%")[0]
        if text not in found:
            found.append(text)
    return found


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write ends by the current call's deadline,
    read from the backend: a pooled connection serves several calls, each with its own."""

    def __init__(self, inner: Any, backend: _CheckedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._backend.deadline - time.monotonic()
        if left <= 0:
            raise error("the fetch's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return bytes(self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout)))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> _DeadlineStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._backend
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that resolves hosts itself and connects only to
    addresses `refusal` accepts: the check is on the address actually connected to.
    `deadline` (a `time.monotonic()` instant) is the current call's, set by `Fetcher.get`."""

    def __init__(self, allowed: tuple[Network, ...], resolver: Resolver, inner: Any) -> None:
        self._allowed = allowed
        self._resolver = resolver
        self._inner = inner
        self.deadline = time.monotonic()  # no call yet: nothing may be read

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> _DeadlineStream:
        host = host.strip("[]")
        literal = True
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            literal = False
            try:
                addresses = [ipaddress.ip_address(a) for a in self._resolver(host, port)]
            except (OSError, UnicodeError, ValueError) as error:
                raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        reasons = [refusal(address, self._allowed) for address in addresses]
        usable = [a for a, reason in zip(addresses, reasons, strict=True) if reason is None]
        if not usable:
            raise _AddressRefused(reasons[0] if literal else f"{host} resolves to {reasons[0]}")
        last: Exception | None = None
        for address in usable:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the fetch's deadline passed")
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
                continue
            return _DeadlineStream(stream, self)
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise _AddressRefused("unix sockets are never used for media")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline - time.monotonic())))


@attrs.frozen
class Fetched:
    """What `fetch` got: the body and the URL it finally came from."""

    data: bytes = attrs.field(repr=False)
    url: str


def _scheme_checked(url: str) -> Any:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise FetchRefused(f"not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchRefused("only http:// and https:// URLs with a host are fetched")
    return parsed


class Fetcher:
    """GETs within bounds, over one connection pool kept across calls (one TLS
    context, connections reused), with `fetch`'s guarantees on every call: connections
    only to public addresses or those in `allowed` (default: `allowed_networks()`),
    checked on the address connected to and at each redirect (at most
    `MAX_REDIRECTS`), a byte cap and one deadline per call.

    A context manager; `close()` closes the pool. Calls are serialised (the deadline
    is the current call's). `resolver` and `network_backend` are for tests, as in
    `fetch`; `user_agent` names who asks, and `purpose` what is fetched (in messages:
    "took longer than the 20 s an engagement fetch may take").
    """

    def __init__(
        self,
        *,
        allowed: Iterable[Network] | None = None,
        resolver: Resolver | None = None,
        network_backend: Any = None,
        user_agent: str = "socialsched media fetch",
        purpose: str = "media",
    ) -> None:
        import httpx

        networks = allowed_networks() if allowed is None else tuple(allowed)
        self._backend = _CheckedBackend(
            networks, resolver or system_resolver, network_backend or httpcore.SyncBackend()
        )
        self._user_agent = user_agent.encode()
        self._purpose = purpose
        self._lock = threading.Lock()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=self._backend, retries=0
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool's connections (a later `get` opens new ones)."""
        self._pool.close()

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        deadline: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        """GET `url`: at most `max_bytes` of body, `deadline` seconds in all (default:
        `deadline_seconds()`), redirects included, `headers` added to the request.
        Raises `FetchRefused` with the reason (its `status` set for an HTTP answer)."""
        seconds = deadline_seconds() if deadline is None else deadline
        with self._lock:
            self._backend.deadline = end = time.monotonic() + seconds
            try:
                return self._get(url, max_bytes, seconds, end, headers or {})
            finally:
                # Between calls an idle pooled connection must not read on a stale deadline.
                self._backend.deadline = time.monotonic()

    def _get(
        self, url: str, max_bytes: int, seconds: float, end: float, extra: Mapping[str, str]
    ) -> Fetched:
        current = _scheme_checked(url)
        request_headers = [
            (b"User-Agent", self._user_agent),
            (b"Accept-Encoding", b"identity"),
            *((key.encode(), value.encode()) for key, value in extra.items()),
        ]
        article = "an" if self._purpose[:1] in "aeiou" else "a"
        slow = f"took longer than the {seconds:g} s {article} {self._purpose} fetch may take"
        for _hop in range(MAX_REDIRECTS + 1):
            left = end - time.monotonic()
            if left <= 0:
                raise FetchRefused(slow)
            timeouts = {"connect": left, "read": left, "write": left, "pool": left}
            try:
                with self._pool.stream(
                    "GET", str(current), headers=request_headers, extensions={"timeout": timeouts}
                ) as response:
                    if response.status in _REDIRECTS:
                        location = _header(response.headers, b"location")
                        if location is None:
                            raise FetchRefused(f"HTTP {response.status} without a Location")
                        current = _scheme_checked(str(current.join(location)))
                        continue
                    if not 200 <= response.status < 300:
                        raise FetchRefused(
                            f"HTTP {response.status}",
                            status=response.status,
                            headers={
                                k.decode("latin-1").lower(): v.decode("latin-1")
                                for k, v in response.headers
                            },
                        )
                    return Fetched(_body(response, max_bytes), str(current))
            except _AddressRefused as error:
                where = "" if str(current) == url else f" (redirected to {current})"
                raise FetchRefused(f"refused{where}: {error}") from None
            except httpcore.TimeoutException:
                raise FetchRefused(slow) from None
            except httpcore.ProtocolError as error:
                raise FetchRefused(f"bad HTTP answer: {error}") from None
            except (httpcore.NetworkError, httpcore.UnsupportedProtocol, OSError) as error:
                raise FetchRefused(f"{type(error).__name__}: {error}") from None
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def fetch(
    url: str,
    *,
    max_bytes: int,
    deadline: float | None = None,
    allowed: Iterable[Network] | None = None,
    resolver: Resolver | None = None,
    network_backend: Any = None,
) -> Fetched:
    """GET `url` within bounds: at most `max_bytes` of body, `deadline` seconds in all
    (default: `deadline_seconds()`), `MAX_REDIRECTS` redirects, connections only to
    public addresses or those in `allowed` (default: `allowed_networks()`).

    `resolver` (host, port -> addresses) and `network_backend` (an httpcore backend
    that really connects) are for tests. Raises `FetchRefused` with the reason. One
    call, one pool: a caller fetching many URLs keeps a `Fetcher` instead.
    """
    with Fetcher(allowed=allowed, resolver=resolver, network_backend=network_backend) as fetcher:
        return fetcher.get(url, max_bytes=max_bytes, deadline=deadline)


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _body(response: Any, max_bytes: int) -> bytes:
    from .paths import too_large

    length = _header(response.headers, b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise FetchRefused(too_large("the body", int(length), max_bytes))
    pieces: list[bytes] = []
    got = 0
    for piece in response.iter_stream():
        got += len(piece)
        if got > max_bytes:
            raise FetchRefused(
                f"the body is over the {max_bytes} bytes socialsched reads of one media file "
                "(the most the calendar's networks accept)"
            )
        pieces.append(piece)
    return b"".join(pieces)


__all__ = [
    "ALLOWED_NETWORKS_VARIABLE",
    "DEADLINE_VARIABLE",
    "FETCH_DEADLINE",
    "MAX_REDIRECTS",
    "FetchRefused",
    "Fetched",
    "Fetcher",
    "allowed_networks",
    "deadline_seconds",
    "fetch",
    "refusal",
    "system_resolver",
]
