"""The README's example calendar, checked against expectations computed independently
from the file itself, zoneinfo, the holidays package and Babel."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import babel.numbers
import holidays
import pytest

import socialsched
import socialsched.planning.lint

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "exporter" / "calendar.toml"
TEMPLATES = EXAMPLE.parent / "templates"
RAW = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
SEGMENTS = {raw["name"]: raw for raw in RAW["segment"]}
BRAND = RAW["calendar"]["vars"]["brand"]


@pytest.fixture(scope="module")
def calendar() -> socialsched.Calendar:
    return socialsched.load(EXAMPLE)


@pytest.fixture(scope="module")
def january(calendar) -> list[socialsched.Delivery]:
    return socialsched.plan(calendar, "2027-01-01", "2027-01-31")


def babel_tag(locale: str) -> str:
    return locale.replace("-", "_")


def market_holidays(name: str, year: int = 2027):
    raw = SEGMENTS[name]
    return holidays.country_holidays(raw["country"], subdiv=raw.get("subdivision"), years=year)


def in_quiet_hours(name: str, moment: time) -> bool:
    for window in SEGMENTS[name].get("quiet_hours", []):
        start, end = (time.fromisoformat(part) for part in window.split("-"))
        inside = start <= moment < end if start < end else (moment >= start or moment < end)
        if inside:
            return True
    return False


def days_in_january(weekday: int) -> list[date]:
    first = date(2027, 1, 1)
    return [
        first + timedelta(days=n)
        for n in range(31)
        if (first + timedelta(days=n)).weekday() == weekday
    ]


def template_file(name: str, locale: str) -> Path:
    parts = locale.split("-")
    candidates = [f"{name}.{'-'.join(parts[:n])}.j2" for n in range(len(parts), 0, -1)]
    for candidate in [*candidates, f"{name}.j2"]:
        if (TEMPLATES / candidate).exists():
            return TEMPLATES / candidate
    raise AssertionError(f"no {name} template for {locale}")


def pick(deliveries, post: str, segment: str) -> list[socialsched.Delivery]:
    return [d for d in deliveries if d.post == post and d.segment == segment]


def test_example_loads_with_its_six_markets(calendar):
    assert [s.name for s in calendar.segments] == list(SEGMENTS)
    locales = {s.locale for s in calendar.segments}
    assert locales == {"es-ES", "es-MX", "fr-FR", "fr-DZ", "en-US", "it-IT"}


def test_templates_exist_in_every_advertised_language():
    names = {p.name for p in TEMPLATES.glob("*.j2")}
    for suffix in ("es", "es-MX", "fr", "fr-DZ", "it"):
        assert f"recipe.{suffix}.j2" in names
    assert "recipe.j2" in names  # the English default


@pytest.mark.parametrize("segment", list(SEGMENTS))
def test_weekly_recipe_tuesdays_moved_off_holidays(january, segment):
    raw = SEGMENTS[segment]
    table = market_holidays(segment)
    expected_days = []
    for tuesday in days_in_january(1):
        day = tuesday
        while day in table or day.weekday() in table.weekend:
            day += timedelta(days=1)
        expected_days.append((tuesday, day))
    assert not in_quiet_hours(segment, time(10, 0))
    zone = ZoneInfo(raw["timezone"])
    got = pick(january, "weekly-recipe", segment)
    assert [d.utc for d in got] == [
        datetime.combine(day, time(10, 0), zone).astimezone(UTC) for _, day in expected_days
    ]
    for delivery, (planned, day) in zip(got, expected_days, strict=True):
        assert delivery.local == datetime.combine(day, time(10, 0), zone)
        if planned != day:
            assert delivery.reason == "holiday"
            assert delivery.shifted_from == datetime.combine(planned, time(10, 0), zone)
        else:
            assert delivery.shifted_from is None
        source = template_file("recipe", raw["locale"]).read_text(encoding="utf-8")
        prefix = source.split("{{")[0]
        assert delivery.text.startswith(prefix + BRAND)
        full_date = babel.dates.format_date(day, "full", locale=babel_tag(raw["locale"]))
        assert full_date in delivery.text


def test_algeria_moves_the_recipe_off_amazigh_new_year(january):
    # 2027-01-12 is a Tuesday and a public holiday in Algeria (Yennayer).
    assert date(2027, 1, 12) in holidays.country_holidays("DZ", years=2027)
    moved = [d for d in pick(january, "weekly-recipe", "fr-DZ") if d.shifted_from]
    assert [d.local.date() for d in moved] == [date(2027, 1, 13)]


def test_fr_dz_gets_its_own_template_text(january):
    source = (TEMPLATES / "recipe.fr-DZ.j2").read_text(encoding="utf-8")
    for delivery in pick(january, "weekly-recipe", "fr-DZ"):
        assert delivery.text.startswith(source.split("{{")[0] + BRAND)
    french = (TEMPLATES / "recipe.fr.j2").read_text(encoding="utf-8").split("{{")[0]
    for delivery in pick(january, "weekly-recipe", "fr-FR"):
        assert delivery.text.startswith(french + BRAND)


def test_friday_tip_skips_new_year_and_leaves_lunch(january):
    fridays = days_in_january(4)
    for segment in ("es-ES", "fr-FR", "it-IT", "es-MX", "en-US"):
        raw = SEGMENTS[segment]
        table = market_holidays(segment)
        zone = ZoneInfo(raw["timezone"])
        expected = []
        for friday in fridays:
            if friday in table:
                continue  # on_holiday = "skip"
            wall = time(13, 30)
            # Move to the end of the quiet window containing 13:30, if any.
            for window in raw.get("quiet_hours", []):
                start, end = (time.fromisoformat(p) for p in window.split("-"))
                if start <= wall < end:
                    wall = end
            expected.append(datetime.combine(friday, wall, zone))
        got = pick(january, "friday-tip", segment)
        assert [d.local for d in got] == expected, segment
    # fr-FR lunch is 12:00-14:00: each tip goes out at 14:00 instead of 13:30.
    assert {d.local.time() for d in pick(january, "friday-tip", "fr-FR")} == {time(14, 0)}
    assert {d.reason for d in pick(january, "friday-tip", "fr-FR")} == {"quiet_hours"}
    assert not pick(january, "friday-tip", "fr-DZ")  # not in its segments


def test_new_year_inline_text_per_locale_and_quiet_night(january):
    texts = {
        "es-ES": f"¡Feliz año nuevo de parte de {BRAND}!",
        "es-MX": f"¡Feliz año nuevo de parte de {BRAND}!",
        "fr-FR": f"Bonne année de la part de {BRAND} !",
        "fr-DZ": f"{BRAND} vous souhaite une bonne et heureuse année !",
        "en-US": f"Happy new year from {BRAND}!",
        "it-IT": f"Buon anno da {BRAND}!",
    }
    for segment, text in texts.items():
        raw = SEGMENTS[segment]
        (delivery,) = pick(january, "new-year", segment)
        assert delivery.text == text
        # 00:30 falls in each market's night quiet hours: it moves to the window's end.
        night = next(w for w in raw["quiet_hours"] if w.split("-")[0] > w.split("-")[1])
        wake = time.fromisoformat(night.split("-")[1])
        zone = ZoneInfo(raw["timezone"])
        assert delivery.local == datetime.combine(date(2027, 1, 1), wake, zone)
        assert delivery.reason == "quiet_hours"


def test_derby_night_only_where_football_is_not_avoided(january):
    got = [d for d in january if d.post == "derby-night"]
    assert [d.segment for d in got] == ["es-MX"]
    assert got[0].local == datetime(2027, 1, 16, 18, 0, tzinfo=ZoneInfo("America/Mexico_City"))


def test_weekend_offer_prices_are_localized(january):
    for segment in ("fr-FR", "it-IT", "en-US"):
        tag = babel_tag(SEGMENTS[segment]["locale"])
        for delivery in pick(january, "weekend-offer", segment):
            assert babel.numbers.format_percent(0.15, locale=tag) in delivery.text
            assert babel.numbers.format_currency(24.9, "EUR", locale=tag) in delivery.text


def test_every_delivery_has_audience_and_unique_id(january):
    audiences = RAW["channel"][0]["audiences"]
    assert all(str(d.audience) == audiences[d.segment] for d in january)
    assert len({d.id for d in january}) == len(january)


def test_thanksgiving_lands_on_the_us_holiday_at_nine_new_york(calendar):
    (thanksgiving,) = holidays.country_holidays("US", years=2027).get_named("Thanksgiving")
    got = [
        d
        for d in socialsched.plan(calendar, "2027-11-01", "2027-11-30")
        if d.post == "thanksgiving"
    ]
    assert len(got) == 1
    expected = datetime.combine(thanksgiving, time(9, 0), ZoneInfo("America/New_York"))
    assert got[0].segment == "en-US"
    assert got[0].local == expected
    assert got[0].utc == expected.astimezone(UTC)
    assert "Thanksgiving" in got[0].holiday
    assert got[0].text.startswith(f"Happy Thanksgiving from {BRAND}!")


def test_ferragosto_in_italy_only(calendar):
    got = [
        d for d in socialsched.plan(calendar, "2027-08-01", "2027-08-31") if d.post == "ferragosto"
    ]
    assert len(got) == 1
    expected = datetime(2027, 8, 15, 10, 0, tzinfo=ZoneInfo("Europe/Rome"))
    assert got[0].segment == "it-IT"
    assert got[0].local == expected
    assert got[0].utc == datetime(2027, 8, 15, 8, 0, tzinfo=UTC)  # CEST is UTC+2
    assert got[0].holiday == "Ferragosto"
    assert (
        got[0].text
        == f"Buon Ferragosto da {BRAND}! Le nostre conserve per il picnic: "
        + (RAW["calendar"]["vars"]["site"])
    )


def test_lint_of_example_warns_only_about_avoided_football():
    problems = socialsched.planning.lint.lint(EXAMPLE, date(2027, 1, 1), date(2027, 1, 31))
    assert {p.severity for p in problems} == {"warning"}
    # derby-night has topic football; es-ES and it-IT avoid it, es-MX does not.
    excluded = sorted((p.message.split("'")[1], p.message.split("'")[3]) for p in problems)
    assert excluded == [("derby-night", "es-ES"), ("derby-night", "it-IT")]
