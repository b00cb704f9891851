"""Benchmark: socialsched's planner against a hand-rolled pytz + holidays script.

Input: N segments spread over 20 markets (country, subdivision, IANA zone; DST zones
on both hemispheres, Lord Howe's 30-minute DST, Kathmandu's +05:45, Friday+Saturday
weekends), two daily cron posts, `on_holiday = "skip"`, no quiet hours.

The naive reference does what a script written by hand would: for each segment it
builds the country's holidays, and for each day and cron time skips holidays, else
localizes the wall time with pytz and converts it to UTC. The planner runs on the same
input in the same process; both must give the same set of (segment, post, UTC instant).
Rendering is timed on its own (plan with render=True), and peak memory is measured in
separate traced runs so tracing does not distort the timings.

Run: `python benchmarks/plan.py` (1,000 segments, 365 days), or
`python benchmarks/plan.py --segments 20 --days 10` for a quick check.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import holidays
import pytz

from socialsched import Calendar, Channel, Planner, Post, Segment


class Market(NamedTuple):
    country: str
    subdivision: str | None
    timezone: str
    locale: str


MARKETS = (
    Market("US", "NY", "America/New_York", "en-US"),
    Market("US", "CA", "America/Los_Angeles", "en-US"),
    Market("CA", "ON", "America/Toronto", "en-CA"),
    Market("MX", None, "America/Mexico_City", "es-MX"),
    Market("BR", None, "America/Sao_Paulo", "pt-BR"),
    Market("CL", None, "America/Santiago", "es-CL"),
    Market("GB", "ENG", "Europe/London", "en-GB"),
    Market("FR", None, "Europe/Paris", "fr-FR"),
    Market("ES", "MD", "Europe/Madrid", "es-ES"),
    Market("IT", None, "Europe/Rome", "it-IT"),
    Market("DE", "BY", "Europe/Berlin", "de-DE"),
    Market("DZ", None, "Africa/Algiers", "fr-DZ"),
    Market("TN", None, "Africa/Tunis", "fr-TN"),
    Market("EG", None, "Africa/Cairo", "ar-EG"),
    Market("SA", None, "Asia/Riyadh", "ar-SA"),
    Market("IN", None, "Asia/Kolkata", "en-IN"),
    Market("NP", None, "Asia/Kathmandu", "ne-NP"),
    Market("JP", None, "Asia/Tokyo", "ja-JP"),
    Market("AU", "NSW", "Australia/Lord_Howe", "en-AU"),
    Market("NZ", None, "Pacific/Auckland", "en-NZ"),
)

# 01:30 and 02:30 local: every DST zone above has a gap or a repeated hour at one of
# them (New York: 02:30 missing in March, 01:30 twice in November; Paris: 02:30 both).
SCHEDULES = {"night-owl": "30 1 * * *", "early-bird": "30 2 * * *"}

TEXTS = {
    "default": "{{ post.id }} for {{ segment.name }} at {{ when.hour }}:{{ when.minute }}",
    "fr": "{{ post.id }} pour {{ segment.name }} à {{ when.hour }}h{{ when.minute }}",
    "es": "{{ post.id }} para {{ segment.name }} a las {{ when.hour }}:{{ when.minute }}",
}

Row = tuple[str, str, datetime]  # (segment, post, UTC instant)


def build_calendar(segment_count: int) -> Calendar:
    """The benchmark calendar: segments over MARKETS, two daily posts, skip holidays."""
    segments = [
        Segment(
            name=f"seg{index:04d}-{market.country}",
            locale=market.locale,
            timezone=market.timezone,
            country=market.country,
            subdivision=market.subdivision,
        )
        for index in range(segment_count)
        for market in [MARKETS[index % len(MARKETS)]]
    ]
    posts = [
        Post(id=post_id, text=TEXTS, schedule=schedule, on_holiday="skip")
        for post_id, schedule in SCHEDULES.items()
    ]
    return Calendar(
        segments=segments, channels=[Channel(name="console", adapter="console")], posts=posts
    )


def naive_reference(calendar: Calendar, start: date, days: int) -> set[Row]:
    """What a hand-rolled script does: per segment a holidays table, per delivery a
    holiday lookup, a pytz localize and a conversion to UTC."""
    years = sorted({(start + timedelta(days=offset)).year for offset in range(days)})
    cron_times = []
    for post in calendar.posts:
        assert post.schedule is not None
        minute, hour, *_ = post.schedule.split()
        cron_times.append((post.id, int(hour), int(minute)))
    found: set[Row] = set()
    for segment in calendar.segments:
        zone = pytz.timezone(segment.timezone.key)
        country_holidays = holidays.country_holidays(
            segment.country, subdiv=segment.subdivision_code, years=years
        )
        for offset in range(days):
            day = start + timedelta(days=offset)
            for post_id, hour, minute in cron_times:
                if day in country_holidays:
                    continue
                wall = datetime(day.year, day.month, day.day, hour, minute)
                try:
                    aware = zone.localize(wall, is_dst=None)
                except pytz.NonExistentTimeError:
                    aware = zone.localize(wall, is_dst=False)  # offset before the gap
                except pytz.AmbiguousTimeError:
                    aware = zone.localize(wall, is_dst=True)  # first occurrence
                found.add((segment.name, post_id, aware.astimezone(pytz.utc)))
    return found


def run_planner(calendar: Calendar, start: date, days: int, render: bool) -> list[Any]:
    """socialsched's planner on the same input."""
    end = start + timedelta(days=days - 1)
    return Planner(calendar).plan(start, end, render=render)


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """The result of `work()` and its wall time in seconds (garbage collected first)."""
    gc.collect()
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def peak_memory(work: Callable[[], Any]) -> int:
    """Peak bytes Python allocated while running `work()`, result included."""
    gc.collect()
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


def mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000, help="segments (default 1000)")
    parser.add_argument("--days", type=int, default=365, help="days planned (default 365)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2027, 1, 1))
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the (slower) traced memory runs"
    )
    options = parser.parse_args(argv)
    if options.segments < 1 or options.days < 1:
        parser.error("--segments and --days must be at least 1")
    start, days = options.start, options.days
    end = start + timedelta(days=days - 1)

    calendar = build_calendar(options.segments)
    markets = len({(s.country, s.subdivision, s.timezone.key) for s in calendar.segments})
    print(
        f"input: {options.segments} segments in {markets} markets, {days} days "
        f"({start}..{end}), {len(calendar.posts)} daily cron posts, on_holiday=skip"
    )
    # Import each country's holiday module once, outside the timings, for both sides.
    for market in MARKETS:
        holidays.country_holidays(market.country, subdiv=market.subdivision, years=start.year)

    deliveries, planner_seconds = timed(lambda: run_planner(calendar, start, days, False))
    reference, reference_seconds = timed(lambda: naive_reference(calendar, start, days))
    planned = {(d.segment, d.post, d.utc) for d in deliveries}
    if planned != reference or len(planned) != len(deliveries):
        print(
            f"MISMATCH: planner {len(deliveries)} deliveries ({len(planned)} distinct), "
            f"reference {len(reference)}; only planner: {sorted(planned - reference)[:5]}, "
            f"only reference: {sorted(reference - planned)[:5]}",
            file=sys.stderr,
        )
        return 1
    count = len(deliveries)
    del deliveries, reference, planned

    rendered, render_seconds = timed(lambda: run_planner(calendar, start, days, True))
    assert len(rendered) == count and all(d.text for d in rendered)
    del rendered

    ratio = reference_seconds / planner_seconds
    print(f"deliveries: {count:,} (planner and reference agree)")
    print(f"naive reference (pytz localize + holidays per segment): {reference_seconds:8.3f} s")
    print(f"socialsched Planner.plan(render=False):                 {planner_seconds:8.3f} s")
    print(f"ratio: planner is {ratio:.1f}x faster than the naive reference (target >= 10x)")
    print(
        f"rendering: Planner.plan(render=True) {render_seconds:.3f} s, of which rendering "
        f"{render_seconds - planner_seconds:.3f} s "
        f"({(render_seconds - planner_seconds) / count * 1e6:.1f} µs per delivery)"
    )
    if not options.no_memory:
        reference_peak = peak_memory(lambda: naive_reference(calendar, start, days))
        planner_peak = peak_memory(lambda: run_planner(calendar, start, days, False))
        render_peak = peak_memory(lambda: run_planner(calendar, start, days, True))
        print(
            f"peak memory (tracemalloc, result included): reference {mib(reference_peak)}, "
            f"planner {mib(planner_peak)}, planner with rendering {mib(render_peak)}"
        )
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process peak RSS (all runs): {mib(maxrss_kib * 1024)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
