"""Durable receipts in one process: the journal (written before the store records a
receipt, replayed by the next runner when its writer is gone) and the runner retrying a
record the store refuses (time is an injected clock)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from conftest import Recorder, calendar, post
from socialsched import scheduling
from socialsched.adapters import Capabilities
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.runner.journal import STATE_FOLDER, Entry, Journal, default_state_dir
from socialsched.runner.receipts import RECOVERED

SETTINGS = {"path": "/nonexistent/feed.jsonl"}


class Blind(Recorder):
    """A network that cannot be asked what it got: a lost receipt would be a doubt."""

    name = "blind"
    capabilities = Capabilities(audiences=("any",), idempotent=False)


def schedule(store) -> Channel:
    channel = Channel(name="feed", adapter="jsonl", settings=SETTINGS)
    scheduling.schedule(
        store, calendar([post("a", "05:30")], channels=[channel]), "2027-01-04", "2027-01-04"
    )
    return channel


def make_runner(store, clock, adapter, folder: Path) -> Runner:
    return Runner(
        store,
        adapters=lambda channel: adapter,
        sleep=clock.sleep,
        rng=random.Random(3),
        journal=Journal(folder, store.url),
    )


def journal_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("receipts-*.jsonl"))


def test_default_state_folder(tmp_path):
    db = tmp_path / "data" / "outbox.db"
    assert default_state_dir(f"sqlite:///{db}", {}) == tmp_path / "data" / STATE_FOLDER
    systemd = {"STATE_DIRECTORY": "/var/lib/socialsched:/var/lib/other"}
    assert default_state_dir(f"sqlite:///{db}", systemd) == Path("/var/lib/socialsched")
    pg = "postgresql+psycopg://u:secret@db.example/app"
    xdg = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert default_state_dir(pg, xdg) == tmp_path / "xdg" / "socialsched"


def test_the_runner_retries_a_record_until_the_store_takes_it(store, clock, tmp_path):
    schedule(store)
    blind = Blind(Channel(name="feed", adapter="jsonl", settings=SETTINGS))
    runner = make_runner(store, clock, blind, tmp_path / "state")
    real = store.record_published
    refusals = [OperationalError("UPDATE", {}, Exception("server closed the connection"))] * 3
    journaled: list[list[str]] = []

    def record_published(record, worker, receipt, **kwargs):
        if refusals:
            # The receipt is on disk before the store is asked.
            [path] = journal_files(tmp_path / "state")
            journaled.append(path.read_text("utf-8").splitlines())
            raise refusals.pop()
        return real(record, worker, receipt, **kwargs)

    store.record_published = record_published
    started = clock.now
    runner.run_until_idle()

    assert {r.state for r in store.records()} == {"published"}
    assert len(blind.published) == 2, "sent again"
    assert runner.published == 2
    # Waited 0.5 s, 1 s, 2 s between tries (the injected clock) before it was taken.
    assert clock.now - started >= timedelta(seconds=3.5)
    first = store.records()[0].id
    assert any(f'"delivery":"{first}"' in line for lines in journaled for line in lines)
    # Everything recorded: the journal went away when the runner stopped.
    assert journal_files(tmp_path / "state") == []


def test_a_dead_runners_journal_is_replayed_before_anything_is_claimed(store, clock, tmp_path):
    schedule(store)
    first, second = store.claim("dead-worker", limit=10, lease=timedelta(minutes=2))
    assert store.mark_sending(first, "dead-worker")
    # The dead runner got the network's receipt for the first and journaled it.
    dead = Journal(tmp_path / "state", store.url)
    dead.write(Entry(first.id, None, {"remote_id": "r-1", "url": None, "extra": {}}), "dead")
    dead.close()  # the process is gone: its lock with it; the file stays (unrecorded)
    assert len(journal_files(tmp_path / "state")) == 1
    clock.advance(minutes=3)
    blind = Blind(Channel(name="feed", adapter="jsonl", settings=SETTINGS))

    make_runner(store, clock, blind, tmp_path / "state").run_until_idle()

    recovered = store.get(first.id)
    assert (recovered.state, recovered.receipt["remote_id"]) == ("published", "r-1")
    assert store.log(delivery=first.id)[-1].reason == RECOVERED
    assert not any("in doubt" in (e.reason or "") for e in store.log(delivery=first.id))
    # Only the second, never started, was sent (once, its first attempt).
    assert [key for _, key in blind.published] == [second.id]
    assert store.get(second.id).attempts == 1
    assert journal_files(tmp_path / "state") == []


def test_a_live_runners_journal_is_left_alone(store, clock, tmp_path):
    schedule(store)
    [record, _] = store.records()
    alive = Journal(tmp_path / "state", store.url)
    alive.write(Entry(record.id, None, {"remote_id": "r-1"}), "alive")
    other = Journal(tmp_path / "state", store.url)
    seen: list[Entry] = []
    assert other.replay(seen.append) == 0 and seen == []
    alive.close()
    assert other.replay(seen.append) == 1
    assert seen == [Entry(record.id, None, {"remote_id": "r-1"})]
    assert journal_files(tmp_path / "state") == []


def test_a_line_cut_short_by_a_crash_is_skipped(store, tmp_path):
    folder = tmp_path / "state"
    writer = Journal(folder, store.url)
    writer.write(Entry("d1", None, {"remote_id": "r-1"}), "w")
    writer.write(Entry("d2", 2, {"remote_id": "r-2"}), "w")
    writer.close()
    [path] = journal_files(folder)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 7])  # the last line torn
    seen: list[Entry] = []
    Journal(folder, store.url).replay(seen.append)
    assert seen == [Entry("d1", None, {"remote_id": "r-1"})]


def test_journals_of_another_database_are_not_replayed(store, tmp_path):
    other = Journal(tmp_path / "state", "sqlite:////elsewhere/other.db")
    other.write(Entry("d1", None, {"remote_id": "r-1"}), "w")
    other.close()
    seen: list[Entry] = []
    assert Journal(tmp_path / "state", store.url).replay(seen.append) == 0
    assert len(journal_files(tmp_path / "state")) == 1


def test_a_thread_part_in_a_journal_is_kept(store, tmp_path):
    schedule(store)
    [record, _] = store.records()
    dead = Journal(tmp_path / "state", store.url)
    dead.write(Entry(record.id, 1, {"remote_id": "r-part-1", "url": None, "extra": {}}), "w")
    dead.close()
    runner = Runner(store, journal=Journal(tmp_path / "state", store.url))
    assert runner.receipts.replay() == 1
    assert [p["remote_id"] for p in store.thread_receipts(record.id)] == ["r-part-1"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions")
def test_an_unwritable_state_folder_stops_the_runner_before_it_sends(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    locked = project / "locked"
    locked.mkdir(mode=0o500)
    _check_unusable(elsewhere, "../project/locked/state", "../project/locked/state")


def test_a_state_folder_that_is_a_file_is_a_clear_error(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "state").write_text("not a folder", encoding="utf-8")
    _check_unusable(elsewhere, "../project/state/receipts", "../project/state/receipts")
    # Named as the folder itself: click's own check says so.
    result = _run(elsewhere, "../project/state")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "'--state-dir'" in result.stderr and "../project/state" in result.stderr


def _check_unusable(cwd: Path, state_dir: str, named: str) -> None:
    result = _run(cwd, state_dir)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"cannot use the state folder {named}" in result.stderr


def _run(cwd: Path, state_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "socialsched",
            "run",
            "--db",
            "../project/outbox.db",
            "--until-idle",
            "--state-dir",
            state_dir,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
