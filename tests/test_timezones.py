"""Time zones at the API boundary: IANA names, zoneinfo, pytz and dateutil zones are
accepted and normalised to zoneinfo; unknown names get a suggestion."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import pytz
from dateutil import tz as dateutil_tz

from socialsched import Calendar, Channel, Post, Segment, SocialschedError, plan
from socialsched.calendar.timezones import UnknownTimezoneError, suggest_timezone, to_zoneinfo

ZONE_INPUTS = {
    "iana string": lambda name: name,
    "zoneinfo": ZoneInfo,
    "pytz": pytz.timezone,
    "dateutil": dateutil_tz.gettz,
}


@pytest.mark.parametrize("kind", sorted(ZONE_INPUTS))
@pytest.mark.parametrize(
    "name", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
def test_every_kind_of_zone_is_normalised_to_zoneinfo(kind, name):
    zone = ZONE_INPUTS[kind](name)
    normalised = to_zoneinfo(zone)
    assert type(normalised) is ZoneInfo
    assert normalised.key == name


@pytest.mark.parametrize("kind", sorted(ZONE_INPUTS))
def test_segment_timezone_is_a_zoneinfo_whatever_was_given(kind):
    segment = Segment(
        name="us", locale="en-US", timezone=ZONE_INPUTS[kind]("America/New_York"), country="US"
    )
    assert segment.timezone == ZoneInfo("America/New_York")


@pytest.mark.parametrize("kind", sorted(ZONE_INPUTS))
def test_plans_are_identical_whatever_zone_object_was_given(kind):
    # The DST gap day: a pytz zone used naively (tzinfo=) would give LMT offsets.
    segment = Segment(
        name="us", locale="en-US", timezone=ZONE_INPUTS[kind]("America/New_York"), country="US"
    )
    cal = Calendar(
        segments=[segment],
        channels=[Channel(name="c", adapter="console")],
        posts=[Post(id="p", text="hi", schedule="30 2,9 * * *")],
    )
    day = date(2027, 3, 14)
    zone = ZoneInfo("America/New_York")
    expected = [
        datetime.combine(day, time(hour, 30), tzinfo=zone).astimezone(UTC) for hour in (2, 9)
    ]
    deliveries = plan(cal, day, day)
    assert [d.utc for d in deliveries] == expected
    assert all(d.local.tzinfo == zone for d in deliveries)


@pytest.mark.parametrize("utc", [pytz.utc, dateutil_tz.UTC, UTC, "UTC"])
def test_utc_objects_become_zoneinfo_utc(utc):
    assert to_zoneinfo(utc) == ZoneInfo("UTC")


def test_unknown_zone_suggests_the_closest_name():
    with pytest.raises(UnknownTimezoneError) as caught:
        to_zoneinfo("Europe/Pariss")
    message = str(caught.value)
    assert "'Europe/Pariss'" in message
    assert "'Europe/Paris'" in message
    assert isinstance(caught.value, SocialschedError)


def test_unknown_zone_on_a_segment_names_it_and_suggests():
    with pytest.raises(ValueError, match=r"'Europe/Pariss'.*'Europe/Paris'"):
        Segment(name="fr", locale="fr-FR", timezone="Europe/Pariss", country="FR")


@pytest.mark.parametrize(
    ("typo", "closest"),
    [
        ("Europe/Pariss", "Europe/Paris"),
        ("america/new_york", "America/New_York"),
        ("Kathmandu", "Asia/Kathmandu"),
        ("Australia/LordHowe", "Australia/Lord_Howe"),
    ],
)
def test_suggestions(typo, closest):
    assert suggest_timezone(typo) == closest


def test_nonsense_zone_has_no_suggestion_but_still_a_clear_message():
    with pytest.raises(UnknownTimezoneError) as caught:
        to_zoneinfo("Qqqqq/Zzzzzz")
    assert "'Qqqqq/Zzzzzz'" in str(caught.value)
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize("value", [dateutil_tz.tzoffset(None, 3600), 42])
def test_zones_without_an_iana_name_are_refused(value):
    with pytest.raises(UnknownTimezoneError, match="IANA"):
        to_zoneinfo(value)
