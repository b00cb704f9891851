"""Engagement reports as pure functions over observations: grouping (tuples of keys,
tags, local hours and week days in each segment's own zone), sums and medians, null
for counts no delivery has, and the table, JSON and CSV forms.

Expected values are computed here with `statistics.median`, zoneinfo and plain loops,
never with the report code.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialsched.adapters.engagement import COUNTS, Engagement
from socialsched.analytics.reports import (
    BY,
    Observation,
    check_by,
    in_range,
    report,
    to_csv,
    to_json,
    to_table,
)

ZONES = {"madrid": "Europe/Madrid", "new-york": "America/New_York", "tokyo": "Asia/Tokyo"}
COUNTRIES = {"madrid": "ES", "new-york": "US", "tokyo": "JP"}
LOCALES = {"madrid": "es-ES", "new-york": "en-US", "tokyo": "ja-JP"}
T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def observe(
    n: int,
    segment: str = "madrid",
    at: datetime = T0,
    channel: str = "mastodon",
    post: str = "p",
    tags: tuple[str, ...] = (),
    **counts: int | None,
) -> Observation:
    return Observation(
        delivery_id=f"d{n}",
        post=post,
        segment=segment,
        locale=LOCALES[segment],
        country=COUNTRIES[segment],
        channel=channel,
        tags=tags,
        utc=at,
        local=at.astimezone(ZoneInfo(ZONES[segment])),
        published_at=at,
        **counts,
    )


def test_by_segment_sums_and_medians_over_deliveries_that_have_each_count():
    found = [
        observe(1, "madrid", likes=3, reposts=1, views=None),
        observe(2, "madrid", likes=10, reposts=None),
        observe(3, "madrid", likes=4, reposts=5),
        observe(4, "new-york", likes=7),
    ]
    groups = {g.keys: g.to_dict() for g in report(found, ["segment"])}
    madrid = groups[("madrid",)]
    assert madrid["deliveries"] == 3
    assert madrid["likes"] == {"sum": 17, "median": float(statistics.median([3, 10, 4]))}
    assert madrid["reposts"] == {"sum": 6, "median": float(statistics.median([1, 5]))}
    # No delivery of the group has views: null, not 0.
    assert madrid["views"] is None
    assert groups[("new-york",)]["reposts"] is None


def test_several_by_group_by_the_tuple_and_sort_weekdays_in_week_order():
    # Sunday, Monday and Wednesday in Madrid, on two channels.
    days = [T0 - timedelta(days=1), T0, T0 + timedelta(days=2)]
    found = [
        observe(i * 2 + j, at=day, channel=channel, likes=i + j)
        for i, day in enumerate(days)
        for j, channel in enumerate(("bluesky", "mastodon"))
    ]
    groups = report(found, ["weekday", "channel"])
    expected = sorted(
        {
            (("mon", "tue", "wed", "thu", "fri", "sat", "sun")[o.local.weekday()], o.channel)
            for o in found
        },
        key=lambda key: (("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(key[0]), key[1]),
    )
    assert [g.keys for g in groups] == expected
    assert all(g.deliveries == 1 for g in groups)


def test_a_delivery_with_several_tags_counts_in_each_tags_group():
    found = [
        observe(1, tags=("launch", "promo"), likes=5),
        observe(2, tags=("promo",), likes=1),
        observe(3, tags=(), likes=2),
    ]
    groups = {g.keys: g for g in report(found, ["tag"])}
    assert set(groups) == {("launch",), ("promo",), (None,)}
    assert groups[("promo",)].deliveries == 2
    assert groups[("promo",)].to_dict()["likes"] == {"sum": 6, "median": 3.0}
    assert groups[("launch",)].deliveries == 1
    # Untagged deliveries: the null tag, listed last.
    assert report(found, ["tag"])[-1].keys == (None,)


def test_local_hour_and_weekday_are_each_segments_own():
    # The same UTC instant: a different local hour (and here a different day) per zone.
    at = datetime(2027, 3, 7, 20, 30, tzinfo=UTC)  # a Sunday evening in UTC
    found = [observe(1, "madrid", at=at), observe(2, "tokyo", at=at)]
    groups = {g.keys for g in report(found, ["segment", "weekday", "local_hour"])}
    expected = set()
    for name in ("madrid", "tokyo"):
        local = at.astimezone(ZoneInfo(ZONES[name]))
        expected.add(
            (name, ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][local.weekday()], local.hour)
        )
    assert groups == expected
    assert len({key[2] for key in groups}) == 2


def test_every_by_key_groups_by_the_observations_own_value():
    found = [observe(1, "madrid", likes=1), observe(2, "new-york", post="q", likes=2)]
    for name in ("segment", "locale", "country", "channel", "post"):
        keys = {g.keys[0] for g in report(found, [name])}
        assert keys == {getattr(o, name) for o in found}


def test_check_by_refuses_unknown_repeated_and_empty_groupings():
    assert check_by(["segment", "tag"]) == ("segment", "tag")
    for bad in ([], ["market"], ["segment", "segment"]):
        with pytest.raises(ValueError):
            check_by(bad)


def test_in_range_takes_since_inclusive_until_exclusive_on_the_publication_time():
    found = [observe(i, at=T0 + timedelta(hours=i)) for i in range(4)]
    kept = in_range(found, T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert [o.delivery_id for o in kept] == ["d1", "d2"]


def test_observation_refuses_naive_times_and_bad_counts():
    with pytest.raises(ValueError):
        observe(1, at=datetime(2027, 1, 1, 9))
    with pytest.raises(ValueError):
        observe(1, likes=-1)
    with pytest.raises(ValueError):
        observe(1, likes=True)


def test_observation_of_takes_the_engagement_counts():
    engagement = Engagement(fetched_at=T0, likes=4, replies=0)
    made = Observation.of(
        engagement,
        delivery_id="d",
        post="p",
        segment="madrid",
        locale="es-ES",
        country="ES",
        channel="c",
        tags=["a"],
        utc=T0,
        local=T0.astimezone(ZoneInfo("Europe/Madrid")),
    )
    assert made.counts() == engagement.counts()
    assert made.when == T0


def test_json_has_keys_deliveries_and_every_count():
    groups = report([observe(1, likes=2, views=40)], ["segment", "local_hour"])
    data = json.loads(to_json(groups))
    local = T0.astimezone(ZoneInfo("Europe/Madrid"))
    assert data == [
        {
            "segment": "madrid",
            "local_hour": local.hour,
            "deliveries": 1,
            "likes": {"sum": 2, "median": 2.0},
            "reposts": None,
            "replies": None,
            "quotes": None,
            "views": {"sum": 40, "median": 40.0},
            "clicks": None,
        }
    ]


def test_csv_has_a_header_and_empty_cells_for_missing_counts():
    found = [observe(1, likes=2), observe(2, "new-york", likes=3, replies=1)]
    rows = list(csv.DictReader(io.StringIO(to_csv(report(found, ["segment"]), ["segment"]))))
    assert [row["segment"] for row in rows] == ["madrid", "new-york"]
    assert rows[0]["replies_sum"] == "" and rows[0]["replies_median"] == ""
    assert rows[1]["replies_sum"] == "1" and rows[1]["likes_median"] == "3"
    assert set(rows[0]) == {"segment", "deliveries"} | {
        f"{name}_{part}" for name in COUNTS for part in ("sum", "median")
    }


def test_table_is_aligned_and_shows_only_counts_some_group_has():
    found = [observe(1, likes=2), observe(2, "new-york", likes=1234, replies=5)]
    lines = to_table(report(found, ["segment"]), ["segment"]).splitlines()
    assert lines[0].split() == [
        "segment",
        "deliveries",
        "likes",
        "likes",
        "median",
        "replies",
        "replies",
        "median",
    ]
    # Numbers are right-aligned: each column ends at the same place on every line.
    ends = [line.rstrip().rindex(line.split()[-1]) + len(line.split()[-1]) for line in lines]
    assert len(set(ends)) == 1
    assert lines[1].split()[-2:] == ["-", "-"]  # madrid has no replies


counts_strategy = st.one_of(st.none(), st.integers(min_value=0, max_value=10_000))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(ZONES)),
            st.integers(min_value=0, max_value=24 * 14),
            st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True),
            st.tuples(*[counts_strategy] * len(COUNTS)),
        ),
        max_size=25,
    ),
    st.lists(st.sampled_from(BY), min_size=1, max_size=3, unique=True),
)
def test_property_groups_partition_deliveries_and_stats_match_an_independent_count(rows, by):
    found = [
        observe(
            n,
            segment,
            at=T0 + timedelta(hours=hours),
            tags=tuple(tags),
            **dict(zip(COUNTS, values, strict=True)),
        )
        for n, (segment, hours, tags, values) in enumerate(rows)
    ]
    groups = report(found, by)
    weekdays = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

    def values(o: Observation, name: str) -> list:
        if name == "tag":
            return list(o.tags) or [None]
        if name == "local_hour":
            return [o.local.hour]
        if name == "weekday":
            return [weekdays[o.local.weekday()]]
        return [getattr(o, name)]

    for group in groups:
        members = [
            o
            for o in found
            if all(k in values(o, name) for name, k in zip(by, group.keys, strict=True))
        ]
        assert group.deliveries == len(members) > 0
        for name in COUNTS:
            given_values = [getattr(o, name) for o in members if getattr(o, name) is not None]
            shown = group.to_dict()[name]
            if not given_values:
                assert shown is None
            else:
                assert shown == {
                    "sum": sum(given_values),
                    "median": float(statistics.median(given_values)),
                }
    # Without tags in the key, every delivery is in exactly one group.
    if "tag" not in by:
        assert sum(g.deliveries for g in groups) == len(found)
