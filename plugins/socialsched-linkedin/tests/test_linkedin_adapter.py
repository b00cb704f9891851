"""The exact requests the linkedin adapter sends to the Posts API, and its answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx
from socialsched_linkedin import LinkedInAdapter, escape_commentary

from socialsched.adapters import (
    CredentialsRejected,
    Message,
    PermanentError,
    Receipt,
    TransientError,
)
from socialsched.calendar.model import Channel

API = "https://api.linkedin.com"
TOKEN = "li-token-0123456789"
ORG = "urn:li:organization:5515715"
WHEN = datetime(2030, 1, 15, 9, 30, tzinfo=UTC)


def make_adapter(author: str = ORG) -> LinkedInAdapter:
    channel = Channel(
        name="li",
        adapter="linkedin",
        secrets={"access_token": "LI_TOKEN"},
        settings={"author": author},
    )
    return LinkedInAdapter(channel, environ={"SOCIALSCHED_SECRET_LI_TOKEN": TOKEN})


def message(text: str = "Fresh bread at 9") -> Message:
    return Message(
        delivery_id="d1",
        post="p",
        segment="s",
        channel="li",
        locale="en-US",
        text=text,
        utc=WHEN,
        local=WHEN,
        audience=None,
    )


def test_reserved_characters_are_escaped():
    assert escape_commentary("Sale (50%) #today @ 9 * _x_ ~ [a] {b} <c> | \\") == (
        r"Sale \(50%\) \#today \@ 9 \* \_x\_ \~ \[a\] \{b\} \<c\> \| \\"
    )


@respx.mock
def test_publish_sends_a_versioned_post_and_reads_the_urn_header():
    route = respx.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            201, headers={"x-restli-id": "urn:li:share:6844785523593134080"}
        )
    )
    receipt = make_adapter().publish(message("New menu (spring) #food"), "d1")
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["LinkedIn-Version"] == "202506"
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert json.loads(request.content) == {
        "author": ORG,
        "commentary": r"New menu \(spring\) \#food",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    assert receipt.remote_id == "urn:li:share:6844785523593134080"
    assert receipt.url == "https://www.linkedin.com/feed/update/urn:li:share:6844785523593134080/"


def test_an_author_that_is_not_an_urn_is_refused_with_its_setting_named():
    with pytest.raises(PermanentError, match=r"settings\.author"):
        make_adapter("5515715")


@respx.mock
def test_a_rate_limit_is_transient_with_retry_after():
    respx.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            429, json={"message": "Too many"}, headers={"Retry-After": "60"}
        )
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().publish(message(), "d1")
    assert raised.value.retry_after == 60


@respx.mock
def test_a_refused_token_is_credentials_rejected_without_the_token():
    respx.post(f"{API}/rest/posts").mock(
        return_value=httpx.Response(401, json={"message": f"Invalid access token {TOKEN}"})
    )
    with pytest.raises(CredentialsRejected) as raised:
        make_adapter().publish(message(), "d1")
    assert TOKEN not in str(raised.value)


@respx.mock
def test_find_matches_the_escaped_commentary_among_the_authors_posts():
    route = respx.get(f"{API}/rest/posts").mock(
        return_value=httpx.Response(
            200,
            json={
                "elements": [
                    {"id": "urn:li:share:1", "commentary": "other"},
                    {"id": "urn:li:share:2", "commentary": r"Hello \#world"},
                ]
            },
        )
    )
    found = make_adapter().find(message("Hello #world"), "d1")
    assert found is not None and found.remote_id == "urn:li:share:2"
    request = route.calls.last.request
    assert request.url.params["author"] == ORG
    assert request.url.params["q"] == "author"
    assert request.headers["X-RestLi-Method"] == "FINDER"


@respx.mock
def test_delete_sends_the_encoded_urn():
    route = respx.delete(f"{API}/rest/posts/urn%3Ali%3Ashare%3A1").mock(
        return_value=httpx.Response(204)
    )
    make_adapter().delete(Receipt(remote_id="urn:li:share:1"))
    assert route.call_count == 1
