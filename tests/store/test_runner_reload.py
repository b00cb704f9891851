"""SIGHUP applies before the next delivery, even in the middle of a claimed batch: the
deliveries after the one in flight go out through adapters set up from the re-read
channel table, in the same pass (in process, and to a runner process as an operator
signals it)."""

from __future__ import annotations

import fcntl
import json
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from runner_process import RunnerProcess, socialsched

from conftest import Recorder, calendar, post
from socialsched import scheduling
from socialsched.adapters import Message, Receipt
from socialsched.calendar.model import Channel
from socialsched.runner import Runner
from socialsched.store import Store


def feed(path: str) -> Channel:
    return Channel(name="feed", adapter="jsonl", settings={"path": path})


def test_sighup_mid_batch_applies_before_the_next_delivery(store, clock):
    posts = [post(f"p{index}", "05:59") for index in range(3)]  # 6 deliveries: 2 segments
    old = calendar(posts, channels=[feed("/srv/old.jsonl")])
    scheduling.schedule(store, old, "2027-01-04", "2027-01-04")
    sent: list[tuple[str, str]] = []  # (the adapter's path setting, idempotency key)
    runner: Runner

    class Adapter(Recorder):
        def publish(self, message: Message, idempotency_key: str) -> Receipt:
            sent.append((self.channel.settings["path"], idempotency_key))
            if len(sent) == 1:
                # While the first delivery is in flight: the operator changes the
                # channel and sends SIGHUP (the handler the runner installs).
                new = attrs.evolve(old, channels=[feed("/srv/new.jsonl")])
                scheduling.schedule(store, new, "2027-01-04", "2027-01-04")
                runner._on_hangup(signal.SIGHUP, None)
            return super().publish(message, idempotency_key)

    def adapters(channel: Channel) -> Any:
        return Adapter(channel)

    runner = Runner(store, adapters=adapters, batch=50, sleep=clock.sleep)
    assert runner.dispatch() == 6  # one pass, one claimed batch
    assert [path for path, _ in sent] == ["/srv/old.jsonl"] + ["/srv/new.jsonl"] * 5
    published = store.records("published")
    assert sorted(key for _, key in sent) == sorted(r.id for r in published)
    assert len(published) == 6


def test_without_sighup_the_batch_keeps_its_adapter(store, clock):
    # The control: a changed channel table alone changes nothing mid-batch.
    posts = [post(f"p{index}", "05:59") for index in range(2)]
    old = calendar(posts, channels=[feed("/srv/old.jsonl")])
    scheduling.schedule(store, old, "2027-01-04", "2027-01-04")
    paths: list[str] = []

    class Adapter(Recorder):
        def publish(self, message: Message, idempotency_key: str) -> Receipt:
            paths.append(self.channel.settings["path"])
            if len(paths) == 1:
                new = attrs.evolve(old, channels=[feed("/srv/new.jsonl")])
                scheduling.schedule(store, new, "2027-01-04", "2027-01-04")
            return super().publish(message, idempotency_key)

    runner = Runner(store, adapters=lambda channel: Adapter(channel), sleep=clock.sleep)
    assert runner.dispatch() == 4
    assert paths == ["/srv/old.jsonl"] * 4


def test_sighup_to_a_runner_process_mid_batch(tmp_path):
    """As an operator does it: the runner is publishing a claimed batch (its first
    delivery waits for the file lock the test holds), the channel moves to a new file,
    `schedule` runs, SIGHUP; the rest of the batch goes to the new file."""
    due = datetime.now(UTC) - timedelta(minutes=1)
    folder = tmp_path / "calendar"
    folder.mkdir()

    def write(path: str) -> None:
        (folder / "calendar.toml").write_text(
            '[calendar]\nname = "reload"\n\n'
            '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n\n'
            f'[[channel]]\nname = "feed"\nadapter = "jsonl"\nsettings = {{ path = "{path}" }}\n'
            + "".join(
                f'\n[[post]]\nid = "p{index}"\ntext = "post {index}"\n'
                f'dates = ["{due:%Y-%m-%d}"]\nat = "{due:%H:%M}"\nlate = "publish"\n'
                for index in range(4)
            ),
            encoding="utf-8",
        )

    def schedule() -> None:
        socialsched(
            "schedule", "../calendar/calendar.toml", "--db", "../outbox.db",
            "--start", f"{due:%Y-%m-%d}", "--end", f"{due:%Y-%m-%d}", cwd=ops,
        )  # fmt: skip

    def keys(name: str) -> list[str]:
        path = folder / name
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["idempotency_key"] for line in lines]

    ops = tmp_path / "ops"
    ops.mkdir()
    write("old.jsonl")
    schedule()
    with (folder / "old.jsonl").open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the first publication waits for this lock
        with RunnerProcess(
            ["--db", "../outbox.db", "--poll", "0.2", "--batch", "10"], cwd=ops
        ) as runner:
            with Store(tmp_path / "outbox.db") as store:
                runner.wait_for(
                    lambda: store.status().counts.get("claimed") == 4, "the batch claimed"
                )
                write("new.jsonl")
                schedule()
                runner.signal(signal.SIGHUP)
                runner.wait_for_line("SIGHUP: re-reading the channel table")
                fcntl.flock(held, fcntl.LOCK_UN)
                runner.wait_for(
                    lambda: store.status().counts.get("published") == 4, "the batch published"
                )
            runner.signal(signal.SIGTERM)
            assert runner.wait() == 0, runner.output
    old, new = keys("old.jsonl"), keys("new.jsonl")
    assert len(old) == 1 and len(new) == 3 and len(set(old + new)) == 4
    reread = [line for line in runner.lines if "channel table re-read" in line]
    assert len(reread) == 1
