"""Benchmark: socialsched's planner against hand-rolled pytz and zoneinfo scripts.

Input: N segments spread over 20 markets (country, subdivision, IANA zone; DST zones
on both hemispheres, Lord Howe's 30-minute DST, Kathmandu's +05:45, Friday+Saturday
weekends), two daily cron posts, `on_holiday = "skip"`, no quiet hours.

The naive reference does what a script written by hand would: for each segment it
builds the country's holidays, and for each day and cron time skips holidays, else
localizes the wall time with pytz and converts it to UTC. The planner runs on the same
input in the same process; both must give the same set of (segment, post, UTC instant).
Both start cold (only the holidays package's country modules are imported, and
socialsched's plugins loaded, beforehand).
Two more loops run beside them: the same naive loop written with zoneinfo, and a
grouped tuple loop that does the date, zone and holiday work once per (time zone,
market) and only fans out a tuple per delivery, the floor for a planner written in
pure Python. A row also times planning followed by reading every delivery's columns
(`Plan.columns()`, what a consumer reading every field pays), and another planning
followed by the README's loop (iterate the plan, read each delivery's utc, segment,
post, channel and local), against the grouped loop. Rendering is timed on its own
(plan with render=True minus plan with render=False), for six templates: ones that
read only segment (and calendar) variables, the date, the time, and two whose text
changes with each delivery (the segment's name and the time, by filter or strftime).
Wall and CPU time are printed: on a busy machine CPU time is the steadier one;
`--repeat N` keeps the best of N runs.
Peak memory is how far each run raised the process's peak resident memory (Linux
resets that high-water mark before each run); `--tracemalloc` adds traced runs.

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
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import holidays
import pytz

from socialsched import Calendar, Channel, Planner, Post, Segment, plugins


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

#: The three templates rendering is timed with: what each reads decides how often it
#: must be rendered (once per route, per local day, per slot).
RENDER_TEMPLATES = {
    "segment variables only": "{{ post.id }} for {{ segment.name }} ({{ locale }})",
    "the date": "{{ post.id }}: {{ when|date('full') }}",
    "the time": "{{ post.id }} at {{ when|time('short') }}",
    # Texts that change with each delivery of a route (they read the segment and the
    # time), and one reading segment and calendar variables through a filter.
    "segment and calendar variables":
        "Hello {{ segment.name }}, news from {{ vars.brand | default('us') }}",
    "the segment and the time": "{{ segment.name }} at {{ when|time('short') }}",
    "the segment and when.strftime":
        "{{ segment.name }} at {{ when.strftime('%H:%M on %d %b') }}",
}  # fmt: skip


def read_plan(calendar: Calendar, start: date, days: int) -> int:
    """Plan, then read each delivery's fields as the README's loop does."""
    count = 0
    for delivery in run_planner(calendar, start, days, False):
        _ = (delivery.utc, delivery.segment, delivery.post, delivery.channel, delivery.local)
        count += 1
    return count


Row = tuple[str, str, datetime]  # (segment, post, UTC instant)


def build_calendar(segment_count: int, text: Any = TEXTS) -> Calendar:
    """The benchmark calendar: segments over MARKETS, two daily posts, skip holidays,
    each post's text `text` (a template, or templates by locale)."""
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
    if isinstance(text, dict):
        # A key no segment reads is an error (`socialsched.calendar.locale_keys`): with few
        # segments, keep only the languages they speak.
        spoken = {segment.locale.split("-")[0] for segment in segments}
        text = {key: value for key, value in text.items() if key == "default" or key in spoken}
    posts = [
        Post(id=post_id, text=text, schedule=schedule, on_holiday="skip")
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


def _cron_times(calendar: Calendar) -> list[tuple[str, int, int]]:
    times = []
    for post in calendar.posts:
        assert post.schedule is not None
        minute, hour, *_ = post.schedule.split()
        times.append((post.id, int(hour), int(minute)))
    return times


def naive_zoneinfo(calendar: Calendar, start: date, days: int) -> set[Row]:
    """The naive reference written with zoneinfo: per segment a holidays table, per
    delivery a holiday lookup and a conversion (fold=0: the offset before a gap, the
    first of a repeated hour, as the reference's pytz calls choose)."""
    years = sorted({(start + timedelta(days=offset)).year for offset in range(days)})
    cron_times = _cron_times(calendar)
    found: set[Row] = set()
    for segment in calendar.segments:
        zone = ZoneInfo(segment.timezone.key)
        country_holidays = holidays.country_holidays(
            segment.country, subdiv=segment.subdivision_code, years=years
        )
        for offset in range(days):
            day = start + timedelta(days=offset)
            for post_id, hour, minute in cron_times:
                if day in country_holidays:
                    continue
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                found.add((segment.name, post_id, wall.astimezone(UTC)))
    return found


def grouped_tuples(calendar: Calendar, start: date, days: int) -> list[Row]:
    """The floor for a pure-Python planner: the date, zone and holiday work once per
    (time zone, market), then only a tuple per delivery for each segment of it."""
    years = sorted({(start + timedelta(days=offset)).year for offset in range(days)})
    cron_times = _cron_times(calendar)
    markets: dict[tuple[str, str, str | None], list[str]] = {}
    for segment in calendar.segments:
        key = (segment.timezone.key, segment.country, segment.subdivision_code)
        markets.setdefault(key, []).append(segment.name)
    found: list[Row] = []
    for (zone_name, country, subdivision), names in markets.items():
        zone = ZoneInfo(zone_name)
        country_holidays = holidays.country_holidays(country, subdiv=subdivision, years=years)
        instants = []
        for offset in range(days):
            day = start + timedelta(days=offset)
            if day in country_holidays:
                continue
            for post_id, hour, minute in cron_times:
                wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                instants.append((post_id, wall.astimezone(UTC)))
        for name in names:
            found.extend([(name, post_id, utc) for post_id, utc in instants])
    return found


def run_planner(calendar: Calendar, start: date, days: int, render: bool) -> list[Any]:
    """socialsched's planner on the same input."""
    end = start + timedelta(days=days - 1)
    return Planner(calendar).plan(start, end, render=render)


class Measured(NamedTuple):
    """What one run returned and cost."""

    result: Any
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU time: steadier on a busy machine
    peak: int | None  # bytes the run added to the process's peak resident memory


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of our resident memory (Linux only)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def measure(work: Callable[[], Any], repeat: int = 1) -> Measured:
    """Run `work()`, timing it and, on Linux, measuring how far it raised peak resident
    memory above what the process held before (result included). With `repeat` > 1,
    the best wall and CPU times of that many runs, and the first run's memory."""
    best: Measured | None = None
    for _ in range(repeat):
        result = None
        gc.collect()
        measure_memory = _reset_peak_rss()
        before = _status_kib("VmRSS") if measure_memory else 0
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = (_status_kib("VmHWM") - before) * 1024 if measure_memory else None
        if best is None:
            best = Measured(result, wall, cpu, peak)
        else:
            best = best._replace(wall=min(best.wall, wall), cpu=min(best.cpu, cpu))
    assert best is not None
    return best


def traced_peak(work: Callable[[], Any]) -> int:
    """Peak bytes Python allocated while running `work()` (tracemalloc), result included."""
    gc.collect()
    tracemalloc.start()
    try:
        result = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


def mib(size: float | None) -> str:
    return "n/a" if size is None else f"{size / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000, help="segments (default 1000)")
    parser.add_argument("--days", type=int, default=365, help="days planned (default 365)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2027, 1, 1))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each, keeping the best time (default 1)"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also measure peak memory with tracemalloc, in extra (slower) runs",
    )
    options = parser.parse_args(argv)
    if min(options.segments, options.days, options.repeat) < 1:
        parser.error("--segments, --days and --repeat must be at least 1")
    start, days = options.start, options.days
    end = start + timedelta(days=days - 1)

    calendar = build_calendar(options.segments)
    markets = len({(s.country, s.subdivision, s.timezone.key) for s in calendar.segments})
    print(
        f"input: {options.segments} segments in {markets} markets, {days} days "
        f"({start}..{end}), {len(calendar.posts)} daily cron posts, on_holiday=skip"
    )
    # Import each country's holiday module once, outside the timings, for both sides;
    # and load socialsched's installed plugins (a once-per-process import, seconds
    # with some network clients), which planning would otherwise pay on its first run.
    for market in MARKETS:
        holidays.country_holidays(market.country, subdiv=market.subdivision, years=start.year)
    plugins.adapters()

    planner = measure(lambda: run_planner(calendar, start, days, False), options.repeat)
    reference = measure(lambda: naive_reference(calendar, start, days), options.repeat)
    with_zoneinfo = measure(lambda: naive_zoneinfo(calendar, start, days), options.repeat)
    grouped = measure(lambda: grouped_tuples(calendar, start, days), options.repeat)
    planned = {(d.segment, d.post, d.utc) for d in planner.result}
    count = len(planner.result)
    for label, run in (("reference", reference), ("zoneinfo loop", with_zoneinfo)):
        if planned != run.result or len(planned) != count:
            print(
                f"MISMATCH: planner {count} deliveries ({len(planned)} distinct), "
                f"{label} {len(run.result)}; "
                f"only planner: {sorted(planned - run.result)[:5]}, "
                f"only {label}: {sorted(run.result - planned)[:5]}",
                file=sys.stderr,
            )
            return 1
    if len(grouped.result) != count or set(grouped.result) != planned:
        print("MISMATCH: the grouped tuple loop gave other deliveries", file=sys.stderr)
        return 1
    del planned
    planner = planner._replace(result=None)
    reference, with_zoneinfo = reference._replace(result=None), with_zoneinfo._replace(result=None)
    grouped = grouped._replace(result=None)
    # What a consumer of the plan pays on top: every delivery's fields, read column by
    # column as `Store.schedule` reads them.
    read = measure(
        lambda: sum(1 for _ in run_planner(calendar, start, days, False).columns()),
        options.repeat,
    )
    # What the README's loop pays: iterating the plan's deliveries, reading five fields.
    loop = measure(lambda: read_plan(calendar, start, days), options.repeat)

    print(f"deliveries: {count:,} (planner, reference, zoneinfo loop and grouped loop agree)")
    print(
        "                                                  wall time    CPU time"
        "   CPU/delivery   peak RSS +"
    )
    rows = (
        ("naive reference (pytz localize + holidays)", reference),
        ("naive loop with zoneinfo", with_zoneinfo),
        ("grouped tuple loop (floor for pure Python)", grouped),
        ("socialsched Planner.plan(render=False)", planner),
        ("  the same, then every delivery's columns", read),
        ("  plan + read (utc, segment, post, channel, local)", loop),
    )
    for label, run in rows:
        print(
            f"{label:<46} {run.wall:10.3f} s {run.cpu:10.3f} s {run.cpu / count * 1e6:9.3f} µs "
            f"{mib(run.peak):>12}"
        )
    print(
        f"ratio: Planner.plan(render=False) is {reference.wall / planner.wall:.1f}x faster "
        f"than the naive pytz reference (wall; CPU: {reference.cpu / planner.cpu:.1f}x; "
        "target >= 30x)"
    )
    print(
        f"ratio: Planner.plan(render=False) takes {planner.wall / grouped.wall:.2f}x the "
        f"grouped tuple loop's time (wall; CPU: {planner.cpu / grouped.cpu:.2f}x; "
        "target <= 4x)"
    )
    print(
        f"ratio: plan + read takes {loop.wall / grouped.wall:.2f}x the grouped tuple loop's "
        f"time (wall; CPU: {loop.cpu / grouped.cpu:.2f}x; target <= 4x)"
    )
    for label, template in RENDER_TEMPLATES.items():
        templated = build_calendar(options.segments, template)
        bare = measure(lambda cal=templated: run_planner(cal, start, days, False), options.repeat)
        rendered = measure(
            lambda cal=templated: run_planner(cal, start, days, True), options.repeat
        )
        if len(rendered.result) != count or not all(d.text for d in rendered.result):
            print(f"MISMATCH: rendering {label!r} gave other deliveries", file=sys.stderr)
            return 1
        rendered = rendered._replace(result=None)
        render_cpu = (rendered.cpu - bare.cpu) / count * 1e6
        print(
            f"rendering, template reading {label}: Planner.plan(render=True) "
            f"{rendered.wall:.3f} s wall ({rendered.cpu:.3f} s CPU, peak RSS + "
            f"{mib(rendered.peak)}), {rendered.cpu / grouped.cpu:.1f}x the grouped loop's "
            f"CPU, of which rendering {render_cpu:.2f} µs CPU per delivery"
        )
    if options.tracemalloc:
        reference_peak = traced_peak(lambda: naive_reference(calendar, start, days))
        planner_peak = traced_peak(lambda: run_planner(calendar, start, days, False))
        print(
            f"peak memory (tracemalloc, result included): reference {mib(reference_peak)}, "
            f"planner {mib(planner_peak)}"
        )
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"process peak RSS (since the last measured run began): {mib(maxrss_kib * 1024)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
