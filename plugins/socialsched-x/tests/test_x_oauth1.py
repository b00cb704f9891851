"""OAuth 1.0a user context: every request carries an HMAC-SHA1 signature that this
test recomputes by RFC 5849's rules, independently of the library the adapter uses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx
import pytest
import respx
from socialsched_x import XAdapter

from socialsched.adapters import CredentialsRejected, Message
from socialsched.calendar.model import Channel

API = "https://api.x.com"
WHEN = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)
SECRETS = {
    "SOCIALSCHED_SECRET_X_API_KEY": "xvz1evFS4wEEPTGEFPHBog",
    "SOCIALSCHED_SECRET_X_API_SECRET": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "SOCIALSCHED_SECRET_X_ACCESS_TOKEN": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "SOCIALSCHED_SECRET_X_ACCESS_SECRET": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}


def oauth1_adapter() -> XAdapter:
    channel = Channel(
        name="x-main",
        adapter="x",
        secrets={
            "api_key": "X_API_KEY",
            "api_secret": "X_API_SECRET",
            "access_token": "X_ACCESS_TOKEN",
            "access_token_secret": "X_ACCESS_SECRET",
        },
    )
    return XAdapter(channel, environ=SECRETS)


def encode(value: str) -> str:
    return quote(value, safe="~")


def expected_signature(method: str, url: httpx.URL, oauth: dict[str, str]) -> str:
    """RFC 5849 section 3.4: the signature base string and the HMAC-SHA1 of it."""
    parameters = [(k, v) for k, v in oauth.items() if k != "oauth_signature"]
    parameters += list(url.params.multi_items())
    normalized = "&".join(
        f"{encode(k)}={encode(v)}" for k, v in sorted((encode(k), encode(v)) for k, v in parameters)
    )
    base_url = f"{url.scheme}://{url.host}{url.path}"
    base = "&".join([method, encode(base_url), encode(normalized)])
    consumer, token = (
        SECRETS["SOCIALSCHED_SECRET_X_API_SECRET"],
        SECRETS["SOCIALSCHED_SECRET_X_ACCESS_SECRET"],
    )
    key = f"{encode(consumer)}&{encode(token)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def header_parameters(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


@respx.mock
def test_each_request_is_signed_with_the_four_oauth1_secrets():
    respx.post(f"{API}/2/tweets").respond(201, json={"data": {"id": "5"}})
    respx.get(f"{API}/2/users/me").respond(json={"data": {"id": "77", "username": "olivar"}})
    respx.get(f"{API}/2/users/77/tweets").respond(json={"data": []})
    x = oauth1_adapter()
    message = Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="x-main",
        locale="en-US",
        text="Fresh bread, 100% sourdough!",
        utc=WHEN,
        local=WHEN,
    )
    x.publish(message, "d1")
    assert x.find(message, "other") is None  # GET with a query string, signed too
    nonces = set()
    for call in respx.calls:
        request = call.request
        oauth = header_parameters(request.headers["Authorization"])
        assert oauth["oauth_consumer_key"] == SECRETS["SOCIALSCHED_SECRET_X_API_KEY"]
        assert oauth["oauth_token"] == SECRETS["SOCIALSCHED_SECRET_X_ACCESS_TOKEN"]
        assert oauth["oauth_signature_method"] == "HMAC-SHA1"
        assert oauth["oauth_version"] == "1.0"
        assert oauth["oauth_signature"] == expected_signature(request.method, request.url, oauth)
        nonces.add(oauth["oauth_nonce"])
    assert len(nonces) == len(respx.calls) == 3
    assert respx.calls[-1].request.url.params["max_results"] == "100"


@respx.mock
def test_a_refused_oauth1_token_is_credentials_rejected_without_secrets():
    respx.post(f"{API}/2/tweets").respond(401, json={"title": "Unauthorized"})
    x = oauth1_adapter()
    message = Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="x-main",
        locale="en-US",
        text="hello",
        utc=WHEN,
        local=WHEN,
    )
    with pytest.raises(CredentialsRejected) as raised:
        x.publish(message, "d1")
    shown = str(raised.value) + repr(x)
    assert not any(value in shown for value in SECRETS.values())
