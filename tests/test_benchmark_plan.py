"""benchmarks/plan.py runs end to end at tiny sizes (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import holidays
from module_files import load_module

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "plan.py"


def benchmark_markets() -> tuple:
    return load_module("benchmark_plan", SCRIPT).MARKETS


def run_benchmark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_tiny_run_agrees_with_the_reference_and_prints_a_ratio():
    result = run_benchmark("--segments", "20", "--days", "10")
    assert result.returncode == 0, result.stderr
    # One segment per market; each posts twice a day except on its public holidays.
    markets = benchmark_markets()
    assert len(markets) == 20
    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(10)]
    holiday_days = sum(
        day in holidays.country_holidays(m.country, subdiv=m.subdivision, years=2027)
        for m in markets
        for day in days
    )
    count = re.search(
        r"^deliveries: ([\d,]+) \(planner, reference, zoneinfo loop and grouped loop agree\)$",
        result.stdout,
        re.M,
    )
    assert count is not None, result.stdout
    assert int(count[1].replace(",", "")) == 2 * (20 * 10 - holiday_days)
    for row in (
        "naive reference (pytz localize + holidays)",
        "naive loop with zoneinfo",
        "grouped tuple loop (floor for pure Python)",
        "socialsched Planner.plan(render=False)",
        "  the same, then every delivery's columns",
        "  plan + read (utc, segment, post, channel, local)",
    ):
        assert re.search(
            rf"^{re.escape(row)} +[\d.]+ s +[\d.]+ s +[\d.]+ µs ", result.stdout, re.M
        ), (row, result.stdout)
    assert re.search(
        r"^ratio: Planner.plan\(render=False\) is [\d.]+x faster than the naive pytz",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^ratio: Planner.plan\(render=False\) takes [\d.]+x the grouped tuple loop's",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^ratio: plan \+ read takes [\d.]+x the grouped tuple loop's time \(wall; "
        r"CPU: [\d.]+x; target <= 4x\)$",
        result.stdout,
        re.M,
    )
    for template in (
        "segment variables only",
        "the date",
        "the time",
        "segment and calendar variables",
        "the segment and the time",
        "the segment and when.strftime",
    ):
        assert re.search(
            rf"^rendering, template reading {re.escape(template)}: Planner.plan\(render=True\) "
            r"[\d.]+ s .*, [\d.]+x the grouped loop's CPU, "
            r"of which rendering -?[\d.]+ µs CPU per delivery$",
            result.stdout,
            re.M,
        ), (template, result.stdout)


def test_tracemalloc_option_reports_peak_memory_of_both():
    result = run_benchmark("--segments", "3", "--days", "3", "--tracemalloc", "--repeat", "2")
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^peak memory \(tracemalloc, result included\): reference [\d.]+ MiB, "
        r"planner [\d.]+ MiB$",
        result.stdout,
        re.M,
    )


def test_nonsense_sizes_are_a_usage_error():
    result = run_benchmark("--segments", "0")
    assert result.returncode == 2
    assert "--segments, --days and --repeat must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
