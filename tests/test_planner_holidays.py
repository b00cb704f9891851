"""Planner holiday rules: on_holiday policies, weekends, holiday-triggered posts and
observances.

Expected days come from the holidays package and the calendar module used directly.
"""

from __future__ import annotations

import calendar as stdlib_calendar
from datetime import date, datetime, time, timedelta

import holidays
import pytest

from socialsched import Calendar, Channel, Observance, Post, Segment, plan

CONSOLE = Channel(name="console", adapter="console")


def _segment(name: str, country: str, zone: str, locale: str = "en-US", **extra) -> Segment:
    return Segment(name=name, locale=locale, timezone=zone, country=country, **extra)


US = _segment("us", "US", "America/New_York")


def _calendar(segments, posts, observances=()) -> Calendar:
    return Calendar(segments=segments, channels=[CONSOLE], posts=posts, observances=observances)


def _next_business_day(day: date, table: holidays.HolidayBase) -> date:
    day += timedelta(days=1)
    while day.weekday() in table.weekend or day in table:
        day += timedelta(days=1)
    return day


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    days = [
        date(year, month, d)
        for d in range(1, stdlib_calendar.monthrange(year, month)[1] + 1)
        if date(year, month, d).weekday() == weekday
    ]
    return days[nth - 1] if nth > 0 else days[nth]


# --- on_holiday = "post" / "skip" ------------------------------------------------------


def test_post_policy_keeps_the_delivery_and_names_the_holiday():
    us_2027 = holidays.country_holidays("US", years=2027)
    day = next(d for d, name in us_2027.items() if name == "Independence Day")
    cal = _calendar([US], [Post(id="p", text="hi", dates=[day], at="10:00")])
    [delivery] = plan(cal, day, day)
    assert delivery.holiday == us_2027[day]
    assert delivery.local.date() == day
    assert delivery.shifted_from is None and delivery.reason is None


def test_ordinary_day_has_no_holiday():
    day = date(2027, 3, 3)
    assert day not in holidays.country_holidays("US", years=2027)
    cal = _calendar([US], [Post(id="p", text="hi", dates=[day], at="10:00")])
    [delivery] = plan(cal, day, day)
    assert delivery.holiday is None


def test_skip_drops_deliveries_on_a_subdivision_only_holiday():
    madrid = holidays.country_holidays("ES", subdiv="MD", years=2028)
    catalonia = holidays.country_holidays("ES", subdiv="CT", years=2028)
    madrid_day = date(2028, 5, 2)  # Día de la Comunidad de Madrid, a Tuesday in 2028
    assert madrid_day in madrid and madrid_day not in catalonia
    segments = [
        _segment("md", "ES", "Europe/Madrid", "es-ES", subdivision="ES-MD"),
        _segment("ct", "ES", "Europe/Madrid", "es-ES", subdivision="CT"),
    ]
    cal = _calendar(segments, [Post(id="p", text="hi", schedule="0 10 * * *", on_holiday="skip")])
    deliveries = plan(cal, "2028-05-01", "2028-05-03")
    days = {(d.segment, d.local.date()) for d in deliveries}
    # 1 May is a national holiday: skipped for both.
    assert date(2028, 5, 1) in madrid and date(2028, 5, 1) in catalonia
    assert days == {("md", date(2028, 5, 3)), ("ct", date(2028, 5, 2)), ("ct", date(2028, 5, 3))}


def test_skip_drops_every_holiday_of_the_year_and_nothing_else():
    us_2027 = holidays.country_holidays("US", years=2027)
    cal = _calendar([US], [Post(id="p", text="hi", schedule="0 12 * * *", on_holiday="skip")])
    days = [d.local.date() for d in plan(cal, "2027-01-01", "2027-12-31")]
    expected = [
        date(2027, 1, 1) + timedelta(days=n)
        for n in range(365)
        if date(2027, 1, 1) + timedelta(days=n) not in us_2027
    ]
    assert days == expected


def test_skip_drops_deliveries_on_an_observance_counted_as_holiday():
    brand_day = Observance(name="Brand Day", date="06-10", holiday=True, countries=["US"])
    plain_day = Observance(name="Plain Day", date="06-11", countries=["US"])
    cal = _calendar(
        [US],
        [Post(id="p", text="hi", schedule="0 10 * * *", on_holiday="skip")],
        [brand_day, plain_day],
    )
    days = [d.local.date() for d in plan(cal, "2027-06-09", "2027-06-11")]
    assert days == [date(2027, 6, 9), date(2027, 6, 11)]


def test_observance_for_other_countries_does_not_apply():
    italian_day = Observance(name="Italian Day", date="06-10", holiday=True, countries=["IT"])
    cal = _calendar(
        [US], [Post(id="p", text="hi", schedule="0 10 * * *", on_holiday="skip")], [italian_day]
    )
    assert [d.local.date() for d in plan(cal, "2027-06-10", "2027-06-10")] == [date(2027, 6, 10)]


# --- on_holiday = "next_business_day" ---------------------------------------------------


def test_next_business_day_skips_holiday_and_weekend_keeping_local_time():
    us_2027 = holidays.country_holidays("US", years=range(2027, 2029))
    friday = date(2027, 12, 24)  # Christmas observed, a Friday
    assert friday in us_2027 and friday.weekday() == 4
    expected = _next_business_day(friday, us_2027)
    assert expected.weekday() == 0  # the premise: it crosses a weekend
    cal = _calendar(
        [US], [Post(id="p", text="hi", dates=[friday], at="10:15", on_holiday="next_business_day")]
    )
    [delivery] = plan(cal, "2027-12-20", "2027-12-31")
    assert delivery.local.date() == expected
    assert delivery.local.time() == time(10, 15)
    assert delivery.reason == "holiday"
    assert delivery.holiday == us_2027[friday]
    assert delivery.shifted_from == datetime(2027, 12, 24, 10, 15, tzinfo=US.timezone)
    assert delivery.shifted_from.utcoffset() == timedelta(hours=-5)


def test_next_business_day_daily_post_is_not_doubled_on_the_target_day():
    us_2027 = holidays.country_holidays("US", years=2027)
    cal = _calendar(
        [US], [Post(id="p", text="hi", schedule="0 10 * * *", on_holiday="next_business_day")]
    )
    deliveries = plan(cal, "2027-07-01", "2027-07-10")
    instants = [d.utc for d in deliveries]
    assert len(instants) == len(set(instants))
    assert not any(d.local.date() in us_2027 for d in deliveries)


def test_next_business_day_uses_algerias_friday_saturday_weekend():
    algeria = holidays.country_holidays("DZ", years=range(2025, 2034))
    assert set(algeria.weekend) == {4, 5}  # holidays' own data: Friday + Saturday
    thursday = next(
        day
        for day in sorted(algeria)
        if day.weekday() == 3 and _next_business_day(day, algeria) == day + timedelta(days=3)
    )
    sunday = _next_business_day(thursday, algeria)
    assert sunday.weekday() == 6
    dz = _segment("dz", "DZ", "Africa/Algiers", "fr-DZ")
    cal = _calendar(
        [dz],
        [Post(id="p", text="hi", dates=[thursday], at="09:00", on_holiday="next_business_day")],
    )
    [delivery] = plan(cal, thursday, sunday)
    assert delivery.local.date() == sunday
    assert delivery.local.time() == time(9)
    assert delivery.reason == "holiday"
    assert delivery.shifted_from.date() == thursday


def test_on_weekend_next_business_day_moves_and_says_weekend():
    us_2027 = holidays.country_holidays("US", years=2027)
    saturday = date(2027, 1, 16)
    expected = _next_business_day(saturday, us_2027)
    # Monday 18 January 2027 is Martin Luther King Jr. Day: the move goes past it.
    assert date(2027, 1, 18) in us_2027 and expected == date(2027, 1, 19)
    cal = _calendar(
        [US],
        [Post(id="p", text="hi", dates=[saturday], at="11:00", on_weekend="next_business_day")],
    )
    [delivery] = plan(cal, saturday, expected)
    assert delivery.local.date() == expected
    assert delivery.local.time() == time(11)
    assert delivery.reason == "weekend"
    assert delivery.shifted_from.date() == saturday
    assert delivery.holiday is None


def test_on_weekend_skip_follows_each_countrys_weekend():
    friday, sunday = date(2027, 1, 15), date(2027, 1, 17)
    segments = [US, _segment("dz", "DZ", "Africa/Algiers", "fr-DZ")]
    cal = _calendar(
        segments,
        [Post(id="p", text="hi", dates=[friday, sunday], at="11:00", on_weekend="skip")],
    )
    kept = {(d.segment, d.local.date()) for d in plan(cal, friday, sunday)}
    assert kept == {("us", friday), ("dz", sunday)}


def test_on_weekend_skip_also_applies_to_a_weekend_holiday():
    us_2027 = holidays.country_holidays("US", years=2027)
    christmas = date(2027, 12, 25)
    assert christmas in us_2027 and christmas.weekday() == 5
    cal = _calendar(
        [US], [Post(id="p", text="hi", dates=[christmas], at="10:00", on_weekend="skip")]
    )
    assert plan(cal, christmas, christmas) == []


def test_weekend_is_posted_by_default():
    saturday = date(2027, 1, 16)
    cal = _calendar([US], [Post(id="p", text="hi", dates=[saturday], at="11:00")])
    [delivery] = plan(cal, saturday, saturday)
    assert delivery.local.date() == saturday and delivery.reason is None


# --- holiday-triggered posts -------------------------------------------------------------


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_thanksgiving_post_fires_on_the_fourth_thursday_of_november(year):
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    us = holidays.country_holidays("US", years=year)
    assert thanksgiving in us
    cal = _calendar(
        [US, _segment("fr", "FR", "Europe/Paris", "fr-FR")],
        [Post(id="thanks", text="Happy {{ holiday }}", on_holidays=["Thanksgiving"], at="08:00")],
    )
    deliveries = plan(cal, date(year, 1, 1), date(year, 12, 31))
    assert [(d.segment, d.local.date()) for d in deliveries] == [("us", thanksgiving)]
    assert deliveries[0].local.time() == time(8)
    assert deliveries[0].holiday == us[thanksgiving]
    assert deliveries[0].text == f"Happy {us[thanksgiving]}"


def test_offset_days_moves_a_holiday_triggered_post():
    thanksgiving = _nth_weekday(2027, 11, 3, 4)
    cal = _calendar(
        [US], [Post(id="eve", text="hi", on_holidays=["Thanksgiving"], at="18:00", offset_days=-1)]
    )
    [delivery] = plan(cal, "2027-11-01", "2027-11-30")
    assert delivery.local.date() == thanksgiving - timedelta(days=1)
    assert delivery.holiday == holidays.country_holidays("US", years=2027)[thanksgiving]


def test_offset_days_near_the_range_edge_uses_the_shifted_day():
    thanksgiving = _nth_weekday(2027, 11, 3, 4)
    cal = _calendar(
        [US],
        [Post(id="after", text="hi", on_holidays=["Thanksgiving"], at="09:00", offset_days=10)],
    )
    target = thanksgiving + timedelta(days=10)
    assert target.month == 12
    assert plan(cal, "2027-11-01", "2027-11-30") == []
    assert [d.local.date() for d in plan(cal, "2027-12-01", "2027-12-31")] == [target]


def test_ferragosto_observance_fires_for_italy_only():
    ferragosto = Observance(name="Ferragosto", date="08-15", countries=["IT"])
    segments = [
        _segment("it", "IT", "Europe/Rome", "it-IT"),
        _segment("fr", "FR", "Europe/Paris", "fr-FR"),
    ]
    cal = _calendar(
        segments,
        [Post(id="ferie", text="{{ holiday }}", on_holidays=["Ferragosto"], at="10:00")],
        [ferragosto],
    )
    deliveries = plan(cal, "2027-01-01", "2028-12-31")
    assert [(d.segment, d.local.date()) for d in deliveries] == [
        ("it", date(2027, 8, 15)),
        ("it", date(2028, 8, 15)),
    ]
    assert {d.holiday for d in deliveries} == {"Ferragosto"}
    assert {d.text for d in deliveries} == {"Ferragosto"}


@pytest.mark.parametrize("year", [2027, 2028, 2029])
def test_mothers_day_rule_second_sunday_of_may(year):
    mothers_day = Observance(
        name="Mother's Day", month=5, weekday="sunday", nth=2, countries=["US"]
    )
    expected = _nth_weekday(year, 5, 6, 2)
    cal = _calendar(
        [US], [Post(id="mom", text="hi", on_holidays=["Mother's Day"], at="09:00")], [mothers_day]
    )
    [delivery] = plan(cal, date(year, 5, 1), date(year, 5, 31))
    assert delivery.local.date() == expected
    assert delivery.holiday == "Mother's Day"


def test_last_weekday_rule_nth_minus_one():
    last_sunday = Observance(
        name="Fête des mères", month=5, weekday="sun", nth=-1, countries=["FR"]
    )
    fr = _segment("fr", "FR", "Europe/Paris", "fr-FR")
    cal = _calendar(
        [fr], [Post(id="mom", text="hi", on_holidays=["Fête des mères"], at="09:00")], [last_sunday]
    )
    [delivery] = plan(cal, "2027-05-01", "2027-05-31")
    assert delivery.local.date() == _nth_weekday(2027, 5, 6, -1)


def test_holiday_trigger_follows_the_segments_subdivision():
    madrid_day = date(2028, 5, 2)
    segments = [
        _segment("md", "ES", "Europe/Madrid", "es-ES", subdivision="MD"),
        _segment("ct", "ES", "Europe/Madrid", "es-ES", subdivision="CT"),
    ]
    madrid = holidays.country_holidays("ES", subdiv="MD", years=2028, language="en_US")
    assert madrid[madrid_day] == "Madrid Day"
    cal = _calendar(segments, [Post(id="p", text="hi", on_holidays=["Madrid Day"], at="10:00")])
    deliveries = plan(cal, "2028-01-01", "2028-12-31")
    assert [(d.segment, d.local.date()) for d in deliveries] == [("md", madrid_day)]


def test_holiday_name_prefers_the_exact_holiday_over_longer_names():
    us = holidays.country_holidays("US", years=2027)
    july_4 = date(2027, 7, 4)
    juneteenth = [d for d, name in us.items() if "Juneteenth" in name]
    assert us[july_4] == "Independence Day"
    assert juneteenth and all("Independence Day" in us[d] for d in juneteenth)
    cal = _calendar([US], [Post(id="p", text="hi", on_holidays=["Independence Day"], at="09:00")])
    assert [d.local.date() for d in plan(cal, "2027-01-01", "2027-12-31")] == [july_4]


def test_holiday_trigger_fires_on_the_holiday_not_on_its_observed_day_off():
    us = holidays.country_holidays("US", years=2027)
    christmas = date(2027, 12, 25)
    observed = [d for d, name in us.items() if name.startswith("Christmas") and d != christmas]
    assert observed  # the premise: 2027 has a "Christmas Day (observed)" too
    cal = _calendar([US], [Post(id="p", text="hi", on_holidays=["Christmas"], at="09:00")])
    [delivery] = plan(cal, "2027-12-01", "2027-12-31")
    assert delivery.local.date() == christmas
    assert delivery.holiday == us[christmas]


def test_a_holiday_of_several_days_fires_once_on_its_first_day():
    algeria = holidays.country_holidays("DZ", years=2027, language="en_US")
    eid_days = sorted(d for d, name in algeria.items() if name.startswith("Eid al-Fitr"))
    assert len(eid_days) > 1 and eid_days[-1] - eid_days[0] == timedelta(len(eid_days) - 1)
    dz = _segment("dz", "DZ", "Africa/Algiers", "fr-DZ")
    cal = _calendar([dz], [Post(id="p", text="hi", on_holidays=["Eid al-Fitr"], at="09:00")])
    assert [d.local.date() for d in plan(cal, "2027-01-01", "2027-12-31")] == [eid_days[0]]


def test_offset_across_the_new_year_uses_next_years_holiday():
    us_2028 = holidays.country_holidays("US", years=2028)
    new_year = date(2028, 1, 1)
    assert us_2028[new_year] == "New Year's Day"
    cal = _calendar(
        [US],
        [Post(id="eve", text="hi", on_holidays=["New Year's Day"], at="20:00", offset_days=-1)],
    )
    [delivery] = plan(cal, "2027-12-01", "2027-12-31")
    assert delivery.local.date() == date(2027, 12, 31)
    assert delivery.holiday == us_2028[new_year]


def test_a_delivery_moved_into_the_range_from_before_it_is_planned():
    us_2027 = holidays.country_holidays("US", years=range(2027, 2029))
    friday = date(2027, 12, 24)
    monday = _next_business_day(friday, us_2027)
    cal = _calendar(
        [US], [Post(id="p", text="hi", dates=[friday], at="10:00", on_holiday="next_business_day")]
    )
    assert [d.local.date() for d in plan(cal, monday, monday)] == [monday]
    assert plan(cal, friday, monday - timedelta(days=1)) == []


# --- per-segment facts in shared markets -------------------------------------------------


def test_holiday_names_are_in_each_segments_language():
    national_day = date(2027, 7, 21)
    segments = [
        _segment("be-fr", "BE", "Europe/Brussels", "fr-BE"),
        _segment("be-nl", "BE", "Europe/Brussels", "nl-BE"),
    ]
    cal = _calendar(
        segments, [Post(id="p", text="{{ holiday }}", dates=[national_day], at="10:00")]
    )
    names = {d.segment: (d.holiday, d.text) for d in plan(cal, national_day, national_day)}
    for segment, language in (("be-fr", "fr"), ("be-nl", "nl")):
        expected = holidays.country_holidays("BE", years=2027, language=language)[national_day]
        assert names[segment] == (expected, expected)
    assert names["be-fr"] != names["be-nl"]


def test_observance_for_one_segment_does_not_leak_to_its_neighbour():
    # Same zone, country and locale: only the observance tells the two apart.
    staff_day = Observance(name="Staff Day", date="06-10", holiday=True, segments=["a"])
    segments = [_segment("a", "US", "America/New_York"), _segment("b", "US", "America/New_York")]
    cal = _calendar(
        segments,
        [Post(id="p", text="hi", schedule="0 10 * * *", on_holiday="skip")],
        [staff_day],
    )
    planned = {(d.segment, d.local.date()) for d in plan(cal, "2027-06-10", "2027-06-10")}
    assert planned == {("b", date(2027, 6, 10))}
