"""Alerts through ordinary channels: grouped per kind and channel, at most one message
per window, for failed and missed deliveries, credential holds, deliveries in doubt and
a database the runner cannot reach. The alert channel is a real jsonl file."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy.exc import OperationalError

from conftest import Recorder, calendar, post
from socialsched.adapters import JsonlAdapter, PermanentError
from socialsched.calendar.model import Channel, RunnerSettings
from socialsched.runner import Runner
from socialsched.runner.alerts import Alert, Alerter
from socialsched.scheduling import schedule
from socialsched.store import Store

FEED = Channel(name="feed", adapter="jsonl", settings={"path": "/nonexistent/feed.jsonl"})


def ops_channel(folder: Path) -> Channel:
    return Channel(name="ops", adapter="jsonl", settings={"path": str(folder / "ops.jsonl")})


def alerts_in(folder: Path) -> list[dict[str, Any]]:
    path = folder / "ops.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def alerting_calendar(folder: Path, posts, window: str = "15min"):
    cal = calendar(posts, channels=[FEED, ops_channel(folder)])
    return attrs.evolve(cal, runner=RunnerSettings(alert_channels=["ops"], alert_window=window))


def make_runner(store: Store, clock, feed: Recorder) -> Runner:
    def adapters(channel: Channel):
        return feed if channel.name == "feed" else JsonlAdapter(channel)

    return Runner(store, adapters=adapters, sleep=clock.sleep, rng=random.Random(5))


def test_an_outage_of_many_failures_sends_one_message(store, clock, tmp_path):
    posts = [post(f"p{i}", "05:30") for i in range(15)]  # 30 deliveries: 15 x 2 segments
    schedule(store, alerting_calendar(tmp_path, posts), "2027-01-04", "2027-01-04")
    feed = Recorder(FEED)
    feed.failures = [PermanentError("feed.example: HTTP 422 rejected") for _ in range(30)]
    make_runner(store, clock, feed).run_until_idle()

    failed = store.records("failed")
    assert len(failed) == 30
    [alert] = alerts_in(tmp_path)
    assert alert["channel"] == "ops" and alert["tags"] == ["alert", "failed"]
    assert alert["text"].startswith(
        f"socialsched alert: {len(failed)} deliveries failed on channel feed of calendar cal"
    )
    assert "HTTP 422 rejected" in alert["text"]
    # No posts went to the alert channel: it is not a publishing target.
    assert {r.channel for r in store.records()} == {"feed"}


def test_missed_deliveries_are_reported_with_their_count(store, clock, tmp_path):
    schedule(store, alerting_calendar(tmp_path, [post("a", "03:00")]), "2027-01-04", "2027-01-04")
    clock.advance(hours=2)  # three hours late, the grace is one
    make_runner(store, clock, Recorder(FEED)).run_until_idle()
    missed = store.records("missed")
    assert len(missed) == 2
    [alert] = alerts_in(tmp_path)
    assert alert["tags"] == ["alert", "missed"]
    assert f"{len(missed)} deliveries were missed" in alert["text"]
    assert all(record.id in alert["text"] for record in missed)


def test_no_alert_channels_no_alerts(store, clock, tmp_path):
    # Without [runner] alert_channels, "ops" is an ordinary channel: posts name "feed".
    cal = calendar([post("a", "05:30", channels=["feed"])], channels=[FEED, ops_channel(tmp_path)])
    schedule(store, cal, "2027-01-04", "2027-01-04")
    feed = Recorder(FEED)
    feed.failures = [PermanentError("no"), PermanentError("no")]
    runner = make_runner(store, clock, feed)
    runner.run_until_idle()
    assert len(store.records("failed")) == 2
    assert alerts_in(tmp_path) == [] and runner.alerts.sent == 0


class _LosesDatabase:
    """A store whose database goes away for `failures` passes (after the first query)."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def take_over_expired(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))
        return self._store.take_over_expired(*args, **kwargs)


def test_a_lost_database_is_reported_once_then_recovered(store, clock, tmp_path):
    schedule(store, alerting_calendar(tmp_path, [post("a", "18:00")]), "2027-01-04", "2027-01-04")
    flaky = _LosesDatabase(store, failures=6)
    runner = make_runner(flaky, clock, Recorder(FEED))  # type: ignore[arg-type]
    lost_at = clock.now
    runner.run_until_idle()
    alerts = alerts_in(tmp_path)
    # The first failure at once; the five after it, within the window, are held back,
    # then dropped when the database answers again: "unreachable" sent at exit would
    # describe a state that has ended. "recovered" says how long it lasted instead.
    assert [a["tags"] for a in alerts] == [["alert", "database"], ["alert", "recovered"]]
    assert "cannot reach its database (1 failed attempt(s)" in alerts[0]["text"]
    assert "ConnectionRefusedError: connection refused" in alerts[0]["text"]
    back_at = lost_at + timedelta(seconds=1 + 2 + 4 + 8 + 16 + 32)  # the backoff slept
    assert alerts[1]["text"] == (
        f"socialsched alert: recovered: runner {runner.worker} reaches its database again "
        f"(unreachable from {lost_at:%Y-%m-%d %H:%M:%S} to {back_at:%H:%M:%S} UTC, 6 failed "
        "attempt(s))."
    )


# ---- the grouping itself, with a hand-moved clock ----


class Sent:
    """An alert channel's adapter that keeps what it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.texts: list[str] = []
        self.fail = fail

    def publish(self, message, key):
        if self.fail:
            raise PermanentError("ops channel down")
        self.texts.append(message.text)


def alerter(clock, sent: Sent, window=timedelta(minutes=10)) -> Alerter:
    ops = Channel(name="ops", adapter="console")
    alerts = Alerter(lambda calendar, channel: sent, clock, "w1")  # type: ignore[arg-type, return-value]
    alerts.configure(
        {"cal": RunnerSettings(alert_channels=["ops"], alert_window=window)},
        {("cal", "ops"): ops},
    )
    return alerts


def test_one_message_per_group_per_window(clock):
    sent = Sent()
    alerts = alerter(clock, sent)
    for index in range(5):
        alerts.report(Alert("failed", "cal", "feed", "HTTP 500", f"d{index}"))
    alerts.report(Alert("held", "cal", "feed", "credentials rejected: HTTP 401"))
    assert alerts.flush() == 2  # one per (kind, channel)
    assert "5 deliveries failed on channel feed" in sent.texts[0]
    assert "(d0, d1, d2, d3, d4)." in sent.texts[0]
    assert "resume --channel feed" in sent.texts[1]
    # A thousand more within the window: counted, not sent.
    for minute in range(9):
        clock.advance(minutes=1)
        for index in range(111):
            alerts.report(Alert("failed", "cal", "feed", "HTTP 500", f"e{minute}-{index}"))
        assert alerts.flush() == 0
    clock.advance(minutes=1)  # the window has passed: one summary
    assert alerts.flush() == 1
    assert "999 deliveries failed" in sent.texts[-1] and sent.texts[-1].endswith(
        "Last error: HTTP 500"
    )
    # Quiet for a whole window: the next alert goes out at once again.
    clock.advance(minutes=10)
    assert alerts.flush() == 0
    alerts.report(Alert("failed", "cal", "feed", "HTTP 500", "f1"))
    assert alerts.flush() == 1 and "1 deliveries failed" in sent.texts[-1]
    assert len(sent.texts) == 4


def test_exiting_sends_what_the_window_held_back_and_a_broken_channel_is_survived(clock):
    sent = Sent()
    alerts = alerter(clock, sent)
    alerts.report(Alert("doubt", "cal", "feed", "in doubt", "d1"))
    alerts.flush()
    alerts.report(Alert("doubt", "cal", "feed", "in doubt", "d2"))
    assert alerts.flush() == 0
    assert alerts.flush(final=True) == 1
    assert "resolve ID --sent" in sent.texts[-1] and "d2" in sent.texts[-1]

    broken = alerter(clock, Sent(fail=True))
    broken.report(Alert("failed", "cal", "feed", "x", "d1"))
    assert broken.flush() == 0  # logged, not raised


def test_alerts_of_an_unknown_calendar_or_without_channels_are_dropped(clock):
    sent = Sent()
    alerts = alerter(clock, sent)
    alerts.report(Alert("failed", "other", "feed", "x", "d1"))
    assert alerts.flush() == 0 and sent.texts == []
    # The database concerns every calendar: it goes to all alert channels.
    alerts.report(Alert("database", detail="refused"))
    assert alerts.flush() == 1 and "runner w1 cannot reach its database" in sent.texts[0]


def test_the_store_keeps_each_calendars_runner_settings(store, tmp_path):
    cal = alerting_calendar(tmp_path, [post("a")], window="30min")
    schedule(store, cal, "2027-01-04", "2027-01-04")
    assert store.runner_settings() == {
        "cal": RunnerSettings(alert_channels=("ops",), alert_window=timedelta(minutes=30))
    }
    schedule(store, attrs.evolve(cal, runner=RunnerSettings()), "2027-01-04", "2027-01-04")
    assert store.runner_settings() == {"cal": RunnerSettings()}


# ---- recovered: a state that ends is said to have ended ----


def test_a_held_channel_resumed_is_recovered_and_held_back_alerts_are_dropped(clock):
    from socialsched.store import CREDENTIALS_REJECTED, Hold, HoldEntry

    sent = Sent()
    alerts = alerter(clock, sent)
    held_at = clock.now
    alerts.report(Alert("held", "cal", "feed", f"{CREDENTIALS_REJECTED}: HTTP 401"))
    assert alerts.flush() == 1 and "channel feed of calendar cal is held" in sent.texts[0]
    # Held again within the window (another delivery, same channel): held back...
    clock.advance(minutes=1)
    alerts.report(Alert("held", "cal", "feed", f"{CREDENTIALS_REJECTED}: HTTP 401"))
    assert alerts.flush() == 0
    # ...while the hold stays in force, nothing is recovered.
    whole_channel = HoldEntry(Hold(channel="feed"), "credentials rejected", "runner", held_at)
    some_of_it = HoldEntry(Hold(channel="feed", tag="promo"), "quiet", "operator", held_at)
    alerts.holds_in_force([whole_channel])
    assert alerts.flush(final=True) == 1 and "is held" in sent.texts[-1]
    clock.advance(minutes=1)
    alerts.report(Alert("held", "cal", "feed", f"{CREDENTIALS_REJECTED}: HTTP 401"))
    # Resumed: the held-back "held" is not sent (it is no longer true); "recovered" is.
    clock.advance(minutes=2)
    alerts.holds_in_force([some_of_it])  # a pause of some posts is not the channel held
    assert alerts.flush(final=True) == 1
    assert sent.texts[-1] == (
        "socialsched alert: recovered: channel feed of calendar cal is no longer held (held "
        f"from {held_at:%Y-%m-%d %H:%M:%S} to {clock.now:%H:%M:%S} UTC); its deliveries go "
        "out again."
    )
    assert len(sent.texts) == 3
    # Said once: nothing more to recover.
    alerts.holds_in_force([])
    assert alerts.flush(final=True) == 0 and alerts.recovered("held", "cal", "feed") is False


def test_a_recovered_alert_waiting_for_its_window_is_dropped_when_the_trouble_returns(clock):
    sent = Sent()
    alerts = alerter(clock, sent)
    alerts.report(Alert("database", detail="refused"))
    assert alerts.flush() == 1  # down: at once
    clock.advance(seconds=30)
    assert alerts.recovered("database") is True
    assert alerts.flush() == 1 and sent.texts[-1].startswith("socialsched alert: recovered: ")
    clock.advance(seconds=30)
    alerts.report(Alert("database", detail="refused again"))  # down: window not passed
    clock.advance(seconds=30)
    assert alerts.recovered("database") is True  # up: window not passed either
    clock.advance(seconds=30)
    alerts.report(Alert("database", detail="refused a third time"))  # down again
    # Exiting while it is down: what is sent says it is down, and nothing says it is up.
    assert alerts.flush(final=True) == 1
    assert "cannot reach its database (1 failed attempt(s)" in sent.texts[-1]
    assert "refused a third time" in sent.texts[-1]
    assert len(sent.texts) == 3


def test_nothing_is_recovered_that_was_never_reported(clock):
    sent = Sent()
    alerts = alerter(clock, sent)
    assert alerts.recovered("database") is False
    assert alerts.recovered("held", "cal", "feed") is False
    assert alerts.flush(final=True) == 0 and sent.texts == []


def test_a_runner_says_recovered_when_a_held_channel_is_resumed(store, clock, tmp_path):
    from socialsched.adapters import CredentialsRejected

    posts = [post("a", "05:30"), post("b", "07:30")]
    schedule(store, alerting_calendar(tmp_path, posts), "2027-01-04", "2027-01-04")
    feed = Recorder(FEED)
    feed.failures = [CredentialsRejected("feed.example: HTTP 401 bad token")]
    runner = make_runner(store, clock, feed)
    runner.dispatch()  # the 05:30 deliveries: the channel is held
    assert [a["tags"] for a in alerts_in(tmp_path)] == [["alert", "held"]]
    clock.advance(hours=1)
    runner.dispatch()
    assert len(alerts_in(tmp_path)) == 1  # still held: nothing new
    store.resume(channel="feed")
    runner.dispatch()
    alerts = alerts_in(tmp_path)
    assert [a["tags"] for a in alerts] == [["alert", "held"], ["alert", "recovered"]]
    assert "channel feed of calendar cal is no longer held" in alerts[1]["text"]
    assert len(feed.published) == 2  # the two 05:30 deliveries went out once resumed
