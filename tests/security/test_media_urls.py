"""Probes: media URLs reach only public addresses, within a byte cap and one deadline
(issue 20, item 3).

CLI probes talk only to a server on 127.0.0.1; refusals of private, link-local and
other internal addresses are tested with a mock resolver and a network backend that
fails the test if it is ever asked to connect."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpcore
import pytest

from socialsched.trust.safe_fetch import (
    ALLOWED_NETWORKS_VARIABLE,
    FetchRefused,
    allowed_networks,
    fetch,
    refusal,
)

from .hostile import calendar, endless, line_of, png, redirect, reply, serving
from .probe import assert_no_traceback, run_probe

ALLOW_LOCAL = {ALLOWED_NETWORKS_VARIABLE: "127.0.0.1/32"}


def plan(folder: Path, elsewhere: Path, env: dict[str, str] | None = None, timeout: float = 120):
    result = run_probe(
        "plan",
        f"../{folder.name}/calendar.toml",
        "--start",
        "2027-03-02",
        "--end",
        "2027-03-02",
        cwd=elsewhere,
        env=env,
        timeout=timeout,
    )
    assert_no_traceback(result)
    return result


def test_a_url_to_the_loopback_is_refused_without_connecting(folders):
    """Before: http://127.0.0.1:PORT/... was fetched."""
    project, elsewhere = folders
    with serving({"/banner.png": reply(png())}) as server:
        url = f"{server.url}/banner.png"
        path = calendar(project, f'["{url}"]')
        result = plan(project, elsewhere)
        assert server.paths == []
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f"calendar.toml:{line_of(path, 'media =')}: error: post 'launch' for segment" in output
    assert output.count("'launch'") == 1
    assert f"cannot fetch media {url}: refused: 127.0.0.1 is a loopback address" in output


def test_an_allowed_network_is_fetched(folders):
    project, elsewhere = folders
    with serving({"/banner.png": reply(png())}) as server:
        calendar(project, f'["{server.url}/banner.png"]')
        result = plan(project, elsewhere, ALLOW_LOCAL)
        assert server.paths == ["/banner.png"]
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_redirect_to_another_internal_address_is_refused(folders):
    """Before: redirects were followed to internal ports. 127.0.0.2 is not in the
    allowed 127.0.0.1/32, so it is refused before any connection to it."""
    project, elsewhere = folders
    with serving({}) as server:
        target = f"http://127.0.0.2:{server.port}/internal"
        server.routes["/start.png"] = redirect(target)
        calendar(project, f'["{server.url}/start.png"]')
        result = plan(project, elsewhere, ALLOW_LOCAL)
        assert server.paths == ["/start.png"]
    assert result.returncode == 1
    assert f"refused (redirected to {target}): 127.0.0.2 is a loopback address" in (
        result.stdout + result.stderr
    )


def test_redirects_stop_after_five(folders):
    project, elsewhere = folders
    with serving({}) as server:
        server.routes["/loop.png"] = redirect(f"{server.url}/loop.png")
        calendar(project, f'["{server.url}/loop.png"]')
        result = plan(project, elsewhere, ALLOW_LOCAL)
        assert server.paths == ["/loop.png"] * 6
    assert result.returncode == 1
    assert "more than 5 redirects" in result.stdout + result.stderr


@pytest.mark.parametrize("declared", [2 * 1024**3, None], ids=["declared", "undeclared"])
def test_a_2_gb_body_is_refused_at_the_cap(folders, declared):
    """Before: the whole body was read into memory (MemoryError). The console channel
    declares no byte limit: the cap is then 100 MB."""
    project, elsewhere = folders
    with serving({}) as server:
        server.routes["/big.png"] = endless(server.stop, declared=declared, piece=b"\0" * 65536)
        calendar(project, f'["{server.url}/big.png"]')
        result = plan(project, elsewhere, ALLOW_LOCAL)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    if declared:
        assert f"the body is 2.1 GB ({declared} bytes), over the 100000000 bytes" in output
    else:
        assert "the body is over the 100000000 bytes" in output


def test_a_slow_drip_server_is_cut_at_the_deadline(folders):
    """Before: the timeout was per read, so a byte every few seconds held the command
    for ever. Here the deadline is 3 s and the server never stops dripping; the
    subprocess timeout only guards against a regression."""
    project, elsewhere = folders
    with serving({}) as server:
        server.routes["/slow.png"] = endless(server.stop, declared=None, piece=b"x", pause=0.5)
        calendar(project, f'["{server.url}/slow.png"]')
        env = {**ALLOW_LOCAL, "SOCIALSCHED_FETCH_DEADLINE": "3"}
        result = plan(project, elsewhere, env, timeout=90)
    assert result.returncode == 1
    assert "took longer than the 3 s a media fetch may take" in result.stdout + result.stderr


def test_a_wrong_allowed_networks_value_is_an_error_not_an_open_door(folders):
    project, elsewhere = folders
    calendar(project, '["http://127.0.0.1:9/a.png"]')
    result = plan(project, elsewhere, {ALLOWED_NETWORKS_VARIABLE: "127.0.0.1/32,intranet"})
    assert result.returncode == 1
    assert "SOCIALSCHED_ALLOWED_NETWORKS: 'intranet' is not a network" in (
        result.stdout + result.stderr
    )


# ---- addresses, without connecting ----

REFUSED = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("127.0.0.1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::10.0.0.1", "private"),
    ("::ffff:10.0.0.1", "private"),
    ("2002:a9fe:a9fe::1", "link-local"),
    ("64:ff9b::a00:1", "private"),
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_internal_addresses_are_refused(address, kind):
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None
    article = "an" if kind[0] in "aeiou" else "a"
    assert f"is {article} {kind} address" in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_accepted(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_an_allowed_network_lets_its_addresses_and_their_mapped_forms_through():
    allowed = allowed_networks({ALLOWED_NETWORKS_VARIABLE: " 10.1.0.0/16 , fd00::/8"})
    assert refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:10.1.2.3"), allowed) is None
    assert refusal(ipaddress.ip_address("fd00::5"), allowed) is None
    assert refusal(ipaddress.ip_address("10.2.0.1"), allowed) is not None


class NoConnections(httpcore.NetworkBackend):
    """A backend that records what it was asked to connect to and refuses."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.asked.append((host, port))
        raise httpcore.ConnectError("test backend: no connections")


@pytest.mark.parametrize("address", [a for a, _ in REFUSED])
def test_a_host_resolving_to_an_internal_address_is_never_connected_to(address):
    backend = NoConnections()
    with pytest.raises(FetchRefused) as caught:
        fetch(
            "https://media.example/a.png",
            max_bytes=1000,
            deadline=5,
            allowed=(),
            resolver=lambda host, port: [address],
            network_backend=backend,
        )
    assert backend.asked == []
    shown = ipaddress.ip_address(address)
    assert str(caught.value).startswith(f"refused: media.example resolves to {shown} ")


def test_only_the_checked_public_address_is_connected_to():
    """A rebinding resolver answering a public and a private address: only the public
    one, as checked, is what the connection is made to."""
    backend = NoConnections()
    with pytest.raises(FetchRefused):
        fetch(
            "http://media.example:8080/a.png",
            max_bytes=1000,
            deadline=5,
            allowed=(),
            resolver=lambda host, port: ["169.254.169.254", "93.184.216.34"],
            network_backend=backend,
        )
    assert backend.asked == [("93.184.216.34", 8080)]


@pytest.mark.parametrize("url", ["ftp://media.example/a.png", "file:///etc/passwd"])
def test_only_http_and_https_are_fetched(url):
    backend = NoConnections()
    with pytest.raises(FetchRefused, match="only http:// and https://"):
        fetch(url, max_bytes=1000, deadline=5, allowed=(), network_backend=backend)
    assert backend.asked == []
