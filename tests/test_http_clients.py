"""Adapters keep one HTTP client per channel: no module-level `httpx.request`-style
call is left in an adapter's source, N publishes through an adapter open one
connection at a local receiver, and `close()` closes it (the next publish opens a new
one)."""

from __future__ import annotations

import ast
import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialsched.adapters import Adapter, Message
from socialsched.calendar.model import Channel
from socialsched.runner.http_receiver import Receiver
from socialsched.trust.http_client import ChannelClient

ROOT = Path(__file__).resolve().parents[1]
#: httpx's module-level shortcuts: each builds (and throws away) a client per call.
SHORTCUTS = {"request", "get", "post", "put", "patch", "delete", "head", "options", "stream"}
#: Files allowed to call them, and why.
ALLOWED = {
    # The test kit's fake Graph API fetches a media URL once per container, as Meta does.
    "src/socialsched/adapters/graph_testing.py",
}


def _sources() -> list[Path]:
    files = sorted(ROOT.glob("plugins/*/src/**/*.py")) + sorted(
        (ROOT / "src" / "socialsched").glob("**/*.py")
    )
    return [path for path in files if str(path.relative_to(ROOT)) not in ALLOWED]


def shortcut_calls(source: str) -> list[int]:
    """Lines of `source` that call httpx.request/get/post/... at module level."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "httpx"
            and node.func.attr in SHORTCUTS
        ):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_shortcut_call() -> None:
    # Otherwise the scan below could pass by finding nothing anywhere.
    source = "import httpx\n\ndef f():\n    return httpx.post('http://x', json={})\n"
    assert shortcut_calls(source) == [4]
    assert shortcut_calls("client.post('http://x')\nhttpx.Client().get('/')\n") == []


def test_no_adapter_source_calls_httpx_shortcuts() -> None:
    sources = _sources()
    assert len(sources) > 40  # the plugins' sources were found
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sources
        if (lines := shortcut_calls(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def _message(channel: str, audience: Any = None) -> Message:
    when = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    return Message(
        delivery_id="d",
        post="p1",
        segment="s",
        channel=channel,
        locale="en-GB",
        text="Fresh bread today",
        utc=when,
        local=when,
        audience=audience,
    )


def _granted(**secrets: str) -> dict[str, str]:
    """An environment granting `secrets` (SOCIALSCHED_SECRET_<NAME>)."""
    return {f"SOCIALSCHED_SECRET_{name}": value for name, value in secrets.items()}


def _webhook(url: str) -> Adapter:
    from socialsched.adapters.webhook import WebhookAdapter

    channel = Channel(
        name="hook",
        adapter="webhook",
        settings={"url": f"{url}/hook"},
        secrets={"signing_key": "HOOK_KEY"},
    )
    key = "whsec_" + base64.b64encode(b"k" * 32).decode()  # a Standard Webhooks key
    return WebhookAdapter(channel, environ=_granted(HOOK_KEY=key))


def _discord(url: str) -> Adapter:
    from socialsched_discord import DiscordAdapter

    channel = Channel(name="chat", adapter="discord", secrets={"webhook": "DISCORD_HOOK"})
    return DiscordAdapter(channel, environ=_granted(DISCORD_HOOK=f"{url}/api/webhooks/1/tok"))


def _slack(url: str) -> Adapter:
    from socialsched_slack import SlackAdapter

    channel = Channel(name="team", adapter="slack", secrets={"webhook": "SLACK_HOOK"})
    return SlackAdapter(channel, environ=_granted(SLACK_HOOK=f"{url}/services/T/B/x"))


def _x(url: str) -> Adapter:
    from socialsched_x import XAdapter

    channel = Channel(
        name="x-main", adapter="x", secrets={"access_token": "X_TOKEN"}, settings={"api_url": url}
    )
    return XAdapter(channel, environ=_granted(X_TOKEN="tok"))


def _facebook(url: str) -> Adapter:
    from socialsched_facebook import FacebookPageAdapter

    channel = Channel(
        name="page",
        adapter="facebook",
        secrets={"page_token": "FB_TOKEN"},
        settings={"page_id": "4242", "graph_url": url},
    )
    return FacebookPageAdapter(channel, environ=_granted(FB_TOKEN="tok"))


ADAPTERS: dict[str, Callable[[str], Adapter]] = {
    "webhook": _webhook,
    "discord": _discord,
    "slack": _slack,
    "x": _x,
    "facebook": _facebook,
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_publishes_reuse_one_connection_until_close(name: str) -> None:
    with Receiver() as receiver:
        adapter = ADAPTERS[name](receiver.url)
        for number in range(5):
            adapter.publish(_message(adapter.channel.name), f"key-{number}")
        assert receiver.stats.requests >= 5
        assert receiver.stats.connections == 1
        adapter.close()
        adapter.publish(_message(adapter.channel.name), "key-after-close")
        adapter.close()
    assert receiver.stats.connections == 2


def test_channel_client_keeps_no_cookies() -> None:
    # A kept client must not carry one reply's cookies into the next request, as a
    # module-level call never did.
    seen: list[str | None] = []

    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})

    client = ChannelClient(transport=httpx.MockTransport(answer))
    client.request("GET", "https://example.test/a")
    client.request("GET", "https://example.test/b")
    client.close()
    client.close()  # twice is harmless
    assert seen == [None, None]
