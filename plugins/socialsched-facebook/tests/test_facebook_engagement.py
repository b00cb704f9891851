"""The exact Graph API requests the facebook adapter sends for engagement (multi-id
lookups of 50 posts) and how it reads reactions, comments, shares and insights."""

from __future__ import annotations

import httpx
import pytest
import respx
from socialsched_facebook import FacebookPageAdapter

from socialsched.adapters import PermanentError, Receipt, TransientError
from socialsched.calendar.model import Channel

GRAPH = "https://graph.facebook.com/v23.0/"
PAGE = "4242"
TOKEN = "EAAGpagetoken0123456789"
POST_FIELDS = (
    "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),"
    "shares,insights.metric(post_media_view,post_clicks)"
)
VIDEO_FIELDS = "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"


def make_adapter() -> FacebookPageAdapter:
    channel = Channel(
        name="fb", adapter="facebook", secrets={"page_token": "T"}, settings={"page_id": PAGE}
    )
    return FacebookPageAdapter(channel, environ={"SOCIALSCHED_SECRET_T": TOKEN})


def post(number: int) -> dict:
    """A post as the Graph API gives it for POST_FIELDS, counts from its number."""
    return {
        "id": f"{PAGE}_{number}",
        "reactions": {"data": [], "summary": {"total_count": number + 1}},
        "comments": {"data": [], "summary": {"order": "ranked", "total_count": number + 2}},
        "shares": {"count": number + 3},
        "insights": {
            "data": [
                {
                    "name": "post_media_view",
                    "period": "lifetime",
                    "values": [{"value": number + 4}],
                },
                {"name": "post_clicks", "period": "lifetime", "values": [{"value": number + 5}]},
            ]
        },
    }


def lookup(request: httpx.Request) -> httpx.Response:
    ids = request.url.params["ids"].split(",")
    return httpx.Response(200, json={i: post(int(i.split("_")[1])) for i in ids})


def test_declares_the_counts_it_gives():
    assert FacebookPageAdapter.capabilities.engagement == (
        "likes",
        "reposts",
        "replies",
        "views",
        "clicks",
    )


@respx.mock
def test_120_posts_are_asked_in_calls_of_50_with_the_page_token():
    route = respx.get(GRAPH).mock(side_effect=lookup)
    ids = [f"{PAGE}_{n}" for n in range(100, 220)]
    found = make_adapter().engagement([Receipt(remote_id=i) for i in ids])
    asked = [call.request for call in route.calls]
    assert [r.url.params["ids"].split(",") for r in asked] == [ids[:50], ids[50:100], ids[100:]]
    assert {r.url.params["fields"] for r in asked} == {POST_FIELDS}
    assert {r.headers["Authorization"] for r in asked} == {f"Bearer {TOKEN}"}
    assert set(found) == set(ids)


@respx.mock
def test_reactions_comments_shares_and_insights_map_to_the_counts():
    respx.get(GRAPH).mock(side_effect=lookup)
    found = make_adapter().engagement([Receipt(remote_id=f"{PAGE}_7")])
    assert found[f"{PAGE}_7"].counts() == {
        "likes": 8,
        "reposts": 10,
        "replies": 9,
        "quotes": None,
        "views": 11,
        "clicks": 12,
    }


@respx.mock
def test_a_post_nobody_shared_has_no_shares_field_and_counts_zero_reposts():
    item = post(1)
    del item["shares"]
    respx.get(GRAPH).mock(return_value=httpx.Response(200, json={f"{PAGE}_1": item}))
    assert make_adapter().engagement([Receipt(remote_id=f"{PAGE}_1")])[f"{PAGE}_1"].reposts == 0


@respx.mock
def test_a_video_post_is_asked_for_reactions_and_comments_only():
    route = respx.get(GRAPH).mock(
        return_value=httpx.Response(
            200,
            json={
                "9001": {
                    "id": "9001",
                    "reactions": {"data": [], "summary": {"total_count": 4}},
                    "comments": {"data": [], "summary": {"total_count": 2}},
                }
            },
        )
    )
    video = Receipt(remote_id="9001", url=f"https://www.facebook.com/{PAGE}/videos/9001")
    found = make_adapter().engagement([video])
    assert route.calls.last.request.url.params["fields"] == VIDEO_FIELDS
    assert found["9001"].counts() == {
        "likes": 4,
        "reposts": None,
        "replies": 2,
        "quotes": None,
        "views": None,
        "clicks": None,
    }


@respx.mock
def test_a_deleted_post_is_left_out_after_asking_its_batch_one_by_one():
    missing = {
        "error": {
            "message": "Unsupported get request. Object with ID '4242_2' does not exist",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
        }
    }
    batch = respx.get(GRAPH, params={"ids": f"{PAGE}_1,{PAGE}_2"}).mock(
        return_value=httpx.Response(400, json=missing)
    )
    one = respx.get(f"{GRAPH}{PAGE}_1").mock(return_value=httpx.Response(200, json=post(1)))
    gone = respx.get(f"{GRAPH}{PAGE}_2").mock(return_value=httpx.Response(400, json=missing))
    receipts = [Receipt(remote_id=f"{PAGE}_1"), Receipt(remote_id=f"{PAGE}_2")]
    found = make_adapter().engagement(receipts)
    assert set(found) == {f"{PAGE}_1"}
    assert found[f"{PAGE}_1"].likes == 2
    assert (batch.call_count, one.call_count, gone.call_count) == (1, 1, 1)
    assert one.calls.last.request.url.params["fields"] == POST_FIELDS


@respx.mock
def test_a_rate_limit_is_transient_with_the_time_facebook_gives_and_no_token():
    usage = '{"4242": [{"type": "pages", "estimated_time_to_regain_access": 3}]}'
    respx.get(GRAPH).mock(
        return_value=httpx.Response(
            400,
            json={"error": {"message": f"Page request limit reached {TOKEN}", "code": 32}},
            headers={"X-Business-Use-Case-Usage": usage},
        )
    )
    with pytest.raises(TransientError) as raised:
        make_adapter().engagement([Receipt(remote_id=f"{PAGE}_1")])
    assert raised.value.retry_after == 180
    assert TOKEN not in str(raised.value)


@respx.mock
def test_a_429_is_transient():
    respx.get(GRAPH).mock(return_value=httpx.Response(429, json={}))
    with pytest.raises(TransientError):
        make_adapter().engagement([Receipt(remote_id=f"{PAGE}_1")])


@respx.mock
def test_a_token_without_read_insights_is_refused_plainly():
    error = {"message": "(#10) Requires read_insights permission", "code": 10}
    respx.get(GRAPH).mock(return_value=httpx.Response(403, json={"error": error}))
    with pytest.raises(PermanentError, match="read_insights"):
        make_adapter().engagement([Receipt(remote_id=f"{PAGE}_1")])


def test_no_receipts_ask_nothing():
    with respx.mock(assert_all_called=False) as mock:
        assert make_adapter().engagement([Receipt(remote_id="unknown:k")]) == {}
        assert not mock.calls


@respx.mock
def test_insights_not_computed_yet_leave_views_and_clicks_unknown_not_zero():
    item = {**post(1), "insights": {"data": []}}
    respx.get(GRAPH).mock(return_value=httpx.Response(200, json={f"{PAGE}_1": item}))
    engagement = make_adapter().engagement([Receipt(remote_id=f"{PAGE}_1")])[f"{PAGE}_1"]
    assert (engagement.likes, engagement.replies, engagement.reposts) == (2, 3, 4)
    assert (engagement.views, engagement.clicks) == (None, None)
