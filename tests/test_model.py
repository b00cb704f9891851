"""The model built from Python: validation on construction (each message names the
offending value), cross-reference checks, adapter limits at plan time, deliveries."""

from __future__ import annotations

import json
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from socialsched import (
    Calendar,
    CalendarError,
    Channel,
    Delivery,
    Observance,
    PlanError,
    Planner,
    Post,
    Segment,
    plan,
)
from socialsched.planning.planner import Slot

CONSOLE = Channel(name="console", adapter="console")


def _segment(**changes) -> Segment:
    fields = {"name": "us", "locale": "en-US", "timezone": "America/New_York", "country": "US"}
    return Segment(**{**fields, **changes})


def _post(**changes) -> Post:
    fields = {"id": "p", "text": "hi", "schedule": "0 9 * * *"}
    return Post(**{**fields, **changes})


# --- Segment ----------------------------------------------------------------------------


def test_valid_segment_normalises_its_fields():
    segment = _segment(
        country="es",
        locale="es-ES",
        timezone="Europe/Madrid",
        subdivision="es-md",
        circles="iberia",
        quiet_hours="22:00-08:00",
    )
    assert segment.country == "ES"
    assert segment.subdivision == "ES-MD"
    assert segment.subdivision_code == "MD"
    assert segment.circles == ("iberia",)
    assert segment.timezone == ZoneInfo("Europe/Madrid")
    assert [(w.start, w.end) for w in segment.quiet_hours] == [(time(22), time(8))]


@pytest.mark.parametrize("locale", ["zz-ZZ", "not a locale", "en_US_POSIX_x"])
def test_bad_locale_is_named(locale):
    with pytest.raises(ValueError, match="locale") as caught:
        _segment(locale=locale)
    assert repr(locale) in str(caught.value)


@pytest.mark.parametrize("country", ["XX", "ZZ", "U5"])
def test_unknown_country_is_named(country):
    with pytest.raises(ValueError, match="country") as caught:
        _segment(country=country)
    assert repr(country) in str(caught.value)


def test_unknown_subdivision_is_named_with_its_country():
    with pytest.raises(ValueError) as caught:
        _segment(country="ES", locale="es-ES", subdivision="ES-ZZ")
    message = str(caught.value)
    assert "'ES-ZZ'" in message and "'ES'" in message
    assert "CT" in message  # lists known codes


def test_subdivision_of_another_country_is_refused():
    with pytest.raises(ValueError, match="'NY'"):
        _segment(country="ES", locale="es-ES", subdivision="NY")


@pytest.mark.parametrize(
    ("window", "named"),
    [
        ("25:00-26:00", "'25:00'"),
        ("12:00", "'12:00'"),
        ("12:00-12:00", "'12:00-12:00'"),
        ("noon-two", "'noon'"),
        ("12:60-13:00", "'12:60'"),
    ],
)
def test_bad_quiet_hours_are_named(window, named):
    with pytest.raises(ValueError) as caught:
        _segment(quiet_hours=[window])
    assert named in str(caught.value)


# --- Post timing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ("61 * * * *", "minute 61"),
        ("* 24 * * *", "hour 24"),
        ("* * *", "'* * *'"),
        ("0 9 * * funday", "'funday'"),
        ("0 9 * 13 *", "month 13"),
        ("*/0 * * * *", "'0'"),
        ("0 9-5 * * *", "'9-5'"),
    ],
)
def test_bad_cron_is_named(schedule, named):
    with pytest.raises(ValueError) as caught:
        _post(schedule=schedule)
    message = str(caught.value)
    assert named in message
    assert "'p'" in message  # the post


@pytest.mark.parametrize(
    "timing",
    [
        {"schedule": None},  # no timing at all
        {"dates": ["2027-01-01"]},  # schedule and dates
        {"on_holidays": ["Thanksgiving"]},  # schedule and on_holidays
        {"schedule": None, "dates": ["2027-01-01"], "on_holidays": ["X"], "at": "09:00"},
    ],
)
def test_exactly_one_timing_mode(timing):
    with pytest.raises(ValueError, match="exactly one timing") as caught:
        _post(**timing)
    assert "'p'" in str(caught.value)


@pytest.mark.parametrize("timing", [{"dates": ["2027-01-01"]}, {"on_holidays": ["Thanksgiving"]}])
def test_dates_and_holidays_need_at(timing):
    with pytest.raises(ValueError, match="at = 'HH:MM'"):
        _post(schedule=None, **timing)


def test_at_does_not_go_with_a_cron_schedule():
    with pytest.raises(ValueError, match="at does not go with schedule"):
        _post(at="10:00")


def test_start_after_end_names_both():
    with pytest.raises(ValueError) as caught:
        _post(start="2027-02-01", end="2027-01-01")
    assert "2027-02-01" in str(caught.value) and "2027-01-01" in str(caught.value)


@pytest.mark.parametrize("text", [{"text": None}, {"template": "offer"}])
def test_exactly_one_of_text_and_template(text):
    with pytest.raises(ValueError, match="exactly one of text or template"):
        _post(**text)


def test_bad_dates_and_clock_are_named():
    with pytest.raises(ValueError, match="'2027-13-01'"):
        _post(schedule=None, dates=["2027-13-01"], at="10:00")
    with pytest.raises(ValueError, match="'9h'"):
        _post(schedule=None, dates=["2027-01-01"], at="9h")


@pytest.mark.parametrize("field", ["on_holiday", "on_weekend"])
def test_unknown_policy_is_named(field):
    with pytest.raises(ValueError, match="'maybe'"):
        _post(**{field: "maybe"})


# --- Channel secrets ---------------------------------------------------------------------------


def test_inline_secret_value_is_refused_without_being_echoed():
    secret = "sk-live-9f8e7d6c5b4a!"
    with pytest.raises(ValueError) as caught:
        Channel(name="x", adapter="console", secrets={"token": secret})
    message = str(caught.value)
    assert (
        "'token'" in message and "name of a secret" in message and "SOCIALSCHED_SECRET_" in message
    )
    assert secret not in message
    assert secret not in repr(caught.value)


def test_secret_given_as_environment_variable_name_is_kept_as_a_name():
    channel = Channel(name="x", adapter="console", secrets={"token": "X_TOKEN"})
    assert channel.secrets == {"token": "X_TOKEN"}


# --- Observance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "exactly one of"),
        ({"date": "08-15", "dates": ["2027-01-01"]}, "exactly one of"),
        ({"date": "02-30"}, "'02-30'"),
        ({"date": "15/08"}, "'15/08'"),
        ({"month": 5, "weekday": "sunday"}, "together"),
        ({"month": 13, "weekday": "sunday", "nth": 1}, "month 13"),
        ({"month": 5, "weekday": "sunday", "nth": 7}, "nth 7"),
        ({"month": 5, "weekday": "funday", "nth": 1}, "'funday'"),
    ],
)
def test_bad_observance_is_named(fields, named):
    with pytest.raises(ValueError) as caught:
        Observance(name="Mothers", **fields)
    assert named in str(caught.value)


def test_observance_leap_day_only_in_leap_years():
    leap = Observance(name="Leap", date="02-29")
    assert leap.dates_in(2028) == [date(2028, 2, 29)]
    assert leap.dates_in(2027) == []


def test_observance_applies_by_country_or_segment_name():
    us, fr = _segment(), _segment(name="fr", locale="fr-FR", country="FR")
    assert Observance(name="A", date="01-01").applies_to(fr)
    assert Observance(name="B", date="01-01", countries=["us"]).applies_to(us)
    assert not Observance(name="B", date="01-01", countries=["US"]).applies_to(fr)
    assert Observance(name="C", date="01-01", segments=["fr"]).applies_to(fr)


# --- Calendar cross-references --------------------------------------------------------------


def test_calendar_reports_every_broken_reference_at_once():
    segment = _segment(circles=["americas"])
    with pytest.raises(CalendarError) as caught:
        Calendar(
            segments=[segment, segment],
            channels=[CONSOLE, Channel(name="console", adapter="console", audiences={"nope": 1})],
            posts=[
                _post(segments=["zz", "circle:europe"], channels=["fax"]),
                _post(),
            ],
        )
    messages = [problem.message for problem in caught.value.problems]
    expected_fragments = [
        "duplicate segment name 'us'",
        "duplicate channel name 'console'",
        "duplicate post id 'p'",
        "unknown segment 'nope'",
        "unknown segment 'zz'",
        "unknown circle 'europe'",
        "unknown channel 'fax'",
    ]
    for fragment in expected_fragments:
        assert any(fragment in message for message in messages), fragment
    assert len(messages) == len(expected_fragments)


def test_post_segment_selectors():
    segments = [
        _segment(name="us", circles=["americas"]),
        _segment(name="mx", locale="es-MX", timezone="America/Mexico_City", country="MX",
                 circles=["americas", "spanish"]),
        _segment(name="es", locale="es-ES", timezone="Europe/Madrid", country="ES",
                 circles=["spanish"]),
    ]  # fmt: skip
    cal = Calendar(
        segments=segments,
        channels=[CONSOLE],
        posts=[
            _post(id="all", segments="*"),
            _post(id="circle", segments=["circle:spanish"]),
            _post(id="named", segments=["us", "es"]),
        ],
    )
    planned = {(d.post, d.segment) for d in plan(cal, "2027-01-05", "2027-01-05")}
    assert planned == {
        ("all", "us"),
        ("all", "mx"),
        ("all", "es"),
        ("circle", "mx"),
        ("circle", "es"),
        ("named", "us"),
        ("named", "es"),
    }


def test_channel_audiences_limit_which_segments_a_channel_reaches():
    us, fr = _segment(), _segment(name="fr", locale="fr-FR", timezone="Europe/Paris", country="FR")
    channels = [
        Channel(name="everyone", adapter="console"),
        Channel(name="french", adapter="console", audiences={"fr": "community:fr_page"}),
    ]
    cal = Calendar(segments=[us, fr], channels=channels, posts=[_post()])
    planned = {
        (d.segment, d.channel, d.audience and str(d.audience))
        for d in plan(cal, "2027-01-05", "2027-01-05")
    }
    assert planned == {
        ("us", "everyone", None),
        ("fr", "everyone", None),
        ("fr", "french", "community:fr_page"),
    }


# --- adapter limits at plan time ------------------------------------------------------------


def _limited_calendar(limit: int) -> Calendar:
    return Calendar(
        segments=[_segment(), _segment(name="fr", locale="fr-FR", country="FR")],
        channels=[
            Channel(name="short", adapter="console", settings={"max_length": limit}),
            Channel(name="long", adapter="console"),
        ],
        posts=[
            Post(
                id="promo",
                text={"en": "Hello {{ vars.who }}", "fr": "Bonjour {{ vars.who }}"},
                vars={"who": "world"},
                dates=["2027-01-05"],
                at="10:00",
            )
        ],
    )


def test_text_too_long_for_a_channel_names_post_segment_and_channel():
    # "Bonjour world" is 13 characters, "Hello world" 11.
    with pytest.raises(PlanError) as caught:
        plan(_limited_calendar(12), "2027-01-05", "2027-01-05")
    message = str(caught.value)
    assert "'promo'" in message and "'fr'" in message and "'short'" in message
    assert "13" in message and "12" in message


def test_text_within_the_limit_plans():
    deliveries = plan(_limited_calendar(13), "2027-01-05", "2027-01-05")
    assert {(d.segment, d.channel, d.text) for d in deliveries} == {
        ("us", "short", "Hello world"),
        ("us", "long", "Hello world"),
        ("fr", "short", "Bonjour world"),
        ("fr", "long", "Bonjour world"),
    }


def test_limit_problems_can_be_collected_instead_of_raised():
    problems: list = []
    deliveries = Planner(_limited_calendar(12)).plan("2027-01-05", "2027-01-05", problems=problems)
    assert len(problems) == 1 and "'short'" in problems[0].message
    assert ("fr", "short") not in {(d.segment, d.channel) for d in deliveries}
    assert len(deliveries) == 3


def test_limits_are_not_checked_without_rendering():
    deliveries = plan(_limited_calendar(1), "2027-01-05", "2027-01-05", render=False)
    assert len(deliveries) == 4 and all(d.text is None for d in deliveries)


# --- Delivery ---------------------------------------------------------------------------------


def test_delivery_to_dict_is_json_with_iso_times():
    cal = Calendar(
        segments=[_segment(quiet_hours=["22:00-08:00"])],
        channels=[CONSOLE],
        posts=[Post(id="p", text="hi", dates=["2027-07-06"], at="23:00", tags=["promo"])],
    )
    [delivery] = plan(cal, "2027-07-06", "2027-07-07")
    record = json.loads(json.dumps(delivery.to_dict()))
    assert record["utc"] == "2027-07-07T12:00:00Z"  # 08:00 EDT
    assert record["local"] == "2027-07-07T08:00:00-04:00"
    assert record["shifted_from"] == "2027-07-06T23:00:00-04:00"
    assert record["reason"] == "quiet_hours"
    assert record["holiday"] is None
    assert record["tags"] == ["promo"]
    assert {"id", "post", "segment", "channel", "text"} <= set(record)


def test_delivery_is_frozen():
    cal = Calendar(segments=[_segment()], channels=[CONSOLE], posts=[_post()])
    [delivery] = plan(cal, "2027-01-05", "2027-01-05")
    assert isinstance(delivery, Delivery)
    with pytest.raises(AttributeError):
        delivery.text = "changed"  # type: ignore[misc]
    assert Slot._fields[:3] == ("key", "utc", "local")


@pytest.mark.parametrize("field", ["respect_quiet_hours", "requires_approval"])
def test_post_flags_must_be_booleans(field):
    with pytest.raises(ValueError, match=rf"{field} must be true or false, not 'no'"):
        Post(id="p", text="hi", dates=["2027-01-05"], at="10:00", **{field: "no"})


def test_observance_holiday_flag_must_be_boolean():
    with pytest.raises(ValueError, match="holiday must be true or false, not 1"):
        Observance(name="Brand Day", date="03-01", holiday=1)
