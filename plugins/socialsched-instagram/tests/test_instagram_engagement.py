"""The exact Graph API requests the instagram adapter sends for engagement (multi-id
lookups of 50 media, with their insights) and how it reads the answers."""

from __future__ import annotations

import httpx
import pytest
import respx
from socialsched_instagram import InstagramAdapter

from socialsched.adapters import CredentialsRejected, Receipt, TransientError
from socialsched.calendar.model import Channel

GRAPH = "https://graph.facebook.com/v23.0/"
USER = "1784"
TOKEN = "IGQWRsecret-token-value"
FIELDS = "like_count,comments_count"
WITH_INSIGHTS = "like_count,comments_count,insights.metric(views,shares)"
NOT_ENOUGH_VIEWERS = {
    "error": {"message": "(#10) Not enough viewers for the media to show insights", "code": 10}
}
MISSING = {
    "error": {"message": "Object with ID '2' does not exist", "code": 100, "error_subcode": 33}
}


def make_adapter() -> InstagramAdapter:
    channel = Channel(
        name="ig",
        adapter="instagram",
        secrets={"access_token": "IG_TOKEN"},
        settings={"user_id": USER},
    )
    return InstagramAdapter(channel, environ={"SOCIALSCHED_SECRET_IG_TOKEN": TOKEN})


def media(number: int, insights: bool = True) -> dict:
    """A media as the Graph API gives it, counts from its number."""
    found: dict = {"id": str(number), "like_count": number + 1, "comments_count": number + 2}
    if insights:
        found["insights"] = {
            "data": [
                {"name": "views", "period": "lifetime", "values": [{"value": number + 3}]},
                {"name": "shares", "period": "lifetime", "values": [{"value": number + 4}]},
            ]
        }
    return found


def lookup(request: httpx.Request) -> httpx.Response:
    ids = request.url.params["ids"].split(",")
    insights = "insights" in request.url.params["fields"]
    return httpx.Response(200, json={i: media(int(i), insights) for i in ids})


def test_declares_the_counts_it_gives():
    assert InstagramAdapter.capabilities.engagement == ("likes", "reposts", "replies", "views")


@respx.mock
def test_120_media_are_asked_in_calls_of_50_with_their_insights_and_the_token():
    route = respx.get(GRAPH).mock(side_effect=lookup)
    ids = [str(17_000 + n) for n in range(120)]
    found = make_adapter().engagement([Receipt(remote_id=i) for i in ids])
    asked = [call.request for call in route.calls]
    assert [r.url.params["ids"].split(",") for r in asked] == [ids[:50], ids[50:100], ids[100:]]
    assert {r.url.params["fields"] for r in asked} == {WITH_INSIGHTS}
    assert {r.headers["Authorization"] for r in asked} == {f"Bearer {TOKEN}"}
    assert set(found) == set(ids)


@respx.mock
def test_counts_and_insights_map_to_likes_replies_views_and_reposts():
    respx.get(GRAPH).mock(side_effect=lookup)
    found = make_adapter().engagement([Receipt(remote_id="40")])
    assert found["40"].counts() == {
        "likes": 41,
        "reposts": 44,
        "replies": 42,
        "quotes": None,
        "views": 43,
        "clicks": None,
    }


@respx.mock
def test_insights_not_computed_yet_leave_views_and_reposts_unknown():
    item = {**media(5), "insights": {"data": []}}
    respx.get(GRAPH).mock(return_value=httpx.Response(200, json={"5": item}))
    engagement = make_adapter().engagement([Receipt(remote_id="5")])["5"]
    assert (engagement.likes, engagement.replies) == (6, 7)
    assert (engagement.views, engagement.reposts) == (None, None)


@respx.mock
def test_a_media_without_insights_is_asked_alone_then_without_them():
    batch = respx.get(GRAPH, params={"ids": "1,2", "fields": WITH_INSIGHTS}).mock(
        return_value=httpx.Response(400, json=NOT_ENOUGH_VIEWERS)
    )
    first = respx.get(GRAPH, params={"ids": "1", "fields": WITH_INSIGHTS}).mock(
        return_value=httpx.Response(200, json={"1": media(1)})
    )
    second = respx.get(GRAPH, params={"ids": "2", "fields": WITH_INSIGHTS}).mock(
        return_value=httpx.Response(400, json=NOT_ENOUGH_VIEWERS)
    )
    plain = respx.get(GRAPH, params={"ids": "2", "fields": FIELDS}).mock(
        return_value=httpx.Response(200, json={"2": media(2, insights=False)})
    )
    found = make_adapter().engagement([Receipt(remote_id="1"), Receipt(remote_id="2")])
    assert [r.call_count for r in (batch, first, second, plain)] == [1, 1, 1, 1]
    assert (found["1"].likes, found["1"].views, found["1"].reposts) == (2, 4, 5)
    assert (found["2"].likes, found["2"].replies) == (3, 4)
    assert (found["2"].views, found["2"].reposts) == (None, None)


@respx.mock
def test_a_lone_media_without_insights_is_asked_without_them():
    respx.get(GRAPH, params={"fields": WITH_INSIGHTS}).mock(
        return_value=httpx.Response(400, json=NOT_ENOUGH_VIEWERS)
    )
    respx.get(GRAPH, params={"fields": FIELDS}).mock(
        return_value=httpx.Response(200, json={"9": media(9, insights=False)})
    )
    engagement = make_adapter().engagement([Receipt(remote_id="9")])["9"]
    assert (engagement.likes, engagement.views) == (10, None)


@respx.mock
def test_a_deleted_media_is_left_out():
    respx.get(GRAPH, params={"ids": "1,2"}).mock(return_value=httpx.Response(400, json=MISSING))
    respx.get(f"{GRAPH}1").mock(return_value=httpx.Response(200, json=media(1)))
    respx.get(f"{GRAPH}2").mock(return_value=httpx.Response(400, json=MISSING))
    found = make_adapter().engagement([Receipt(remote_id="1"), Receipt(remote_id="2")])
    assert set(found) == {"1"}
    assert found["1"].views == 4


@respx.mock
def test_a_rate_limit_is_transient_without_the_token():
    error = {"message": f"Application request limit reached {TOKEN}", "code": 4}
    respx.get(GRAPH).mock(
        return_value=httpx.Response(400, json={"error": error}, headers={"Retry-After": "60"})
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().engagement([Receipt(remote_id="1")])
    assert raised.value.retry_after == 60
    assert TOKEN not in str(raised.value)


@respx.mock
def test_a_refused_token_is_raised_not_taken_for_missing_insights():
    error = {"message": "Error validating access token", "code": 190}
    route = respx.get(GRAPH).mock(return_value=httpx.Response(401, json={"error": error}))
    with pytest.raises(CredentialsRejected):
        make_adapter().engagement([Receipt(remote_id="1"), Receipt(remote_id="2")])
    assert route.call_count == 1
