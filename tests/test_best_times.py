"""Best times as pure functions over observations: the score, the hour slots in each
segment's zone, thin data proposing nothing, and the text, JSON and TOML forms (the
TOML loads as `[[queue]]` tables of a calendar).

Expected values come from statistics and zoneinfo here, not from the code under test.
"""

from __future__ import annotations

import json
import statistics
import tomllib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import socialsched
from socialsched.analytics.best_times import score, suggest, to_json, to_text, to_toml
from socialsched.analytics.report_html import render_report_html
from socialsched.analytics.reports import Observation

ZONES = {"madrid": "Europe/Madrid", "new-york": "America/New_York"}
DAY = datetime(2027, 3, 1, tzinfo=UTC)


def observe(n: int, segment: str, at: datetime, channel: str = "feed", **counts) -> Observation:
    return Observation(
        delivery_id=f"d{n}",
        post="p",
        segment=segment,
        locale="es-ES",
        country="ES",
        channel=channel,
        tags=(),
        utc=at,
        local=at.astimezone(ZoneInfo(ZONES[segment])),
        published_at=at,
        **counts,
    )


def _week(segment: str, utc_hours: dict[int, list[int]], channel: str = "feed") -> list:
    found = []
    for hour, likes in utc_hours.items():
        for day, value in enumerate(likes):
            at = DAY + timedelta(days=day, hours=hour)
            found.append(observe(len(found) + hour * 100, segment, at, channel, likes=value))
    return found


def test_score_adds_the_four_reactions_the_network_gives():
    at = DAY
    assert (
        score(observe(1, "madrid", at, likes=3, reposts=2, replies=None, quotes=1, views=900)) == 6
    )
    assert score(observe(1, "madrid", at, views=900, clicks=3)) is None
    assert score(observe(1, "madrid", at, likes=0)) == 0


def test_best_hours_are_local_hours_with_the_highest_median_and_enough_samples():
    data = {8: [1, 2, 3, 4, 5], 12: [10, 20, 30, 40, 50], 17: [7, 7, 100, 7, 7], 20: [99] * 4}
    found = suggest(_week("madrid", data), ["madrid"], min_samples=5, top=2)[0]
    local = {
        hour: (DAY + timedelta(hours=hour)).astimezone(ZoneInfo("Europe/Madrid")).hour
        for hour in data
    }
    eligible = {h: v for h, v in data.items() if len(v) >= 5}
    best = sorted(eligible, key=lambda h: -statistics.median(eligible[h]))[:2]
    assert [(s.hour, s.median, s.samples) for s in found.slots] == [
        (local[h], float(statistics.median(data[h])), len(data[h])) for h in best
    ]
    assert found.scored == sum(map(len, data.values()))
    assert found.note is None


def test_thin_data_proposes_nothing_and_says_why():
    found = suggest(_week("madrid", {9: [5, 6]}), ["madrid", "new-york"], min_samples=3)
    assert found[0].slots == () and "need 3" in (found[0].note or "")
    assert found[1].slots == () and found[1].note == "no engagement recorded for segment new-york"
    text = to_text(found)
    assert "madrid: nothing proposed: too little data: 2 scored deliveries" in text
    assert "new-york: nothing proposed" in text


def test_channel_narrows_the_data():
    data = _week("madrid", {9: [1] * 5}, channel="a") + _week("madrid", {18: [9] * 5}, channel="b")
    only_a = suggest(data, ["madrid"], channel="a", min_samples=5)[0]
    assert [s.hour for s in only_a.slots] == [
        (DAY + timedelta(hours=9)).astimezone(ZoneInfo("Europe/Madrid")).hour
    ]
    assert only_a.queue_name == "best-madrid-a"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        suggest([], ["madrid"], min_samples=0)
    with pytest.raises(ValueError):
        suggest([], ["madrid"], top=0)


def test_json_and_text_show_time_median_and_samples():
    found = suggest(_week("madrid", {7: [4, 6, 8]}), ["madrid"], min_samples=3)
    data = json.loads(to_json(found))
    hour = (DAY + timedelta(hours=7)).astimezone(ZoneInfo("Europe/Madrid")).hour
    assert data == [
        {
            "segment": "madrid",
            "channel": None,
            "deliveries": 3,
            "times": [{"time": f"{hour:02d}:00", "median": 6.0, "samples": 3}],
            "note": None,
        }
    ]
    assert f"{hour:02d}:00  median 6  (3 deliveries)" in to_text(found)


def test_toml_is_queue_tables_a_calendar_loads(tmp_path):
    data = _week("madrid", {7: [4, 6, 8], 16: [1, 1, 1]}) + _week("new-york", {13: [2, 2]})
    found = suggest(data, ["madrid", "new-york"], min_samples=3)
    text = to_toml(found)
    parsed = tomllib.loads(text)
    madrid_hours = sorted(
        (DAY + timedelta(hours=h)).astimezone(ZoneInfo("Europe/Madrid")).hour for h in (7, 16)
    )
    assert parsed == {
        "queue": [{"name": "best-madrid", "times": [f"{h:02d}:00" for h in madrid_hours]}]
    }
    assert "# new-york: nothing proposed" in text
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(
        '[calendar]\nname = "c"\n\n[[segment]]\nname = "madrid"\nlocale = "es-ES"\n'
        'timezone = "Europe/Madrid"\ncountry = "ES"\n\n[[channel]]\nname = "feed"\n'
        'adapter = "console"\n\n'
        + text
        + '\n[[post]]\nid = "p"\nqueue = "best-madrid"\ntext = "Hola"\n',
        encoding="utf-8",
    )
    loaded = socialsched.load(calendar)
    assert [(q.name, [t.strftime("%H:%M") for t in q.times]) for q in loaded.queues] == [
        ("best-madrid", [f"{h:02d}:00" for h in madrid_hours])
    ]


# ---- the HTML page, without a browser ----


def test_html_page_escapes_names_and_fetches_nothing():
    at = DAY + timedelta(hours=9)
    page = render_report_html(
        [observe(1, "madrid", at, channel="<script>x</script>", likes=3)], title="A & B"
    )
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "http://" not in page and "https://" not in page
    assert "<title>A &amp; B</title>" in page


def test_html_page_of_nothing_says_so():
    page = render_report_html([])
    assert "No engagement recorded yet." in page
    assert 'data-deliveries="0"' in page


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(ZONES)),
            st.integers(min_value=0, max_value=24 * 10),
            st.one_of(st.none(), st.integers(min_value=0, max_value=50)),
            st.one_of(st.none(), st.integers(min_value=0, max_value=50)),
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=4),
)
def test_property_proposals_are_the_best_eligible_local_hours(rows, min_samples, top):
    found = [
        observe(n, segment, DAY + timedelta(hours=hours), likes=likes, replies=replies)
        for n, (segment, hours, likes, replies) in enumerate(rows)
    ]
    for suggestion in suggest(found, sorted(ZONES), min_samples=min_samples, top=top):
        by_hour: dict[int, list[int]] = {}
        for o in found:
            if o.segment == suggestion.segment and (o.likes, o.replies) != (None, None):
                local = o.utc.astimezone(ZoneInfo(ZONES[o.segment]))
                by_hour.setdefault(local.hour, []).append((o.likes or 0) + (o.replies or 0))
        eligible = {
            h: float(statistics.median(v)) for h, v in by_hour.items() if len(v) >= min_samples
        }
        ranked = sorted(eligible, key=lambda h: (-eligible[h], -len(by_hour[h]), h))[:top]
        assert [s.hour for s in suggestion.slots] == ranked
        assert [s.samples for s in suggestion.slots] == [len(by_hour[h]) for h in ranked]
        assert suggestion.scored == sum(map(len, by_hour.values()))
        assert (suggestion.note is None) == bool(ranked)
