"""Crash safety: `socialsched run` processes are killed with SIGKILL mid-run and
restarted; every delivery must reach the jsonl file exactly once, none lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from calendar_text import numbered_posts, numbered_segments

from conftest import PG_URL, require_postgres
from socialsched.runner.receipts import RECOVERED
from socialsched.store import Store

SEGMENTS = 12
POSTS = 25  # 300 deliveries


@pytest.fixture
def work_dir(tmp_path: Path):
    """A scratch folder in memory when the system has one: the jsonl adapter fsyncs every
    line, and on a slow disk that alone would make these tests take minutes. A process
    crash (what is tested here) behaves the same on tmpfs as on disk."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    folder = shm / f"socialsched-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_calendar(folder: Path) -> tuple[Path, Path, str]:
    """A calendar of SEGMENTS x POSTS deliveries due a few minutes ago, on a jsonl channel."""
    due = datetime.now(UTC) - timedelta(minutes=3)
    out = folder / "published.jsonl"
    lines = ['[calendar]\nname = "crash"\n']
    lines.extend(numbered_segments(SEGMENTS))
    lines.append(
        f'[[channel]]\nname = "feed"\nadapter = "jsonl"\nsettings = {{ path = "{out}" }}\n'
    )
    lines.extend(numbered_posts(POSTS, due))
    path = folder / "calendar.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, out, f"{due:%Y-%m-%d}"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result


def start_runner(db: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "socialsched",
                "run",
                "--db",
                db,
                "--lease",
                "1",
                "--batch",
                "10",
                "--poll",
                "0.5",
                "-q",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def published_lines(out: Path) -> int:
    try:
        with out.open("rb") as handle:
            return sum(1 for line in handle if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


def claimed(db: sqlalchemy.Engine, pid: int) -> int:
    """How many deliveries the runner process `pid` holds claimed right now (worker
    names are host:pid:random)."""
    with db.connect() as connection:
        return connection.execute(
            sqlalchemy.text(
                "SELECT count(*) FROM deliveries WHERE state = 'claimed' AND claimed_by LIKE :me"
            ),
            {"me": f"%:{pid}:%"},
        ).scalar_one()


def kill_after(
    process: subprocess.Popen[bytes], out: Path, lines: int, db: sqlalchemy.Engine
) -> int:
    """SIGKILL `process` once the file holds `lines` lines, in the middle of a batch
    (while it holds claimed deliveries) when it takes one within a few seconds: with
    two runners, the other one may have claimed all that is left; returns how many it
    left claimed."""
    deadline = time.monotonic() + 60
    while published_lines(out) < lines and process.poll() is None:
        assert time.monotonic() < deadline, "runner made no progress"
        time.sleep(0.002)
    mid_batch = time.monotonic() + 10
    while not claimed(db, process.pid) and process.poll() is None:
        if time.monotonic() > mid_batch:
            break
        time.sleep(0.002)
    assert process.poll() is None, "the runner stopped by itself before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return claimed(db, process.pid)


def assert_exactly_once(store: Store, out: Path) -> None:
    records = store.records()
    assert len(records) == SEGMENTS * POSTS
    keys = Counter(
        json.loads(line)["idempotency_key"] for line in out.read_text("utf-8").splitlines()
    )
    assert set(keys) == {r.id for r in records}, "lost or unknown deliveries"
    assert max(keys.values()) == 1, f"published twice: {[k for k, n in keys.items() if n > 1]}"
    assert {r.state for r in records} == {"published"}


@pytest.mark.slow
def test_sigkilled_runner_loses_nothing_and_publishes_nothing_twice(work_dir):
    calendar, out, day = write_calendar(work_dir)
    db = str(work_dir / "outbox.db")
    cli("schedule", str(calendar), "--db", db, "--start", day, "--end", day)
    watcher = sqlalchemy.create_engine(f"sqlite:///{db}")
    left_claimed = [
        kill_after(start_runner(db, work_dir / "runners.log"), out, threshold, watcher)
        for threshold in (45, 125, 205)
    ]
    watcher.dispose()
    assert published_lines(out) < SEGMENTS * POSTS, "the runners finished before the kills"
    cli("run", "--db", db, "--until-idle", "--lease", "1", "-q")
    with Store(db) as store:
        assert_exactly_once(store, out)
        # Kills left claimed deliveries behind whose lease expired and was taken over,
        # or whose receipt the dead runner had journaled (recorded from its journal).
        expired = [
            e
            for e in store.log()
            if e.reason and (e.reason.startswith("lease expired") or e.reason == RECOVERED)
        ]
        assert len(expired) == sum(left_claimed) > 0, (left_claimed, len(expired))


def test_two_runners_on_postgresql_with_kills_share_work_exactly_once(work_dir):
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        calendar, out, day = write_calendar(work_dir)
        cli("schedule", str(calendar), "--db", db, "--start", day, "--end", day)
        first, second = (
            start_runner(db, work_dir / "runners.log"),
            start_runner(db, work_dir / "runners.log"),
        )
        watcher = sqlalchemy.create_engine(db)
        kill_after(first, out, 65, watcher)
        first = start_runner(db, work_dir / "runners.log")
        kill_after(second, out, 155, watcher)
        second = start_runner(db, work_dir / "runners.log")
        kill_after(first, out, 225, watcher)
        watcher.dispose()
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=10)
        finishers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "socialsched",
                    "run",
                    "--db",
                    db,
                    "--until-idle",
                    "--lease",
                    "1",
                    "--batch",
                    "10",
                    "-q",
                ],
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for finisher in finishers:
            _, stderr = finisher.communicate(timeout=120)
            assert finisher.returncode == 0, stderr
        with Store(db) as store:
            assert_exactly_once(store, out)
            log = store.log()
            workers = {e.actor for e in log if e.to_state == "published"}
            assert len(workers) >= 2
            assert any(e.reason and e.reason.startswith("lease expired") for e in log)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def test_sigterm_finishes_in_flight_work_and_exits_cleanly(work_dir):
    calendar, out, day = write_calendar(work_dir)
    db = str(work_dir / "outbox.db")
    cli("schedule", str(calendar), "--db", db, "--start", day, "--end", day)
    process = subprocess.Popen(
        [sys.executable, "-m", "socialsched", "run", "--db", db, "--batch", "50"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while published_lines(out) < 30:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped after publishing" in stderr
    with Store(db) as store:
        # Nothing is left claimed: the rest of the batch was given back unattempted.
        assert store.records("claimed") == []
        assert len(store.records("published")) == published_lines(out)
    cli("run", "--db", db, "--until-idle", "-q")
    with Store(db) as store:
        assert_exactly_once(store, out)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_until_idle_exits_when_nothing_is_due(work_dir):
    db = str(work_dir / "empty.db")
    result = cli("run", "--db", db, "--until-idle")
    assert "published 0" in result.stderr
