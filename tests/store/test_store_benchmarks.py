"""The benchmark scripts run end to end at a tiny size (numbers are not checked)."""

from __future__ import annotations

import sys
from pathlib import Path

from module_files import load_module

# At module level: imported at collection, while this folder's conftest is the one named
# `conftest` (a plugin's tests, collected later, bring their own).
from conftest import require_postgres

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return load_module(f"bench_{name}", BENCHMARKS / f"{name}.py")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_store_benchmark_runs_and_prints_the_ratio(capsys):
    ratio = load("store").main(["--size", "300", "--baseline-sample", "20"])
    out = capsys.readouterr().out
    assert ratio > 0
    assert "deliveries: 300" in out and "extrapolated" in out and "x faster" in out


def test_dispatch_benchmark_runs_and_prints_rss(capsys):
    results = load("dispatch").main(["--size", "20", "--pending", "50", "100", "--no-postgresql"])
    out = capsys.readouterr().out
    assert set(results) == {"sqlite-1", "sqlite-2", "rss_ratio", "mark_ratio-sqlite"}
    assert "runner peak RSS" in out and out.count("20 in") == 2
    # The sending mark's row: one runner with and without it, and the ratio.
    assert results["mark_ratio-sqlite"] > 0 and "the mark costs" in out


def test_dispatch_benchmark_measures_the_http_row_on_postgresql(capsys):
    require_postgres()
    results = load("dispatch").main(["--http-only", "--size", "20", "--runners", "1", "2"])
    out = capsys.readouterr().out
    assert set(results) == {"httpx-loop", "webhook-postgresql-1", "webhook-postgresql-2"}
    # The receiver (another process) got each delivery once, whatever the number of
    # runners, over at most one kept connection per runner (20 deliveries fit in one
    # runner's batch: the second may have found none).
    assert out.count("20 requests received, each key once") == 2
    one, two = [line for line in out.splitlines() if "runner(s) on PostgreSQL" in line]
    assert "over 1 connection(s)" in one
    assert "over 1 connection(s)" in two or "over 2 connection(s)" in two
    assert "of the httpx loop" in out and "x one runner" in out


def test_media_benchmark_reads_no_file_again_and_prints_the_ratio(capsys):
    ratio = load("media").main(["--segments", "3", "--days", "2", "--repeat", "1"])
    out = capsys.readouterr().out
    assert ratio > 0
    assert "deliveries: 120 per timed run" in out
    assert "0 files read, 0 digests computed (checked)" in out and "with / without media" in out
