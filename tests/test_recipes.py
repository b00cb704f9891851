"""Every recipe in docs/recipes loads, plans, and does what its page says.

Expectations come from zoneinfo, babel, dateutil and the holidays package directly,
and from the recipe files read as plain TOML, never from socialsched itself.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
import shutil
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import babel.dates
import holidays
import pytest
from click.testing import CliRunner
from dateutil.relativedelta import SU, relativedelta
from PIL import Image

import socialsched
from socialsched.cli import main
from socialsched.planning.lint import lint
from socialsched.scheduling import schedule

RECIPES = Path(__file__).resolve().parents[1] / "docs" / "recipes"
TESTED = {
    "multilingual-exporter",
    "holiday-promotions",
    "circles-targeting",
    "service-hours",
    "weekly-cadence",
    "crediting-sources",
    "crisis-pause",
    "banner-per-language",
    "threads",
    "calendar-as-code",
    "all-networks",
    # Tested in tests/test_recipes_sheets.py.
    "spreadsheet-import",
    # Tested in tests/test_recipes_series.py.
    "six-week-series",
    # Queue recipes: tested in tests/test_recipes_queues.py.
    "queues-per-market",
    "evergreen",
    # Tested in tests/test_recipes_analytics.py.
    "which-market-answers",
}


def _raw(name: str, file: str = "calendar.toml") -> dict:
    return tomllib.loads((RECIPES / name / file).read_text(encoding="utf-8"))


def _load(name: str, file: str = "calendar.toml") -> socialsched.Calendar:
    return socialsched.load(RECIPES / name / file)


def _utc(day: date, clock: time, zone: str) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _next_business_day(day: date, country: str) -> date:
    public = holidays.country_holidays(country, years=range(day.year, day.year + 2))
    weekend = {"DZ": {4, 5}}.get(country, {5, 6})
    day += timedelta(days=1)
    while day in public or day.weekday() in weekend:
        day += timedelta(days=1)
    return day


def test_every_recipe_folder_is_tested_and_has_a_page_showing_its_files():
    folders = {p.parent.name for p in RECIPES.glob("*/calendar.toml")}
    assert folders == TESTED
    for name in folders:
        page = (RECIPES / name / "index.md").read_text(encoding="utf-8")
        # The page includes the calendar file itself, so the page cannot drift from it.
        assert f'--8<-- "docs/recipes/{name}/calendar.toml"' in page, name


@pytest.mark.parametrize("name", sorted(TESTED))
def test_recipe_lints_clean_for_a_year(name):
    assert lint(RECIPES / name / "calendar.toml", date(2027, 1, 1), date(2027, 12, 31)) == []


# ---- multilingual exporter ----


def test_multilingual_exporter_uses_each_markets_template_language_and_zone():
    raw = _raw("multilingual-exporter")
    templates = RECIPES / "multilingual-exporter" / "templates"
    chosen = {
        "es-ES": "news.es.j2",
        "es-MX": "news.es-MX.j2",
        "fr-FR": "news.fr.j2",
        "fr-DZ": "news.fr-DZ.j2",
        "en-US": "news.j2",
        "it-IT": "news.it.j2",
    }
    # Six different files: every market has its own wording.
    assert len(set(chosen.values())) == 6
    start, end = date(2027, 3, 1), date(2027, 4, 30)  # across both DST changes
    deliveries = socialsched.plan(_load("multilingual-exporter"), start, end)
    expected = set()
    for segment in raw["segment"]:
        source = (templates / chosen[segment["name"]]).read_text(encoding="utf-8").strip()
        for day in _days(start, end):
            if day.weekday() != 1:  # Tuesdays
                continue
            text = source.replace("{{ vars.brand }}", raw["calendar"]["vars"]["brand"]).replace(
                '{{ when | date("long") }}',
                babel.dates.format_date(day, "long", locale=segment["locale"].replace("-", "_")),
            )
            expected.add((segment["name"], _utc(day, time(10), segment["timezone"]), text))
    assert {(d.segment, d.utc, d.text) for d in deliveries} == expected


# ---- holiday promotions ----


def test_holiday_promotions_fall_on_each_countrys_own_days():
    deliveries = socialsched.plan(_load("holiday-promotions"), "2027-01-01", "2028-12-31")
    zones = {s["name"]: s["timezone"] for s in _raw("holiday-promotions")["segment"]}
    expected = set()
    for year in (2027, 2028):
        may = date(year, 5, 1)
        mothers = {
            "us": may + relativedelta(weekday=SU(+2)),
            "it": may + relativedelta(weekday=SU(+2)),
            "es": may + relativedelta(weekday=SU(+1)),
            "mx": date(year, 5, 10),
        }
        for segment, day in mothers.items():
            expected.add(("mothers-day", segment, _utc(day, time(9, 30), zones[segment])))
        (thanksgiving,) = [d for d, n in holidays.US(years=year).items() if "Thanksgiving" in n]
        eve = thanksgiving - timedelta(days=1)
        expected.add(("thanksgiving", "us", _utc(eve, time(9), zones["us"])))
        expected.add(("ferragosto", "it", _utc(date(year, 8, 15), time(10), zones["it"])))
    assert {(d.post, d.segment, d.utc) for d in deliveries} == expected
    # The three Mother's Days of 2027 are three different days.
    days_2027 = {d.segment: d.local.date() for d in deliveries if d.post == "mothers-day"}
    assert len({days_2027["us"], days_2027["es"], days_2027["mx"]}) == 3
    texts = {(d.post, d.segment): d.text for d in deliveries}
    assert texts[("ferragosto", "it")].startswith("Buon Ferragosto!")
    assert texts[("mothers-day", "us")].startswith("Happy Mother's Day!")
    assert texts[("mothers-day", "mx")].startswith("¡Feliz Día de la Madre!")


# ---- circles targeting ----


def test_circles_targeting_reaches_each_circle_and_one_person():
    raw = _raw("circles-targeting")
    deliveries = socialsched.plan(_load("circles-targeting"), "2027-03-01", "2027-03-31")
    audiences = {c["name"]: c["audiences"] for c in raw["channel"]}
    in_circles = {
        s["name"] for s in raw["segment"] if {"customers", "partners"} & set(s.get("circles", []))
    }
    catalogue = [d for d in deliveries if d.post == "new-catalogue"]
    assert {d.segment for d in catalogue} == in_circles
    assert "press" not in in_circles and "lucia" not in in_circles
    for delivery in catalogue:
        assert delivery.channel == "page"
        assert str(delivery.audience) == audiences["page"][delivery.segment]
    (release,) = [d for d in deliveries if d.post == "press-release"]
    assert (release.segment, str(release.audience)) == ("press", "list:press")
    direct = [d for d in deliveries if d.channel == "dm"]
    assert len(direct) == 1
    (message,) = direct
    assert (message.segment, str(message.audience)) == ("lucia", "dm:@lucia.distribuciones")
    assert message.text.startswith("Lucía, gracias")
    assert message.utc == _utc(date(2027, 3, 3), time(12), "America/Mexico_City")
    assert all(d.segment != "lucia" for d in deliveries if d.channel != "dm")


# ---- service hours ----


def test_service_hours_in_each_markets_language_zone_and_working_days():
    raw = _raw("service-hours")
    start, end = date(2027, 3, 1), date(2027, 5, 31)
    deliveries = socialsched.plan(_load("service-hours"), start, end)
    words = {"es": "ayuda", "fr": "aide", "it": "aiuto", "en": "help"}
    languages = raw["calendar"]["vars"]["languages"]
    moved = 0
    for segment in raw["segment"]:
        mine = [d for d in deliveries if d.segment == segment["name"]]
        public = holidays.country_holidays(segment["country"], years=2027)
        expected_days = set()
        for day in _days(start, end):
            if day.weekday() == 0:
                moved += day in public
                if day in public:
                    day = _next_business_day(day, segment["country"])
                if day <= end:  # a plan keeps only deliveries whose local day is in range
                    expected_days.add(day)
        assert {d.utc for d in mine} == {
            _utc(day, time(9), segment["timezone"]) for day in expected_days
        }, segment["name"]
        hours = segment.get("vars", {})
        for delivery in mine:
            assert words[segment["locale"][:2]] in delivery.text
            if hours.get("always_open"):
                assert "24" in delivery.text and str(languages) in delivery.text
            else:
                assert hours["opens"] in delivery.text and hours["closes"] in delivery.text
                assert "24" not in delivery.text
    assert moved >= 3  # Easter Monday (FR, IT), Whit Monday (FR), Benito Juárez (MX)...


# ---- weekly cadence ----


def test_weekly_cadence_has_no_gap_and_lint_catches_the_silent_market(tmp_path):
    start, end = date(2027, 1, 1), date(2027, 12, 31)
    assert lint(RECIPES / "weekly-cadence" / "calendar.toml", start, end) == []

    broken = RECIPES / "weekly-cadence" / "silent-market.toml"
    limit = _raw("weekly-cadence", "silent-market.toml")["calendar"]["max_gap_days"]
    # France only gets the 1st of each month: every stretch between two of them is a gap.
    marks = [start - timedelta(days=1)]
    marks += [date(2027, m, 1) for m in range(1, 13)] + [end + timedelta(days=1)]
    expected = {
        ("fr-FR", a + timedelta(days=1), b - timedelta(days=1))
        for a, b in itertools.pairwise(marks)
        if (b - a).days - 1 > limit
    }
    found = set()
    for problem in lint(broken, start, end):
        assert problem.severity == "warning"
        match = re.search(r"segment '([^']+)' has no post from (\S+) to (\S+) ", problem.message)
        assert match, problem.message
        found.add((match[1], date.fromisoformat(match[2]), date.fromisoformat(match[3])))
    assert found == expected and len(expected) == 12

    result = CliRunner().invoke(
        main, ["lint", str(broken), "--start", str(start), "--end", str(end)]
    )
    assert result.exit_code == 0  # warnings only
    assert "'fr-FR' has no post" in result.output
    assert "'en-US'" not in result.output and "'es-MX'" not in result.output


# ---- crediting sources ----


def test_shared_posts_credit_their_source_in_the_markets_language():
    raw = _raw("crediting-sources")
    deliveries = socialsched.plan(_load("crediting-sources"), "2027-04-01", "2027-04-30")
    posts = {p["id"]: p["vars"] for p in raw["post"]}
    prefix = {"es-ES": "Vía ", "fr-FR": "Source : ", "en-US": "Via "}
    assert len(deliveries) == len(posts) * len(raw["segment"])
    for delivery in deliveries:
        source = posts[delivery.post]
        first, credit = delivery.text.split("\n")
        assert first == source["title"]
        assert credit.startswith(prefix[delivery.segment] + source["source_name"])
        assert source["source_handle"] in credit
        assert credit.endswith(source["source_url"])


def test_a_shared_post_without_its_source_fails_lint():
    calendar = _load("crediting-sources")
    post = calendar.posts[0]
    uncredited = attrs.evolve(post, vars={k: v for k, v in post.vars.items() if k != "source_url"})
    calendar = attrs.evolve(calendar, posts=(uncredited, *calendar.posts[1:]))
    problems = lint(calendar, date(2027, 4, 1), date(2027, 4, 30))
    errors = [p for p in problems if p.severity == "error"]
    assert errors and all("source_url" in p.message for p in errors)


# ---- a banner per language ----


def _by_locale(table: dict, locale: str):
    """The entry for `locale`: the full tag, then its language, then "default"."""
    for key in (locale, locale.split("-")[0], "default"):
        if key in table:
            return table[key]
    raise KeyError(locale)


def test_each_market_gets_the_banner_in_its_language_with_its_alt_text():
    folder = RECIPES / "banner-per-language"
    raw = _raw("banner-per-language")
    (post,) = raw["post"]
    locales = {s["name"]: s["locale"] for s in raw["segment"]}
    discount = str(raw["calendar"]["vars"]["discount"])
    deliveries = socialsched.plan(_load("banner-per-language"), "2027-03-16", "2027-03-16")
    assert sorted(d.segment for d in deliveries) == sorted(locales)
    used = set()
    for delivery in deliveries:
        locale = locales[delivery.segment]
        (item,) = _by_locale(post["media"], locale)
        alt = item["alt"] if isinstance(item["alt"], str) else _by_locale(item["alt"], locale)
        data = (folder / item["path"]).read_bytes()
        (media,) = delivery.media
        assert media.digest == hashlib.sha256(data).hexdigest() and media.read() == data
        assert media.alt == alt.replace("{{ vars.discount }}", discount)
        assert "{{" not in media.alt and discount in media.alt
        used.add(item["path"])
    assert len(used) == 3  # English, Spanish and French banners
    alts = {d.segment: d.media[0].alt for d in deliveries}
    assert alts["mexico"] != alts["madrid"] and alts["algiers"] == alts["paris"]


def test_the_banners_are_tiny_pngs_by_content():
    for image in (RECIPES / "banner-per-language" / "img").iterdir():
        data = image.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 5_000, image.name


def test_banner_page_shows_what_plan_prints_and_lint_says_of_a_missing_banner(
    tmp_path, monkeypatch
):
    page = (RECIPES / "banner-per-language" / "index.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```console\n\$ (.*?)\n(.*?)```", page, re.S)
    command, shown = block
    monkeypatch.chdir(RECIPES.parents[1])
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, command.split()[1:])
    assert result.exit_code == 0 and result.output == shown

    copy = tmp_path / "docs" / "recipes" / "banner-per-language"
    shutil.copytree(RECIPES / "banner-per-language", copy)
    (copy / "img" / "banner.fr.png").unlink()
    monkeypatch.chdir(tmp_path)
    (problem,) = lint(
        Path("docs/recipes/banner-per-language/calendar.toml"), date(2027, 3, 1), date(2027, 3, 31)
    )
    (documented,) = re.findall(r"```text\n(.*?)\n```", page, re.S)
    assert str(problem) == documented.replace("/...", str(copy.resolve()))


# ---- threads ----


def test_threads_split_only_where_the_channel_needs_it_each_part_fitting():
    raw = _raw("threads")
    limits = {c["name"]: c["settings"]["max_length"] for c in raw["channel"]}
    posts = {p["id"]: p for p in raw["post"]}
    deliveries = socialsched.plan(_load("threads"), "2027-04-01", "2027-04-10")
    assert len(deliveries) == len(posts) * len(limits)
    threads = 0
    for delivery in deliveries:
        post = posts[delivery.post]
        text, limit = post["text"].strip(), limits[delivery.channel]
        assert delivery.text == text
        if len(text) <= limit:
            assert delivery.parts == ()
            continue
        threads += 1
        parts = delivery.parts
        assert len(parts) >= 2 and all(len(part) <= limit for part in parts)
        if post.get("number_parts", True):
            for number, part in enumerate(parts, 1):
                assert part.endswith(f" {number}/{len(parts)}")
            parts = tuple(part.rsplit(" ", 1)[0] for part in parts)
        # No word lost, added or reordered, and every part ends a sentence.
        assert " ".join(parts).split() == text.split()
        assert all(part.endswith((".", "!", "?")) for part in parts)
    assert threads == 2  # both posts on the 200-character channel, neither on the forum
    release = next(d for d in deliveries if d.post == "release-3-0" and d.parts)
    assert release.media[0].alt == posts["release-3-0"]["media"][0]["alt"]
    shown = (RECIPES / "threads" / "release-parts.txt").read_text(encoding="utf-8")
    assert shown.strip().split("\n\n") == list(release.parts)


# ---- crisis pause (planning part; pausing is the runner's job) ----


def test_crisis_pause_tags_promotions_and_service_notices_apart():
    raw = _raw("crisis-pause")
    tags = {p["id"]: tuple(p.get("tags", [])) for p in raw["post"]}
    deliveries = socialsched.plan(_load("crisis-pause"), "2027-02-10", "2027-02-10")
    assert all(d.tags == tags[d.post] for d in deliveries)
    outage = [d for d in deliveries if d.segment == "es-MX"]
    mexico = "America/Mexico_City"
    assert {(d.post, d.utc) for d in outage if "service" in d.tags} == {
        ("outage-notice", _utc(date(2027, 2, 10), time(8), mexico)),
        ("outage-resolved", _utc(date(2027, 2, 10), time(11, 30), mexico)),
    }
    # What a pause of tag "promo" in es-MX would hold back, and what it would not touch.
    assert [d.post for d in outage if "promo" in d.tags] == ["daily-offer"]
    spain = [d for d in deliveries if d.segment == "es-ES"]
    assert [(d.post, d.tags) for d in spain] == [("daily-offer", ("promo",))]


# ---- crisis pause, for real: the store and the runner through the outage ----

MEXICO, MADRID = ZoneInfo("America/Mexico_City"), ZoneInfo("Europe/Madrid")


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _crisis_expectations() -> dict[tuple[str, str, date], datetime]:
    """(post, segment, local day) -> UTC instant, from the raw TOML and zoneinfo."""
    raw = _raw("crisis-pause")
    zones = {s["name"]: ZoneInfo(s["timezone"]) for s in raw["segment"]}
    countries = {s["name"]: s["country"] for s in raw["segment"]}
    expected = {}
    for day in (date(2027, 2, 10), date(2027, 2, 11)):
        for name in zones:
            # Ordinary weekdays in both countries, so nothing moves.
            assert day.weekday() < 5 and day not in holidays.country_holidays(countries[name])
        for post in raw["post"]:
            for name in post.get("segments", zones):
                if "schedule" in post:
                    minute, hour, *_ = post["schedule"].split()
                    at = time(int(hour), int(minute))
                elif day.isoformat() in post["dates"]:
                    at = time.fromisoformat(post["at"])
                else:
                    continue
                instant = datetime.combine(day, at, zones[name]).astimezone(UTC)
                expected[(post["id"], name, day)] = instant
    return expected


@pytest.mark.slow
def test_crisis_pause_holds_promotions_through_the_outage_and_resume_sends_them(tmp_path):
    import io

    from socialsched.adapters import ConsoleAdapter
    from socialsched.runner import Runner
    from socialsched.store import Store

    expected = _crisis_expectations()
    tags = {p["id"]: p.get("tags", []) for p in _raw("crisis-pause")["post"]}
    outage_start = datetime(2027, 2, 10, 7, tzinfo=MEXICO)  # the page: 7:00 to 11:00
    paused_at = (outage_start + timedelta(minutes=15)).astimezone(UTC)
    resumed_at = datetime(2027, 2, 10, 13, tzinfo=MEXICO).astimezone(UTC)
    promo_mx = expected[("daily-offer", "es-MX", date(2027, 2, 10))]
    # The Mexican offer falls inside the pause and is more than the 1-hour default
    # misfire grace behind when the pause is lifted: the case "not missed" is about.
    assert paused_at < promo_mx < resumed_at - timedelta(hours=1)

    clock = _Clock(datetime(2027, 2, 9, 12, tzinfo=UTC))
    printed = io.StringIO()
    published: dict[tuple[str, str, date], datetime] = {}
    with Store(tmp_path / "outbox.db", clock=clock) as store:
        result = schedule(store, _load("crisis-pause"), "2027-02-10", "2027-02-11")
        assert len(result.added) == len(expected)
        runner = Runner(
            store,
            worker="runner-1",
            adapters=lambda channel: ConsoleAdapter(channel, stream=printed),
            sleep=lambda seconds: None,
        )

        def run_until(end: datetime) -> None:
            # The runner polls every 5 minutes of the controlled clock.
            while clock.now <= end:
                runner.run_until_idle()
                for record in store.records("published"):
                    key = (record.post, record.segment, record.local.date())
                    published.setdefault(key, clock.now)
                clock.now += timedelta(minutes=5)

        run_until(paused_at - timedelta(minutes=5))
        paused = store.pause(segment="es-MX", tag="promo", reason="nationwide outage in Mexico")
        clock.now = paused_at
        in_mexico = [k for k in expected if k[1] == "es-MX" and "promo" in tags[k[0]]]
        assert paused == len(in_mexico) == 2

        run_until(resumed_at - timedelta(minutes=5))
        # While paused: every service notice went out on time, no Mexican promotion did,
        # and Spain's promotion was not touched.
        for key, instant in expected.items():
            if "service" in tags[key[0]] or key[1] == "es-ES":
                if instant < resumed_at:
                    assert published.get(key) == instant, key
            else:
                assert key not in published, key
        assert {r.post for r in store.records("paused")} == {"daily-offer"}

        clock.now = resumed_at
        assert store.resume(segment="es-MX", tag="promo") == 2
        run_until(datetime(2027, 2, 11, 23, tzinfo=UTC))

        # After resume: the overdue Mexican offer goes out at once, not missed; the
        # next day's goes out on time; so does everything else.
        assert published[("daily-offer", "es-MX", date(2027, 2, 10))] == resumed_at
        for key, instant in expected.items():
            if key != ("daily-offer", "es-MX", date(2027, 2, 10)):
                assert published[key] == instant, key
        assert set(published) == set(expected)
        assert store.status().counts["missed"] == 0
        pauses = [e for e in store.log(segment="es-MX") if e.to_state == "paused"]
        assert {e.reason for e in pauses} == {"nationwide outage in Mexico"}
    offer = _raw("crisis-pause")["post"][0]
    assert offer["id"] == "daily-offer"
    assert printed.getvalue().count(offer["text"]) == 4


# When each console block of the crisis-pause page's "Pause and resume" section ran.
CRISIS_SESSION_TIMES = [
    datetime(2027, 2, 9, 12, tzinfo=UTC),  # schedule
    datetime(2027, 2, 10, 7, 15, tzinfo=MEXICO).astimezone(UTC),  # pause
    datetime(2027, 2, 10, 13, tzinfo=MEXICO).astimezone(UTC),  # resume, log
]


def test_crisis_pause_page_sessions_are_what_the_commands_print(tmp_path, monkeypatch):
    import shlex

    import time_machine

    page = (RECIPES / "crisis-pause" / "index.md").read_text(encoding="utf-8")
    section = page[page.index("## Pause and resume") :]
    blocks = re.findall(r"```console\n(.*?)```", section, re.S)
    assert len(blocks) == len(CRISIS_SESSION_TIMES)
    prose = " ".join(section.split())
    monkeypatch.chdir(RECIPES.parents[1])
    for moment, block in zip(CRISIS_SESSION_TIMES, blocks, strict=True):
        local = moment.astimezone(MEXICO)
        said = f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"
        assert said in prose, said
        if moment.date() == date(2027, 2, 10):
            assert f"{said} ({local:%H:%M} in Mexico City)" in prose
        for session in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, shown = session.split("\n", 1)
            runner = CliRunner(env={"COLUMNS": "160", "SOCIALSCHED_DB": str(tmp_path / "s.db")})
            with time_machine.travel(moment, tick=False):
                result = runner.invoke(main, shlex.split(command)[1:])
            assert result.exit_code == 0, (command, result.output)
            assert result.output == shown, command
    # The pause and resume shown are the ones the runner test exercises.
    assert '--segment es-MX --tag promo --reason "nationwide outage in Mexico"' in blocks[1]
    assert "resume --segment es-MX --tag promo" in blocks[2]


# ---- calendar as code: lint and dry run on a pull request, schedule on merge ----

CODE = RECIPES / "calendar-as-code"


def test_calendar_as_code_pull_request_version_lints_clean():
    assert lint(CODE / "pull-request.toml", date(2027, 1, 1), date(2027, 12, 31)) == []
    assert (
        _raw("calendar-as-code")["calendar"]
        == _raw("calendar-as-code", "pull-request.toml")["calendar"]
    )


def test_calendar_as_code_workflow_runs_lint_and_dry_run_on_pull_requests_and_schedules_on_merge():
    import yaml
    from cli_commands import resolve, socialsched_commands

    workflow = yaml.safe_load((CODE / "calendar-workflow.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push", "schedule"}
    assert triggers["push"]["branches"] == ["main"]
    by_job = {}
    for name, job in workflow["jobs"].items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        by_job[name] = socialsched_commands(script)
        for args in by_job[name]:
            resolve(args)  # valid options and arguments for this version
        assert job["env"]["SOCIALSCHED_DB"] == "${{ secrets.SOCIALSCHED_DB }}"
    assert workflow["jobs"]["review"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["schedule"]["if"] == "github.event_name != 'pull_request'"
    review = [args for args in by_job["review"]]
    assert [args[0] for args in review] == ["lint", "schedule"]
    assert "--dry-run" in review[1]
    assert [args[0] for args in by_job["schedule"]] == ["lint", "schedule"]
    assert "--dry-run" not in by_job["schedule"][1]


def _console_sessions(page: str) -> list[tuple[str, str]]:
    sessions = []
    for block in re.findall(r"```console\n(.*?)```", page, re.S):
        for session in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, shown = session.split("\n", 1)
            sessions.append((command, shown))
    return sessions


def _local(day: str, clock: str, zone: str) -> str:
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M %z}"


def test_calendar_as_code_page_sessions_are_what_the_commands_print(tmp_path, monkeypatch):
    import shlex

    page = (CODE / "index.md").read_text(encoding="utf-8")
    sessions = _console_sessions(page)
    assert len(sessions) == 3
    monkeypatch.chdir(RECIPES.parents[1])
    runner = CliRunner(env={"SOCIALSCHED_DB": str(tmp_path / "s.db")})
    for command, shown in sessions:
        result = runner.invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
        assert result.output == shown, command
    # What the dry run lists, worked out from the two TOML files and zoneinfo: the
    # weekly tip's Tuesdays in the range move from 09:00 to 10:00 local time.
    zones = {s["name"]: s["timezone"] for s in _raw("calendar-as-code")["segment"]}
    dry_run = sessions[1][1]
    tuesdays = [
        d.isoformat() for d in _days(date(2027, 3, 15), date(2027, 3, 31)) if d.weekday() == 1
    ]
    for day in tuesdays:
        for name, zone in zones.items():
            assert (
                f"weekly-tip/{name}/social  {_local(day, '09:00', zone)} -> "
                f"{_local(day, '10:00', zone)}"
            ) in dry_run
    new = {p["id"]: p for p in _raw("calendar-as-code", "pull-request.toml")["post"]}
    old = {p["id"]: p for p in _raw("calendar-as-code")["post"]}
    assert f"+{new['spring-sale']['text']['es']}" in dry_run
    assert f"-{old['spring-sale']['text']['default']}" in dry_run
    assert dry_run.count("cancel  ") == 2 and "harvest-video/" in dry_run
    assert set(old) - set(new) == {"harvest-video"} and set(new) - set(old) == {"harvest-festival"}
    counts = f"2 added, {2 * len(tuesdays)} moved, 2 updated, 2 cancelled, 0 unchanged"
    assert dry_run.endswith(f"dry run: {counts}; nothing was changed\n")
    assert sessions[2][1] == counts + "\n"


# ---- one campaign on all twelve networks ----

NETWORK_ADAPTERS = {
    "mastodon",
    "bluesky",
    "matrix",
    "telegram",
    "slack",
    "discord",
    "email",
    "facebook",
    "instagram",
    "threads",
    "x",
    "linkedin",
}
# What each network counts a post's length in, and its limit: Bluesky counts graphemes
# (this text has no combining marks, so code points), X weighs a link as 23 and
# Latin letters as 1.
THREAD_LIMITS = {"bluesky": 300, "x": 280}
LINK = re.compile(r"https?://\S+")


def _x_weight(text: str) -> int:
    return len(LINK.sub("x" * 23, text))


def test_all_networks_recipe_names_every_network_adapter_socialsched_lists():
    raw = _raw("all-networks")
    assert {c["adapter"] for c in raw["channel"]} == NETWORK_ADAPTERS
    result = CliRunner().invoke(main, ["adapters", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row["package"] for row in json.loads(result.output)}
    for name in NETWORK_ADAPTERS:
        assert listed[name].startswith(f"socialsched-{name} "), (name, listed.get(name))
    assert {"console", "jsonl", "webhook"} <= set(listed)


def test_all_networks_campaign_reaches_each_market_at_ten_local_with_its_banner():
    folder = RECIPES / "all-networks"
    raw = _raw("all-networks")
    (post,) = raw["post"]
    (day,) = post["dates"]
    deliveries = socialsched.plan(_load("all-networks"), day, day)
    segments = {s["name"]: s for s in raw["segment"]}
    channels = {c["name"]: c["adapter"] for c in raw["channel"]}
    assert sorted((d.segment, d.channel) for d in deliveries) == sorted(
        itertools.product(segments, channels)
    )
    site = raw["calendar"]["vars"]["site"]
    for delivery in deliveries:
        segment = segments[delivery.segment]
        assert delivery.utc == _utc(date.fromisoformat(day), time(10), segment["timezone"])
        text = _by_locale(post["text"], segment["locale"]).strip()
        assert delivery.text == text.replace("{{ vars.site }}", site)
        (item,) = _by_locale(post["media"], segment["locale"])
        alt = (
            item["alt"]
            if isinstance(item["alt"], str)
            else _by_locale(item["alt"], segment["locale"])
        )
        source = folder / item["path"]
        (media,) = delivery.media
        assert media.alt == alt and Path(media.source) == source.resolve()
        if delivery.adapter == "instagram":
            # Instagram takes JPEG only: it gets the banner converted, same size.
            with Image.open(source) as original:
                assert media.mime_type == "image/jpeg"
                assert (media.width, media.height) == original.size
        else:
            assert media.digest == hashlib.sha256(source.read_bytes()).hexdigest()


def test_all_networks_campaign_is_a_thread_only_where_the_network_needs_one():
    deliveries = socialsched.plan(_load("all-networks"), "2027-04-06", "2027-04-06")
    for delivery in deliveries:
        limit = THREAD_LIMITS.get(delivery.adapter)
        if limit is None:
            assert delivery.parts == (), delivery.channel
            continue
        weigh = _x_weight if delivery.adapter == "x" else len
        assert weigh(delivery.text) > limit
        assert len(delivery.parts) >= 2
        assert all(weigh(part) <= limit for part in delivery.parts), delivery.parts
        words = [part.rsplit(" ", 1)[0] for part in delivery.parts]  # without "n/N"
        assert " ".join(words).split() == delivery.text.split()


def test_all_networks_recipe_lints_and_previews_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = os.path.relpath(RECIPES / "all-networks" / "calendar.toml", tmp_path)
    days = ["--start", "2027-04-06", "--end", "2027-04-06"]
    linted = CliRunner().invoke(main, ["lint", relative, *days])
    assert linted.exit_code == 0, linted.output
    assert "error" not in linted.output
    previewed = CliRunner().invoke(main, ["preview", relative, *days, "--html", "p.html"])
    assert previewed.exit_code == 0, previewed.output
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    raw = _raw("all-networks")
    uris = re.findall(r'<img src="(data:image/[a-z]+;base64,[^"]+)"', page)
    assert len(uris) == len(raw["segment"]) * len(raw["channel"])
    # The English and the French banner, each as drawn and as the JPEG Instagram gets.
    assert len(set(uris)) == 4
    fr = raw["post"][0]["media"]["fr"][0]["alt"]
    for alt in (fr["fr"], fr["fr-CA"]):
        assert f'alt="{html.escape(alt)}"' in page
