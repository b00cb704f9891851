"""HTTP clients never carry a secret across a redirect to another origin.

Two real servers on 127.0.0.1, on two ports (two origins): the first answers every
request with a 307 or 308 redirect to the second, which records what reaches it.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from socialsched.adapters import AdapterError
from socialsched.calendar.model import Channel
from socialsched.testing import AdapterContract, LocalServer, Reply, grant
from socialsched.trust.redirects import CrossOriginRedirect, refuse_cross_origin_redirects

TOKEN = "tok-redirect-0123456789"


def redirecting(source: LocalServer, target: LocalServer, status: int = 307) -> None:
    source.reply(*[Reply(status, headers={"Location": f"{target.url}/stolen"})] * 5)


def test_what_httpx_does_when_it_follows_a_redirect_to_another_origin():
    # Why socialsched does not let clients follow: httpx drops Authorization, but a
    # 307/308 re-sends the body (a login body holds a password) to the other origin.
    with LocalServer() as source, LocalServer() as target:
        redirecting(source, target)
        with httpx.Client(follow_redirects=True) as client:
            client.post(
                f"{source.url}/login",
                content=b'{"password": "pw-in-body"}',
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        [stolen] = target.requests
    assert stolen.header("Authorization") is None
    assert b"pw-in-body" in stolen.body


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_the_hook_stops_a_client_before_it_follows_to_another_origin(status):
    with LocalServer() as source, LocalServer() as target:
        redirecting(source, target, status)
        hooks = {"response": [refuse_cross_origin_redirects]}
        with (
            httpx.Client(follow_redirects=True, event_hooks=hooks) as client,
            pytest.raises(CrossOriginRedirect) as raised,
        ):
            client.post(f"{source.url}/login?token={TOKEN}", content=b"pw-in-body")
        assert target.requests == []
    # Origins only: never the path or query, where tokens live.
    assert TOKEN not in str(raised.value) and source.url in str(raised.value)


def test_the_hook_lets_a_redirect_within_the_origin_through():
    with LocalServer() as server:
        server.reply(Reply(307, headers={"Location": "/moved"}))
        hooks = {"response": [refuse_cross_origin_redirects]}
        with httpx.Client(follow_redirects=True, event_hooks=hooks) as client:
            response = client.post(f"{server.url}/login", content=b"x")
        assert response.status_code == 200
        assert [request.path for request in server.requests] == ["/login", "/moved"]


def test_the_webhook_adapter_never_follows_a_redirect():
    from socialsched.adapters.webhook import WebhookAdapter

    with LocalServer() as source, LocalServer() as target:
        redirecting(source, target)
        channel = Channel(
            name="hook",
            adapter="webhook",
            settings={"url": f"{source.url}/in"},
            secrets={"signing_key": "HOOK_KEY"},
        )
        key = "whsec_" + base64.b64encode(b"redirect-signing-key-0123").decode()
        adapter = WebhookAdapter(channel, environ=grant(HOOK_KEY=key))
        message = AdapterContract().make_message(adapter, "k1")
        with pytest.raises(AdapterError):
            adapter.publish(message, "k1")
        adapter.close()
        assert len(source.requests) == 1
        assert target.requests == []


def test_the_bluesky_login_never_follows_a_redirect_to_another_origin():
    bluesky = pytest.importorskip("socialsched_bluesky.adapter")
    with LocalServer() as source, LocalServer() as target:
        redirecting(source, target)
        channel = Channel(
            name="sky",
            adapter="bluesky",
            settings={"handle": "shop.example", "service": source.url, "timeout": 5},
            secrets={"app_password": "BSKY_APP_PASSWORD"},
        )
        adapter = bluesky.BlueskyAdapter(channel, environ=grant(BSKY_APP_PASSWORD=TOKEN))
        with pytest.raises(AdapterError):
            adapter.verify()
        adapter.close()
        assert source.requests, "the login was not even tried"
        assert target.requests == [], "the app password followed the redirect"
