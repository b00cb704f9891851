"""Finite series: `count`, `skip` and `[[post.occurrence]]` on a `schedule` post.

Expected days and instants come from plain date arithmetic, zoneinfo and the
holidays package, never from socialsched.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import socialsched
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.calendar.occurrences import Occurrence
from socialsched.errors import CalendarError
from socialsched.planning.planner import Planner

LONDON = Segment(name="uk", locale="en-GB", timezone="Europe/London", country="GB")
NEW_YORK = Segment(name="us", locale="en-US", timezone="America/New_York", country="US")
PARIS = Segment(name="fr", locale="fr-FR", timezone="Europe/Paris", country="FR")
CHANNELS = [Channel(name="main", adapter="console"), Channel(name="extra", adapter="console")]
WIDE = ("2026-12-01", "2027-12-31")


def calendar(*posts: Post, segments=(LONDON, NEW_YORK)) -> Calendar:
    return Calendar(segments=list(segments), channels=CHANNELS, posts=list(posts), name="s")


def weekly(day: date, weeks: int) -> list[date]:
    return [day + timedelta(weeks=n) for n in range(weeks)]


def utc(day: date, clock: time, zone: str) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def planned(cal: Calendar, channel: str = "main", post: str | None = None):
    return [
        d
        for d in socialsched.plan(cal, *WIDE)
        if d.channel == channel and (post is None or d.post == post)
    ]


def test_count_gives_n_weekly_occurrences_per_segment_across_dst_changes():
    # 2027: New York springs forward on 14 March, London on 28 March.
    first = date(2027, 3, 7)
    post = Post(id="s", text="hi", schedule="30 9 * * sun", start=first, count=5)
    deliveries = planned(calendar(post))
    days = weekly(first, 5)
    for segment, zone in (("uk", "Europe/London"), ("us", "America/New_York")):
        mine = sorted(d.utc for d in deliveries if d.segment == segment)
        assert mine == [utc(day, time(9, 30), zone) for day in days]
    offsets = {d.local.utcoffset() for d in deliveries if d.segment == "us"}
    assert offsets == {timedelta(hours=-5), timedelta(hours=-4)}


def test_count_and_end_stop_at_whichever_comes_first():
    first = date(2027, 1, 4)
    short_end = first + timedelta(weeks=2)
    by_end = Post(id="a", text="a", schedule="0 9 * * mon", start=first, end=short_end, count=6)
    by_count = Post(
        id="b", text="b", schedule="0 9 * * mon", start=first, end="2027-12-31", count=3
    )
    cal = calendar(by_end, by_count, segments=(LONDON,))
    assert [d.local.date() for d in planned(cal, post="a")] == weekly(first, 3)
    assert [d.local.date() for d in planned(cal, post="b")] == weekly(first, 3)


def test_count_counts_each_cron_time_of_a_day():
    first = date(2027, 1, 4)
    post = Post(id="p", text="p", schedule="0 9,17 * * mon", start=first, count=3)
    got = [d.local.replace(tzinfo=None) for d in planned(calendar(post, segments=(LONDON,)))]
    assert got == [
        datetime.combine(first, time(9)),
        datetime.combine(first, time(17)),
        datetime.combine(first + timedelta(weeks=1), time(9)),
    ]


def test_a_skipped_date_still_counts_towards_count():
    first = date(2027, 1, 4)
    skipped = first + timedelta(weeks=2)
    post = Post(id="p", text="p", schedule="0 9 * * mon", start=first, count=6, skip=[skipped])
    got = [d.local.date() for d in planned(calendar(post, segments=(LONDON,)))]
    assert got == [day for day in weekly(first, 6) if day != skipped]


def test_occurrences_on_skip_holidays_count_too():
    first = date(2027, 1, 4)
    us_holidays = holidays.country_holidays("US", years=2027)
    post = Post(id="p", text="p", schedule="0 9 * * mon", start=first, count=6, on_holiday="skip")
    got = [d.local.date() for d in planned(calendar(post, segments=(NEW_YORK,)))]
    expected = [day for day in weekly(first, 6) if day not in us_holidays]
    assert len(expected) == 5  # Martin Luther King Jr. Day, 18 January 2027
    assert got == expected


def test_the_last_counted_occurrence_moved_off_a_holiday_still_goes_out():
    first = date(2027, 1, 4)
    us_holidays = holidays.country_holidays("US", years=2027)
    post = Post(
        id="p", text="p", schedule="0 9 * * mon", start=first, count=3,
        on_holiday="next_business_day",
    )  # fmt: skip
    got = [d.local.date() for d in planned(calendar(post, segments=(NEW_YORK,)))]
    expected = []
    for day in weekly(first, 3):
        while day in us_holidays or day.weekday() >= 5:
            day += timedelta(days=1)
        expected.append(day)
    assert expected[-1] != weekly(first, 3)[-1]  # MLK Day, 18 January, moved to the 19th
    assert got == expected


def test_changing_one_occurrence_keeps_every_delivery_id():
    first = date(2027, 1, 4)
    changed = first + timedelta(weeks=3)
    base = Post(
        id="p", text="Class on {{ when|date }}", schedule="0 9 * * mon", start=first, count=6
    )
    before = {
        (d.segment, d.channel, d.local.date()): d for d in socialsched.plan(calendar(base), *WIDE)
    }
    edit = Occurrence(date=changed, at="11:15", text="Moved class")
    after_cal = calendar(Post(**{**_fields(base), "occurrence": [edit]}))
    after = {(d.segment, d.channel, d.local.date()): d for d in socialsched.plan(after_cal, *WIDE)}
    assert set(after) == set(before) and len(after) == 2 * 2 * 6
    for key, delivery in after.items():
        assert delivery.id == before[key].id
        if key[2] == changed:
            zone = "Europe/London" if key[0] == "uk" else "America/New_York"
            assert delivery.utc == utc(changed, time(11, 15), zone)
            assert delivery.text == "Moved class"
        else:
            assert (delivery.utc, delivery.text) == (before[key].utc, before[key].text)


def _fields(post: Post) -> dict:
    return {
        "id": post.id,
        "text": post.text,
        "schedule": post.schedule,
        "start": post.start,
        "count": post.count,
    }


def test_occurrence_text_per_locale_and_channels():
    first = date(2027, 1, 4)
    changed = first + timedelta(weeks=1)
    post = Post(
        id="p",
        text={"default": "Weekly", "fr": "Hebdo"},
        schedule="0 9 * * mon",
        start=first,
        count=3,
        channels=["main"],
        occurrence=[
            {"date": changed, "text": {"default": "Special", "fr": "Spécial"}, "channels": "extra"}
        ],
    )
    deliveries = socialsched.plan(calendar(post, segments=(LONDON, PARIS)), *WIDE)
    got = {(d.segment, d.channel, d.local.date()): d.text for d in deliveries}
    expected = {}
    for day in weekly(first, 3):
        channel = "extra" if day == changed else "main"
        for segment, plain, special in (("uk", "Weekly", "Special"), ("fr", "Hebdo", "Spécial")):
            expected[segment, channel, day] = special if day == changed else plain
    assert got == expected


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 40), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_occurrence_media_replaces_the_posts_for_that_occurrence(tmp_path: Path):
    files = {"weekly.png": png((0, 80, 200)), "final.png": png((200, 0, 0))}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "calendar.toml").write_text(
        textwrap.dedent(
            """
            [[segment]]
            name = "uk"
            locale = "en-GB"
            timezone = "Europe/London"
            country = "GB"

            [[channel]]
            name = "main"
            adapter = "console"

            [[post]]
            id = "p"
            text = "Class"
            schedule = "0 9 * * mon"
            start = 2027-01-04
            count = 3
            media = [{ path = "weekly.png", alt = "Our weekly class" }]

            [[post.occurrence]]
            date = 2027-01-18
            media = [{ path = "final.png", alt = "The last class" }]
            """
        ),
        encoding="utf-8",
    )
    deliveries = socialsched.plan(socialsched.load(tmp_path / "calendar.toml"), *WIDE)
    got = {d.local.date(): (d.media[0].digest, d.media[0].alt) for d in deliveries}
    weekly_media = (hashlib.sha256(files["weekly.png"]).hexdigest(), "Our weekly class")
    final_media = (hashlib.sha256(files["final.png"]).hexdigest(), "The last class")
    assert got == {
        date(2027, 1, 4): weekly_media,
        date(2027, 1, 11): weekly_media,
        date(2027, 1, 18): final_media,
    }


def test_changed_time_still_follows_quiet_hours():
    first = date(2027, 1, 4)
    quiet = Segment(
        name="uk", locale="en-GB", timezone="Europe/London", country="GB",
        quiet_hours=["22:00-08:00"],
    )  # fmt: skip
    post = Post(
        id="p", text="p", schedule="0 9 * * mon", start=first, count=2,
        occurrence=[Occurrence(date=first, at="23:00")],
    )  # fmt: skip
    got = [d.local.replace(tzinfo=None) for d in planned(calendar(post, segments=(quiet,)))]
    assert got == [
        datetime.combine(first + timedelta(days=1), time(8)),
        datetime.combine(first + timedelta(weeks=1), time(9)),
    ]


def test_planner_caches_do_not_mix_a_changed_text_with_the_posts():
    first = date(2027, 1, 4)
    post = Post(
        id="p", text="Weekly {{ segment.name }}", schedule="0 9 * * mon", start=first, count=4,
        occurrence=[{"date": first + timedelta(weeks=1), "text": "One {{ segment.name }}"},
                    {"date": first + timedelta(weeks=2), "text": "Two {{ segment.name }}"}],
    )  # fmt: skip
    planner = Planner(calendar(post, segments=(LONDON,)))
    for _ in range(2):  # a second plan with the same planner: its caches are warm
        plan = planner.plan(*WIDE)
        texts = [d.text for d in plan if d.channel == "main"]
        assert texts == ["Weekly uk", "One uk", "Two uk", "Weekly uk"]
        # One route per post, segment and channel, changed occurrences merged in.
        routes = [(r.post, r.segment, r.channel) for r in plan.routes]
        assert sorted(routes) == [("p", "uk", "extra"), ("p", "uk", "main")]
        assert [d.utc for d in plan] == sorted(d.utc for d in plan)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dates": ["2027-01-05"], "at": "09:00", "count": 2}, "count goes only with schedule"),
        ({"dates": ["2027-01-05"], "at": "09:00", "skip": ["2027-01-05"]}, "skip goes only"),
        ({"schedule": "0 9 * * mon", "count": 2}, "count needs start"),
        ({"schedule": "0 9 * * mon", "start": "2027-01-04", "count": 0}, "count = 0"),
        ({"schedule": "0 9 * * mon", "start": "2027-01-04", "count": True}, "count = True"),
        (
            {"schedule": "0 9 * * mon", "start": "2027-01-04", "skip": ["2027-01-05"]},
            "skip date 2027-01-05 (Tuesday) is not an occurrence",
        ),
        (
            {
                "schedule": "0 9 * * mon",
                "start": "2027-01-04",
                "count": 2,
                "occurrence": [{"date": "2027-01-18", "text": "late"}],
            },
            "occurrence date 2027-01-18 (Monday) is not an occurrence",
        ),
        (
            {
                "schedule": "0 9 * * mon",
                "start": "2027-01-04",
                "occurrence": [{"date": "2027-01-04", "at": "10:00"}, {"date": "2027-01-04"}],
            },
            "a second [[post.occurrence]] for 2027-01-04",
        ),
        (
            {
                "schedule": "0 9,17 * * mon",
                "start": "2027-01-04",
                "occurrence": [{"date": "2027-01-04", "at": "10:00"}],
            },
            "the schedule gives 09:00, 17:00 that day",
        ),
        (
            {
                "schedule": "0 9 * * mon",
                "skip": ["2027-01-04"],
                "occurrence": [{"date": "2027-01-04", "text": "x"}],
            },
            "also in skip",
        ),
        (
            {"schedule": "0 9 * * mon", "occurrence": [{"date": "2027-01-04", "channels": []}]},
            "channels must name at least one channel",
        ),
    ],
)
def test_impossible_series_are_refused(fields, message):
    with pytest.raises(ValueError, match=_escaped(message)):
        Post(id="p", text="p", **fields)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_an_occurrence_naming_an_unknown_channel_is_refused():
    post = Post(
        id="p", text="p", schedule="0 9 * * mon",
        occurrence=[{"date": "2027-01-04", "channels": ["nope"]}],
    )  # fmt: skip
    with pytest.raises(CalendarError, match="occurrence 2027-01-04 names unknown channel 'nope'"):
        calendar(post)


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=30),
    skipped=st.sets(st.integers(min_value=0, max_value=40), max_size=6),
    weekday=st.integers(min_value=0, max_value=6),
)
def test_a_weekly_series_has_count_minus_its_skips(count, skipped, weekday):
    start = date(2027, 1, 1)
    first = start + timedelta(days=(weekday - start.weekday()) % 7)
    days = weekly(first, count)
    skip = [days[n] for n in skipped if n < count]
    cron_day = (weekday + 1) % 7  # cron: 0 is Sunday
    post = Post(
        id="p", text="p", schedule=f"0 12 * * {cron_day}", start=start, count=count, skip=skip
    )
    got = [d.local.date() for d in planned(calendar(post, segments=(LONDON,)))]
    assert got == [day for day in days if day not in skip]


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=12),
    which=st.integers(min_value=0, max_value=11),
    minutes=st.one_of(st.none(), st.integers(min_value=0, max_value=23 * 60 + 59)),
    text=st.one_of(st.none(), st.text(alphabet="abc xyz", min_size=1, max_size=12)),
    channels=st.sampled_from([None, ("main",), ("extra",), ("main", "extra")]),
)
def test_changing_any_one_occurrence_changes_only_its_deliveries(
    count, which, minutes, text, channels
):
    first = date(2027, 3, 2)  # Tuesdays, across both DST changes of the two zones
    changed = first + timedelta(weeks=which % count)
    at = None if minutes is None else time(minutes // 60, minutes % 60)
    fields = {"id": "p", "text": "Tuesday {{ when|date }}", "schedule": "15 8 * * tue"}
    base = Post(**fields, start=first, count=count)
    change = Occurrence(date=changed, at=at, text=text.strip() or None if text else None,
                        channels=channels)  # fmt: skip
    edited = Post(**fields, start=first, count=count, occurrence=[change])
    before = {(d.segment, d.channel, d.id): d for d in socialsched.plan(calendar(base), *WIDE)}
    after = {(d.segment, d.channel, d.id): d for d in socialsched.plan(calendar(edited), *WIDE)}
    kept = {key for key, d in before.items() if d.local.date() != changed}
    assert {key for key, d in after.items() if d.local.date() != changed} == kept
    assert all(after[key] == before[key] for key in kept)
    zones = {"uk": "Europe/London", "us": "America/New_York"}
    on_changed = {key: d for key, d in after.items() if d.local.date() == changed}
    wanted = channels or ("main", "extra")
    assert sorted(key[:2] for key in on_changed) == sorted(
        (segment, channel) for segment in zones for channel in wanted
    )
    for (segment, _, _), delivery in on_changed.items():
        clock = at or time(8, 15)
        assert delivery.utc == utc(changed, clock, zones[segment])
        if change.text is not None:
            assert delivery.text == change.text
    # Ids on the changed date are those of the same (segment, channel) before.
    ids_before = {key for key, d in before.items() if d.local.date() == changed}
    assert {key for key in ids_before if key[1] in wanted} == set(on_changed)
