"""Durable receipts against a real PostgreSQL that is stopped after the network accepted
a post and before the runner recorded it: the runner keeps the receipt in its journal
and records it once the database is back; killed meanwhile, the next runner replays
the journal. Either way the delivery ends published, never in doubt, and the network
got one request. The channel's adapter cannot ask the network what it got, so a lost
receipt would show as a delivery held in doubt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from calendar_text import post_due, uk_segment
from doubt_network import Receiver
from private_postgres import PrivatePostgres

from socialsched.runner.receipts import RECOVERED

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals, pg_ctl")

NETWORK = Path(__file__).with_name("doubt_network.py")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database(postgres: PrivatePostgres) -> Iterator[str]:
    """A fresh database on the private server."""
    name = f"t{time.monotonic_ns()}"
    engine = sqlalchemy.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    # A new connection: the test restarted the server meanwhile.
    engine = sqlalchemy.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    engine.dispose()


class Process:
    """The fake network's `socialsched` command in a child process, its standard error
    collected line by line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(NETWORK), *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.lines)):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, f"no line with {text!r}:\n" + "\n".join(self.lines)
            time.sleep(0.05)

    def finish(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return code


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(NETWORK), *args], capture_output=True, text=True, cwd=cwd, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result


def schedule_one(project: Path, elsewhere: Path, db: str, url: str) -> None:
    due = datetime.now(UTC) - timedelta(minutes=2)
    (project / "calendar.toml").write_text(
        f"""
[calendar]
name = "outage"

{uk_segment()}

[[channel]]
name = "net"
adapter = "receiver-blind"
settings = {{ url = "{url}" }}

{post_due(due)}
""",
        encoding="utf-8",
    )
    day = f"{due:%Y-%m-%d}"
    run(
        "schedule",
        "../project/calendar.toml",
        "--db",
        db,
        "--start",
        day,
        "--end",
        day,
        cwd=elsewhere,
    )


def state_of(db: str) -> list[tuple[str, str, str | None]]:
    engine = sqlalchemy.create_engine(db)
    try:
        with engine.connect() as connection:
            return [
                (row.id, row.state, row.receipt)
                for row in connection.execute(
                    sqlalchemy.text("SELECT id, state, receipt FROM deliveries")
                )
            ]
    finally:
        engine.dispose()


def last_reason(db: str, delivery: str) -> str:
    engine = sqlalchemy.create_engine(db)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sqlalchemy.text(
                    "SELECT reason FROM activity WHERE delivery_id = :d ORDER BY id DESC LIMIT 1"
                ),
                {"d": delivery},
            ).scalar_one()
    finally:
        engine.dispose()


def cut_database_after_the_answer(
    receiver: Receiver, postgres: PrivatePostgres, db: str, elsewhere: Path
) -> Process:
    """Start a runner, let its post reach the network, stop the database, then let the
    network answer: the runner has a receipt it cannot record."""
    receiver.holding.set()
    runner = Process(
        "run",
        "--db",
        db,
        "--lease",
        "2",
        "--poll",
        "0.5",
        "--state-dir",
        "../state",
        cwd=elsewhere,
    )
    deadline = time.monotonic() + 90
    while not receiver.keys():
        assert runner.process.poll() is None, "\n".join(runner.lines)
        assert time.monotonic() < deadline, "the post never arrived"
        time.sleep(0.01)
    postgres.stop()
    receiver.release()
    runner.wait_for_line("but recording it failed")
    return runner


@pytest.mark.slow
def test_database_stopped_before_the_record_ends_published(tmp_path, postgres, database):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    with Receiver() as receiver:
        schedule_one(project, elsewhere, database, receiver.url)
        runner = cut_database_after_the_answer(receiver, postgres, database, elsewhere)
        # Down for longer than the lease: the runner must not give the receipt up.
        time.sleep(3)
        postgres.start()
        deadline = time.monotonic() + 60
        while (states := state_of(database))[0][1] != "published":
            assert time.monotonic() < deadline, (states, "\n".join(runner.lines))
            time.sleep(0.2)
        assert runner.finish() == 0, "\n".join(runner.lines)
        [(key, state, receipt)] = state_of(database)
        assert receiver.keys() == [key], "not exactly one request at the network"
        assert state == "published" and receiver.posts[0][1] in (receipt or "")
    output = "\n".join(runner.lines)
    assert "Traceback" not in output
    assert "receipt recorded after" in output
    # Everything recorded: the runner's journal file went away when it stopped.
    assert list((tmp_path / "state").glob("receipts-*.jsonl")) == []


@pytest.mark.slow
def test_runner_killed_while_the_database_is_down_is_replayed(tmp_path, postgres, database):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    with Receiver() as receiver:
        schedule_one(project, elsewhere, database, receiver.url)
        runner = cut_database_after_the_answer(receiver, postgres, database, elsewhere)
        runner.finish(signal.SIGKILL)
        assert len(list((tmp_path / "state").glob("receipts-*.jsonl"))) == 1
        postgres.start()
        # Past the dead runner's lease: without the journal the delivery would be
        # taken over in doubt and held (its adapter cannot ask the network).
        time.sleep(2.5)
        run(
            "run",
            "--db",
            database,
            "--until-idle",
            "--lease",
            "2",
            "-q",
            "--state-dir",
            "../state",
            cwd=elsewhere,
        )
        [(key, state, receipt)] = state_of(database)
        assert receiver.keys() == [key], "not exactly one request at the network"
        assert state == "published" and receiver.posts[0][1] in (receipt or "")
        assert last_reason(database, key) == RECOVERED
    assert list((tmp_path / "state").glob("receipts-*.jsonl")) == []
