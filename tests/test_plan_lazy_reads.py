"""Fast reads of a plan: deliveries built lazily from the plan's columns equal those built
with every field at once; dates and times formatted once per locale, format and value
equal babel's; texts that change with each delivery are rendered for each one."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import attrs
import babel.dates
import pytest

from socialsched import Calendar, Channel, Planner, Post, Segment
from socialsched.calendar.model import Delivery
from socialsched.planning.plans import delivery_id
from socialsched.planning.render import FORMATTED_CACHE_SIZE, Renderer, babel_locale

# DST changes on both hemispheres (New York in March and November, Lord Howe's
# half-hour in April and October), +05:45 and a zone without DST.
ZONES = {
    "ny": ("America/New_York", "US", "en-US"),
    "lhi": ("Australia/Lord_Howe", "AU", "en-AU"),
    "ktm": ("Asia/Kathmandu", "NP", "ne-NP"),
    "paris": ("Europe/Paris", "FR", "fr-FR"),
}


def calendar(text: object = "{{ segment.name }} at {{ when|time('short') }}") -> Calendar:
    segments = [
        Segment(name=f"{name}{n}", locale=locale, timezone=zone, country=country)
        for name, (zone, country, locale) in ZONES.items()
        for n in range(2)
    ]
    posts = [
        Post(id="night", text=text, schedule="30 1 * * *", on_holiday="next_business_day"),
        Post(id="early", text=text, schedule="30 2 * * *", on_weekend="skip"),
    ]
    return Calendar(
        name="lazy",
        segments=segments,
        channels=[Channel(name="console", adapter="console")],
        posts=posts,
    )


def eager(plan) -> list[Delivery]:
    return [route.delivery(slot) for route, slot in plan.ordered()]


@pytest.mark.parametrize("render", [True, False])
def test_lazy_deliveries_equal_eagerly_built_ones_across_dst_changes(render):
    plan = Planner(calendar()).plan("2027-03-01", "2027-11-30", render=render)
    lazy, built = list(plan), eager(plan)
    assert len(lazy) == len(built) == len(plan) > 2000
    for mine, theirs in zip(lazy, built, strict=True):
        assert type(mine) is Delivery
        assert attrs.asdict(mine) == attrs.asdict(theirs)
        assert mine == theirs and hash(mine) == hash(theirs) and repr(mine) == repr(theirs)
        assert mine.to_dict() == theirs.to_dict()
    assert any(d.shifted_from for d in lazy)  # moves are read lazily too
    assert {d.local.utcoffset() for d in lazy if d.segment.startswith("lhi")} >= {
        # Lord Howe's half-hour DST: both offsets met.
        *(ZoneInfo("Australia/Lord_Howe").utcoffset(datetime(2027, m, 1)) for m in (3, 11)),
    }


def test_a_lazy_delivery_behaves_as_a_frozen_delivery():
    plan = Planner(calendar()).plan("2027-03-14", "2027-03-15")
    built = eager(plan)[3]
    delivery = plan[3]
    assert delivery.id == built.id
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delivery.text = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        delivery.nothing  # type: ignore[attr-defined]  # noqa: B018
    # Unread lazy fields are filled by whatever reads them: pickling, copies, evolve.
    assert pickle.loads(pickle.dumps(plan[3])) == built
    assert copy.copy(plan[3]) == built
    assert attrs.evolve(plan[3], text="other") == attrs.evolve(built, text="other")
    assert [field.name for field in attrs.fields(Delivery)][:2] == ["id", "post"]
    assert len(attrs.fields(Delivery)) == 15
    assert plan[3:5] == eager(plan)[3:5]
    assert {plan[3]: 1}[built] == 1


def test_ids_are_the_stable_hash_of_the_delivery():
    plan = Planner(calendar()).plan("2027-01-04", "2027-01-05")
    for (route, slot), delivery in zip(plan.ordered(), plan, strict=True):
        key = route.timing.slots[slot].key
        assert delivery.id == delivery_id("lazy", route.post, route.segment, route.channel, key)


@pytest.mark.parametrize("locale", ["en-US", "fr-FR", "ne-NP", "ar-EG", "ja-JP"])
@pytest.mark.parametrize("format", ["short", "medium", "full", "HH:mm zzzz"])
def test_cached_date_and_time_formats_give_babels_text(locale, format):
    renderer = Renderer(calendar())
    segment = Segment(name="s", locale=locale, timezone="America/New_York", country="US")
    zone = ZoneInfo("America/New_York")
    values = [
        datetime(2027, 11, 7, 1, 30, tzinfo=zone, fold=0),  # the repeated hour, twice
        datetime(2027, 11, 7, 1, 30, tzinfo=zone, fold=1),
        datetime(2027, 3, 14, 3, 30, tzinfo=zone),
        datetime(2027, 3, 14, 3, 30, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2027, 3, 14, 3, 30, tzinfo=UTC),
    ]
    env = renderer.environment
    for _ in range(2):  # the second round is read from the cache
        for value in values:
            context = {"segment": segment, "when": value}
            locale_ = babel_locale(locale)
            got = env.from_string("{{ when|time(f) }}|{{ when|datetime(f) }}").render(
                **context, f=format
            )
            assert got == "|".join(
                (
                    babel.dates.format_time(value, format, tzinfo=value.tzinfo, locale=locale_),
                    babel.dates.format_datetime(value, format, tzinfo=value.tzinfo, locale=locale_),
                )
            )
            if format != "HH:mm zzzz":
                day = env.from_string("{{ when|date(f) }}").render(**context, f=format)
                assert day == babel.dates.format_date(value.date(), format, locale=locale_)
    naive = env.from_string("{{ t|time('short') }}").render(segment=segment, t=time(9, 5))
    assert naive == babel.dates.format_time(time(9, 5), "short", locale=babel_locale(locale))
    assert FORMATTED_CACHE_SIZE >= 10_000


def test_cached_formats_stay_bounded(monkeypatch):
    from socialsched.planning import render

    monkeypatch.setattr(render, "FORMATTED_CACHE_SIZE", 3)
    monkeypatch.setattr(render, "_FORMATTED", {})
    segment = Segment(name="s", locale="en-US", timezone="UTC", country="US")
    template = Renderer(calendar()).environment.from_string("{{ d|date('short') }}")
    texts = [template.render(segment=segment, d=date(2027, 1, day)) for day in range(1, 10)]
    assert texts[0] == "1/1/27" and texts[-1] == "1/9/27"
    assert len(render._FORMATTED) <= 3


def test_a_text_that_reads_the_time_differs_per_delivery_of_a_route():
    plan = Planner(calendar()).plan("2027-03-13", "2027-03-15")
    for (route, slot), delivery in zip(plan.ordered(), plan, strict=True):
        local = route.timing.slots[slot].local
        assert delivery.text == f"{delivery.segment} at " + babel.dates.format_time(
            local,
            "short",
            tzinfo=local.tzinfo,
            locale=babel_locale(
                next(z[2] for n, z in ZONES.items() if delivery.segment.startswith(n))
            ),
        )
    one_route = [d.text for d in plan if (d.segment, d.post) == ("ny0", "night")]
    assert len(one_route) == 3
    # Across New York's spring-forward night the local times differ, hence the texts.
    assert len({d.text for d in plan if d.segment == "ny0"}) > 1


def test_a_rendering_changing_vars_is_not_seen_by_the_next():
    # The sandbox lets a template change a dict: each rendering gets its own `vars`.
    text = "{{ vars.update({'n': vars.get('n', 0) + 1}) or '' }}{{ vars.n }} {{ when.hour }}"
    plan = Planner(calendar(text)).plan("2027-01-04", "2027-01-06")
    assert {d.text.split()[0] for d in plan} == {"1"}


def test_a_text_reading_segment_variables_is_the_same_along_a_route():
    text = "Hello {{ segment.name }}, news from {{ vars.brand | default('us') }}"
    plan = Planner(calendar(text)).plan("2027-01-04", "2027-01-10")
    for delivery in plan:
        assert delivery.text == f"Hello {delivery.segment}, news from us"


def test_the_time_filter_on_a_naive_datetime_and_a_date_value():
    segment = Segment(name="s", locale="fr-FR", timezone="UTC", country="FR")
    environment = Renderer(calendar()).environment
    moment = datetime(2027, 5, 1, 14, 0)
    assert environment.from_string("{{ m|time('short') }}").render(segment=segment, m=moment) == (
        babel.dates.format_time(moment, "short", locale=babel_locale("fr-FR"))
    )
