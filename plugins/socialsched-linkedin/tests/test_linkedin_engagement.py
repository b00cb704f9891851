"""The exact requests the linkedin adapter sends for engagement: an organization's
share statistics and a member's social actions, 20 posts a call."""

from __future__ import annotations

from urllib.parse import quote, unquote

import httpx
import pytest
import respx
from socialsched_linkedin import LinkedInAdapter

from socialsched.adapters import Receipt, TransientError
from socialsched.calendar.model import Channel

API = "https://api.linkedin.com"
TOKEN = "li-token-0123456789"
ORG = "urn:li:organization:5515715"
MEMBER = "urn:li:person:abc123"


def make_adapter(author: str = ORG) -> LinkedInAdapter:
    channel = Channel(
        name="li", adapter="linkedin", secrets={"access_token": "T"}, settings={"author": author}
    )
    return LinkedInAdapter(channel, environ={"SOCIALSCHED_SECRET_T": TOKEN})


def urns_in(raw_query: str, parameter: str) -> list[str]:
    """The URNs of `parameter=List(...)` in a raw query string, each checked to be
    percent-encoded as Rest.li 2.0 wants."""
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name == parameter:
            assert value.startswith("List(") and value.endswith(")")
            encoded = value[5:-1].split(",")
            assert all(":" not in urn for urn in encoded), "URNs must be percent-encoded"
            return [unquote(urn) for urn in encoded]
    return []


def statistics(urn: str, number: int) -> dict:
    kind = "share" if ":share:" in urn else "ugcPost"
    return {
        "organizationalEntity": ORG,
        kind: urn,
        "totalShareStatistics": {
            "uniqueImpressionsCount": number + 10,
            "shareCount": number + 1,
            "engagement": 0.5,
            "clickCount": number + 2,
            "likeCount": number + 3,
            "impressionCount": number + 4,
            "commentCount": number + 5,
        },
    }


def share_statistics(request: httpx.Request) -> httpx.Response:
    raw = request.url.query.decode()
    urns = urns_in(raw, "shares") + urns_in(raw, "ugcPosts")
    elements = [statistics(urn, int(urn.rsplit(":", 1)[1])) for urn in urns]
    return httpx.Response(200, json={"paging": {"count": 10, "start": 0}, "elements": elements})


def test_an_organization_declares_five_counts_and_a_member_two():
    assert make_adapter(ORG).capabilities.engagement == (
        "likes",
        "reposts",
        "replies",
        "views",
        "clicks",
    )
    assert make_adapter(MEMBER).capabilities.engagement == ("likes", "replies")


@respx.mock
def test_an_organizations_45_posts_are_asked_in_calls_of_20_with_versioned_headers():
    route = respx.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        side_effect=share_statistics
    )
    shares = [f"urn:li:share:{n}" for n in range(100, 140)]
    ugc = [f"urn:li:ugcPost:{n}" for n in range(200, 205)]
    receipts = [Receipt(remote_id=urn) for urn in shares + ugc]
    found = make_adapter().engagement(receipts)
    asked = [call.request for call in route.calls]
    assert len(asked) == 3
    for request in asked:
        assert request.url.params["q"] == "organizationalEntity"
        assert request.url.params["organizationalEntity"] == ORG
        assert f"organizationalEntity={quote(ORG, safe='')}" in request.url.query.decode()
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["LinkedIn-Version"]
        assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    raw = [request.url.query.decode() for request in asked]
    assert [urns_in(query, "shares") for query in raw] == [shares[:20], shares[20:], []]
    assert [urns_in(query, "ugcPosts") for query in raw] == [[], [], ugc]
    assert set(found) == set(shares + ugc)


@respx.mock
def test_share_statistics_map_to_the_counts():
    respx.get(f"{API}/rest/organizationalEntityShareStatistics").mock(side_effect=share_statistics)
    found = make_adapter().engagement([Receipt(remote_id="urn:li:share:7")])
    assert found["urn:li:share:7"].counts() == {
        "likes": 10,
        "reposts": 8,
        "replies": 12,
        "quotes": None,
        "views": 11,
        "clicks": 9,
    }


@respx.mock
def test_a_post_without_statistics_is_left_out_and_the_total_is_not_a_post():
    total = {"organizationalEntity": ORG, "totalShareStatistics": {"likeCount": 99}}
    body = {"elements": [total, statistics("urn:li:share:1", 1)]}
    respx.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        return_value=httpx.Response(200, json=body)
    )
    receipts = [Receipt(remote_id="urn:li:share:1"), Receipt(remote_id="urn:li:share:2")]
    assert set(make_adapter().engagement(receipts)) == {"urn:li:share:1"}


@respx.mock
def test_a_members_posts_are_asked_for_their_social_actions_in_a_batch():
    def social_actions(request: httpx.Request) -> httpx.Response:
        urns = urns_in(request.url.query.decode(), "ids")
        results = {
            urn: {
                "likesSummary": {"totalLikes": 3, "likedByCurrentUser": False},
                "commentsSummary": {"count": 1, "aggregatedTotalComments": 2},
                "target": urn,
            }
            for urn in urns
            if not urn.endswith(":2")
        }
        errors = {"urn:li:share:2": {"status": 404, "message": "Not found"}}
        return httpx.Response(200, json={"results": results, "errors": errors, "statuses": {}})

    route = respx.get(f"{API}/rest/socialActions").mock(side_effect=social_actions)
    receipts = [Receipt(remote_id=f"urn:li:share:{n}") for n in (1, 2, 3)]
    found = make_adapter(MEMBER).engagement(receipts)
    assert route.call_count == 1
    assert urns_in(route.calls.last.request.url.query.decode(), "ids") == [
        "urn:li:share:1",
        "urn:li:share:2",
        "urn:li:share:3",
    ]
    assert set(found) == {"urn:li:share:1", "urn:li:share:3"}
    assert found["urn:li:share:1"].counts() == {
        "likes": 3,
        "reposts": None,
        "replies": 2,
        "quotes": None,
        "views": None,
        "clicks": None,
    }


@respx.mock
def test_a_rate_limit_is_transient_with_retry_after_and_no_token():
    respx.get(f"{API}/rest/organizationalEntityShareStatistics").mock(
        return_value=httpx.Response(
            429, json={"message": f"Too many requests {TOKEN}"}, headers={"Retry-After": "45"}
        )
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().engagement([Receipt(remote_id="urn:li:share:1")])
    assert raised.value.retry_after == 45
    assert TOKEN not in str(raised.value)


def test_receipts_without_a_post_urn_ask_nothing():
    with respx.mock(assert_all_called=False) as mock:
        assert make_adapter().engagement([Receipt(remote_id="unknown:k")]) == {}
        assert make_adapter(MEMBER).engagement([]) == {}
        assert not mock.calls
