"""The benchmark scripts run end to end at a tiny size (numbers are not checked)."""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

import pytest
from module_files import load_module

# At module level: imported at collection, while this folder's conftest is the one named
# `conftest` (a plugin's tests, collected later, bring their own).
from conftest import PG_URL, require_postgres

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
    # Under each rate, where the CPU went (Linux). At this size PostgreSQL's and the
    # receiver's parts may be under a clock tick (10 ms): test_cpu_watch_... counts them.
    if load("_cpu").available():
        splits = re.findall(
            r"CPU per delivery: runner\(s\) ([\d,]+) µs \(and ([\d,]+) µs waiting for a core\), "
            r"PostgreSQL ([\d,]+) µs, receiver ([\d,]+) µs; the (\d+) cores (\d+)% busy",
            out,
        )
        assert len(splits) == 2, out
        for runner, _, _, _, cores, busy in splits:
            assert int(runner.replace(",", "")) > 0
            assert int(cores) == os.cpu_count() and 0 < int(busy) <= 100
    # Each sending mark waits for a flush; concurrent tests' commits may share them.
    flushes = [
        float(f) for f in re.findall(r"PostgreSQL's log flushes: ([\d.]+) per delivery", out)
    ]
    assert len(flushes) == 2 and all(f > 0 for f in flushes), out


def test_dispatch_benchmark_runs_its_two_runner_experiments(capsys):
    """--pin-runners and --no-commit-wait: the same row, every delivery once."""
    require_postgres()
    options = ["--http-only", "--size", "20", "--runners", "1", "2"]
    results = load("dispatch").main([*options, "--pin-runners", "--no-commit-wait"])
    out = capsys.readouterr().out
    assert set(results) == {"httpx-loop", "webhook-postgresql-1", "webhook-postgresql-2"}
    assert out.count("20 requests received, each key once") == 2


def test_cpu_watch_counts_postgresql_and_named_processes():
    """The CPU a PostgreSQL backend and a child process used while the watch was open,
    against each one's own count (the backend's from /proc before and after; the
    child's from its own clock)."""
    require_postgres()
    cpu = load("_cpu")
    if not cpu.available():
        pytest.skip("no /proc here")
    import sqlalchemy

    engine = sqlalchemy.create_engine(PG_URL)
    # fork: a spawned child would import this module, whose `conftest` is not its own.
    context = multiprocessing.get_context("fork")
    answer, go, done = context.Queue(), context.Event(), context.Event()
    try:
        with engine.connect() as connection:
            backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            assert cpu._is_postgresql(str(backend)) and not cpu._is_postgresql(str(os.getpid()))
            child = context.Process(target=_burn, args=(go, answer, done))
            child.start()
            before = cpu.process_seconds(backend)
            with cpu.CpuWatch(pids=(child.pid,)) as watch:
                go.set()  # the child burns its CPU while the watch is open
                connection.exec_driver_sql("SELECT count(*) FROM generate_series(1, 4000000)")
                burnt, child_total = answer.get(timeout=60)
            backend_cpu = cpu.process_seconds(backend) - before
            done.set()
            child.join()
    finally:
        engine.dispose()
    assert backend_cpu > 0.05
    # Other backends (other tests') may add to PostgreSQL's count, never take from it.
    assert watch.postgresql >= backend_cpu - 0.02
    # Clock ticks are 10 ms.
    assert burnt - 0.02 <= watch.of(child.pid) <= child_total + 0.02
    assert 0 < watch.busy <= 1


def _burn(go, answer, done) -> None:
    go.wait()
    started = time.process_time()
    total = 0
    while time.process_time() - started < 0.3:
        total += sum(range(1000))
    answer.put((time.process_time() - started, time.process_time()))
    done.wait(60)  # alive until the watch has closed


def test_media_benchmark_reads_no_file_again_and_prints_the_ratio(capsys):
    ratio = load("media").main(["--segments", "3", "--days", "2", "--repeat", "1"])
    out = capsys.readouterr().out
    assert ratio > 0
    assert "deliveries: 120 per timed run" in out
    assert "0 files read, 0 digests computed (checked)" in out and "with / without media" in out
