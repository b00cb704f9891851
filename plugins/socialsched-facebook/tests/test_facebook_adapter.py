"""The facebook adapter against an HTTP fake that checks the exact Graph API requests."""

from __future__ import annotations

import calendar
import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
import respx
from socialsched_facebook import FacebookPageAdapter

from socialsched.adapters import Message, PermanentError, Receipt, TransientError
from socialsched.adapters.registry import available_adapters
from socialsched.calendar.audiences import Audience
from socialsched.calendar.model import Channel

TOKEN = "EAAGpagetoken0123456789"
ENV = {"SOCIALSCHED_SECRET_FB_PAGE_TOKEN": TOKEN}
FEED = "https://graph.facebook.com/v23.0/4242/feed"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
IN_TWO_DAYS = str(calendar.timegm((2027, 3, 3, 12, 0, 0)))
FR_AUDIENCE = Audience("targeting", countries=("FR", "BE"), locales=("fr-FR",))
LOCALE_KEYS = {"fr-FR": 9, "fr-BE": 1002}


def channel(**settings: object) -> Channel:
    return Channel(
        name="fb-page",
        adapter="facebook",
        audiences={"fr": {"kind": "targeting", "countries": ["FR", "BE"], "locales": ["fr-FR"]}},
        secrets={"page_token": "FB_PAGE_TOKEN"},
        settings={"page_id": "4242", "locale_keys": LOCALE_KEYS, **settings},
    )


def adapter(now: datetime = NOW, **settings: object) -> FacebookPageAdapter:
    return FacebookPageAdapter(channel(**settings), environ=ENV, clock=lambda: now)


def message(utc: datetime, audience: object = FR_AUDIENCE, text: str = "Bonjour") -> Message:
    return Message(
        delivery_id="d1",
        post="spring",
        segment="fr",
        channel="fb-page",
        locale="fr-FR",
        text=text,
        utc=utc,
        local=utc,
        audience=audience,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def test_registered_under_its_entry_point():
    assert available_adapters()["facebook"] is FacebookPageAdapter


@respx.mock
def test_post_ahead_of_time_is_scheduled_natively_with_targeting():
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_777"}))
    when = NOW + timedelta(days=2)

    receipt = adapter().publish(message(when), "k1")

    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.path == "/v23.0/4242/feed"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    fields = form(request)
    assert fields == {
        "message": "Bonjour",
        "targeting": fields["targeting"],
        "published": "false",
        "scheduled_publish_time": IN_TWO_DAYS,
    }
    assert json.loads(fields["targeting"]) == {
        "geo_locations": {"countries": ["FR", "BE"]},
        "locales": [9],
    }
    assert receipt == Receipt(
        remote_id="4242_777",
        url="https://www.facebook.com/4242_777",
        extra={
            "scheduled": True,
            "scheduled_publish_time": IN_TWO_DAYS,
        },
    )


@pytest.mark.parametrize(
    ("field", "sent"),
    [("feed_targeting", {"feed_targeting"}), ("both", {"targeting", "feed_targeting"})],
)
@respx.mock
def test_targeting_field_setting_chooses_the_graph_fields(field, sent):
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_778"}))
    adapter(targeting_field=field).publish(message(NOW), "k1")
    fields = form(route.calls.last.request)
    assert set(fields) - {"message"} == sent
    if "feed_targeting" in sent:
        assert json.loads(fields["feed_targeting"]) == {"countries": ["FR", "BE"], "locales": [9]}


@respx.mock
def test_the_segments_own_country_and_locale_from_a_bare_targeting_table():
    from socialsched.calendar.model import Segment

    segment = Segment(name="be", locale="fr-BE", timezone="Europe/Brussels", country="BE")
    bare = Audience.parse({"kind": "targeting"}, segment)
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_779"}))
    adapter().publish(message(NOW, audience=bare), "k1")
    assert json.loads(form(route.calls.last.request)["targeting"]) == {
        "geo_locations": {"countries": ["BE"]},
        "locales": [1002],
    }


@respx.mock
def test_a_locale_written_as_a_facebook_key_is_used_as_is():
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_780"}))
    keyed = Audience("targeting", countries=(), locales=("6",))
    fb = FacebookPageAdapter(
        attrs.evolve(channel(), settings={"page_id": "4242"}), environ=ENV, clock=lambda: NOW
    )
    assert fb.validate(message(NOW + timedelta(hours=1), audience=keyed)) == []
    fb.publish(message(NOW, audience=keyed), "k1")
    assert json.loads(form(route.calls.last.request)["targeting"]) == {"locales": [6]}


@respx.mock
def test_due_post_is_published_now_without_targeting_when_audience_is_absent():
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_1"}))
    receipt = adapter().publish(message(NOW - timedelta(seconds=30), audience=None), "k1")
    assert form(route.calls.last.request) == {"message": "Bonjour"}
    assert receipt.extra["scheduled"] is False


@respx.mock
def test_immediate_mode_never_schedules():
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_1"}))
    adapter(scheduling="immediate").publish(message(NOW + timedelta(days=3)), "k1")
    assert "published" not in form(route.calls.last.request)


@respx.mock
def test_beyond_the_window_is_transient_until_it_enters_the_window():
    route = respx.post(FEED)
    with pytest.raises(TransientError) as caught:
        adapter().publish(message(NOW + timedelta(days=200)), "k1")
    assert caught.value.retry_after == timedelta(days=20).total_seconds()
    assert route.call_count == 0


@respx.mock
def test_too_close_to_schedule_waits_until_due():
    route = respx.post(FEED)
    with pytest.raises(TransientError) as caught:
        adapter().publish(message(NOW + timedelta(minutes=4)), "k1")
    assert caught.value.retry_after == 240.0
    assert route.call_count == 0


def test_validate_checks_the_window_at_plan_time():
    fb = adapter()
    assert fb.validate(message(NOW + timedelta(minutes=10))) == []
    assert fb.validate(message(NOW + timedelta(days=180))) == []
    for lead in (timedelta(minutes=9), timedelta(days=181), timedelta(hours=-1)):
        problems = fb.validate(message(NOW + lead))
        assert len(problems) == 1
        assert "facebook schedules natively only 10 minutes to 180.0 days ahead" in problems[0]


def test_window_is_a_setting():
    fb = adapter(schedule_min="1h", schedule_max="30d")
    assert fb.validate(message(NOW + timedelta(minutes=30))) != []
    assert fb.validate(message(NOW + timedelta(days=29))) == []
    assert fb.validate(message(NOW + timedelta(days=31))) != []
    assert adapter(scheduling="immediate").validate(message(NOW + timedelta(days=400))) == []


@pytest.mark.parametrize(
    "window",
    [
        {"schedule_min": "5min"},
        {"schedule_max": "200d"},
        {"schedule_min": "2d", "schedule_max": "1d"},
    ],
)
def test_window_outside_facebooks_limits_is_refused(window):
    with pytest.raises(PermanentError, match="scheduling window"):
        adapter(**window)


def test_bad_duration_names_the_setting():
    with pytest.raises(PermanentError, match=r"settings\.schedule_max 'six months'"):
        adapter(schedule_max="six months")


def test_audience_problems_are_reported_at_plan_time():
    fb = adapter()
    when = NOW + timedelta(days=1)
    assert fb.validate(message(when, audience=Audience("targeting", countries=("FRA",)))) == [
        "audience country 'FRA' is not an ISO 3166-1 code such as 'FR'"
    ]
    problems = fb.validate(message(when, audience=Audience("targeting", locales=("de-AT",))))
    assert len(problems) == 1
    assert problems[0].startswith(
        "audience locale 'de-AT' has no Facebook locale key: add it to settings.locale_keys"
    )
    assert fb.validate(message(when, audience=Audience("group", "fans"))) == [
        "facebook cannot target a 'group' audience (supports: targeting)"
    ]
    with pytest.raises(PermanentError, match="cannot target a 'group' audience"):
        fb.publish(message(when, audience=Audience("group", "fans")), "k")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"targeting_field": "geo"}, r"settings\.targeting_field"),
        ({"locale_keys": {"fr-FR": "fr_FR"}}, r"settings\.locale_keys"),
        ({"locale_keys": ["fr-FR"]}, r"settings\.locale_keys"),
    ],
)
def test_bad_targeting_settings_are_refused_at_construction(settings, named):
    with pytest.raises(PermanentError, match=named):
        adapter(**settings)


def test_length_limit():
    fb = adapter()
    when = NOW + timedelta(days=1)
    assert fb.validate(message(when, text="x" * 63_206)) == []
    assert fb.validate(message(when, text="x" * 63_207)) == [
        "text is 63207 characters; facebook allows 63206"
    ]


@respx.mock
def test_rate_limit_is_transient_with_time_to_regain_access():
    usage = {"4242": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    respx.post(FEED).mock(
        return_value=httpx.Response(
            400,
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            json={"error": {"message": "Page request limit reached", "code": 32}},
        )
    )
    with pytest.raises(TransientError) as caught:
        adapter().publish(message(NOW), "k1")
    assert caught.value.retry_after == 420.0


@respx.mock
def test_is_transient_flag_and_5xx_are_transient():
    respx.post(FEED).mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "try later", "code": 9999, "is_transient": True}}
        )
    )
    with pytest.raises(TransientError):
        adapter().publish(message(NOW), "k1")
    respx.post(FEED).mock(return_value=httpx.Response(503, text="down"))
    with pytest.raises(TransientError):
        adapter().publish(message(NOW), "k2")


@respx.mock
def test_expired_token_is_permanent_and_the_token_is_scrubbed():
    respx.post(FEED).mock(
        return_value=httpx.Response(
            401,
            json={
                "error": {
                    "message": f"Error validating access token {TOKEN}: session expired",
                    "code": 190,
                    "error_subcode": 463,
                }
            },
        )
    )
    with pytest.raises(PermanentError) as caught:
        adapter().publish(message(NOW), "k1")
    assert TOKEN not in str(caught.value)
    assert "(code 190/463)" in str(caught.value)


@respx.mock
def test_same_key_is_not_posted_twice_by_one_adapter():
    route = respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_9"}))
    fb = adapter()
    assert fb.publish(message(NOW), "same") == fb.publish(message(NOW), "same")
    assert route.call_count == 1


@respx.mock
def test_delete_retracts_the_post_by_its_facebook_id():
    route = respx.delete("https://graph.facebook.com/v23.0/4242_777").mock(
        return_value=httpx.Response(200, json={"success": True})
    )
    adapter().delete(Receipt(remote_id="4242_777"))
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


@respx.mock
def test_deleting_a_post_that_is_gone_is_done():
    respx.delete("https://graph.facebook.com/v23.0/4242_777").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {"message": "Unsupported delete request", "code": 100, "error_subcode": 33}
            },
        )
    )
    adapter().delete(Receipt(remote_id="4242_777"))


def test_missing_token_is_permanent_and_names_the_variable():
    fb = FacebookPageAdapter(channel(), environ={}, clock=lambda: NOW)
    with pytest.raises(PermanentError, match="FB_PAGE_TOKEN"):
        fb.publish(message(NOW), "k1")


def test_page_id_is_required():
    with pytest.raises(PermanentError, match=r"settings\.page_id"):
        FacebookPageAdapter(attrs.evolve(channel(), settings={}), environ=ENV)


def test_default_clock_is_the_system_clock():
    fb = FacebookPageAdapter(channel(), environ=ENV)
    before = datetime.now(UTC)
    assert before <= fb.clock() <= datetime.now(UTC)


@respx.mock
def test_token_never_reaches_the_logs(caplog):
    respx.post(FEED).mock(return_value=httpx.Response(200, json={"id": "4242_1"}))
    # httpx's own logger: an in-process CLI run earlier may have quietened it.
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        adapter().publish(message(NOW), "k1")
    assert "HTTP Request: POST" in caplog.text
    assert TOKEN not in caplog.text
