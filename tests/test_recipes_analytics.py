"""The analytics recipe (docs/recipes/which-market-answers): its calendar plans the
experiment its page describes, and the page's sessions are what the commands print
on a store where its deliveries went out and were answered as the page says.

Expected plans come from the recipe file read as plain TOML and zoneinfo; the answers
are made here (`answers`), collected through an adapter giving them (by the runner
as it publishes, then by `socialsched collect`'s Collector), and the
numbers checked with statistics, never with the report code.
"""

from __future__ import annotations

import random
import re
import shlex
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import socialsched
from socialsched.adapters import Adapter, Capabilities, Message, Receipt
from socialsched.adapters.engagement import COUNTS, Engagement
from socialsched.adapters.registry import adapter_class
from socialsched.analytics.collect import Collector
from socialsched.cli import main
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store

RECIPE = Path(__file__).resolve().parents[1] / "docs" / "recipes" / "which-market-answers"
#: What each market answers at each local hour (the likes of an average day); the
#: page tells the story these numbers make.
BASE = {
    "madrid": {8: 4, 13: 12, 19: 30},
    "mexico-city": {8: 6, 13: 25, 19: 10},
    "new-york": {8: 20, 13: 9, 19: 5},
}


def raw() -> dict[str, Any]:
    return tomllib.loads((RECIPE / "calendar.toml").read_text(encoding="utf-8"))


def answers(segment: str, channel: str, local: datetime) -> dict[str, int | None]:
    """The counts the networks give for a delivery that went out at `local`."""
    base = BASE[segment][local.hour]
    return {
        "likes": base + local.day % 4,
        "reposts": base // 4,
        "replies": local.day % 3,
        # Bluesky counts quotes; a Mastodon server before 4.5 does not.
        "quotes": local.day % 2 if channel == "bluesky" else None,
        "views": None,
        "clicks": None,
    }


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sent(Adapter):
    """Takes every message (the recipe's networks, without a network) and answers
    engagement with `counts[delivery id]`, fetched at the clock's time."""

    name = "sent"
    capabilities = Capabilities(audiences=("any",), idempotent=True, engagement=COUNTS)

    def __init__(self, channel: Any, counts: dict[str, dict[str, Any]], clock: Clock) -> None:
        super().__init__(channel)
        self.counts = counts
        self.clock = clock

    @classmethod
    def destinations(cls, channel: Any, environ: Any = None) -> dict[str, str]:
        # Where the recipe's own adapter would send its secrets: what was approved.
        return adapter_class(channel.adapter).destinations(channel, environ)

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        return Receipt(remote_id=idempotency_key)

    def engagement(self, receipts: Sequence[Receipt]) -> dict[str, Engagement]:
        return {
            r.remote_id: Engagement(fetched_at=self.clock.now, **self.counts[r.remote_id])
            for r in receipts
        }


def first_and_last() -> tuple[date, date]:
    posts = raw()["post"]
    return (
        min(date.fromisoformat(p["start"]) for p in posts),
        max(date.fromisoformat(p["end"]) for p in posts),
    )


@pytest.fixture(scope="module")
def answered(tmp_path_factory) -> tuple[Path, list[Any]]:
    """A store where the recipe's two weeks went out, each delivery at its planned
    time, and were answered as `answers` says, collected 7 days on: its path and the
    published records."""
    folder = tmp_path_factory.mktemp("which-market-answers")
    first, last = first_and_last()
    calendar = socialsched.load(RECIPE / "calendar.toml")
    clock = Clock(datetime.combine(first, datetime.min.time(), tzinfo=UTC) - timedelta(days=1))
    path = folder / "socialsched.db"
    with Store(path, clock=clock) as store:
        schedule(store, calendar, first, last)
        store.approve_channels()
        counts = {r.id: answers(r.segment, r.channel, r.local) for r in store.records()}

        def sent(channel: Any) -> Sent:
            return Sent(channel, counts, clock)

        # The runner publishes, and collects by age on its own as it goes.
        for moment in sorted({r.utc for r in store.records()}):
            clock.now = moment
            Runner(store, adapters=sent, sleep=clock.sleep, rng=random.Random(1)).run_until_idle()
        # Then `socialsched collect`, 7 days after the last tips.
        clock.now = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(days=9)
        Collector(store, lambda calendar, channel: sent(channel)).collect()
        records = store.records("published")
    return path, records


def test_the_experiment_posts_at_three_local_hours_in_each_market_on_weekdays():
    data = raw()
    first, last = first_and_last()
    planned = socialsched.plan(socialsched.load(RECIPE / "calendar.toml"), first, last)
    expected = set()
    for post in data["post"]:
        hour = int(post["schedule"].split()[1])
        for seg in data["segment"]:
            zone = ZoneInfo(seg["timezone"])
            day = date.fromisoformat(post["start"])
            while day <= date.fromisoformat(post["end"]):
                if day.weekday() < 5:
                    moment = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
                    for channel in data["channel"]:
                        expected.add((post["id"], seg["name"], channel["name"], moment))
                day += timedelta(days=1)
    assert {(d.post, d.segment, d.channel, d.local) for d in planned} == expected


def test_every_delivery_went_out_and_was_answered(answered):
    _, records = answered
    first, last = first_and_last()
    weekdays = sum(
        (first + timedelta(days=n)).weekday() < 5 for n in range((last - first).days + 1)
    )
    assert len(records) == weekdays * 3 * 3 * 2  # days, hours, markets, networks


def _sessions() -> list[tuple[str, str]]:
    page = (RECIPE / "index.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```console\n(.*?)```", page, re.S):
        for session in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, shown = session.split("\n", 1)
            found.append((command, shown))
    return found


def test_the_page_sessions_are_what_the_commands_print(answered, tmp_path, monkeypatch):
    path, _ = answered
    sessions = _sessions()
    assert [shlex.split(c)[1] for c, _ in sessions] == [
        "report",
        "report",
        "suggest-times",
        "suggest-times",
        "suggest-times",
        "report",
    ]
    monkeypatch.chdir(tmp_path)  # another folder than the store's
    runner = CliRunner(env={"SOCIALSCHED_DB": str(path), "COLUMNS": "200"})
    for command, shown in sessions:
        result = runner.invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
        assert result.output == shown, command
    assert (tmp_path / "report.html").is_file()


def test_the_story_the_page_tells_is_in_the_numbers(answered):
    """Each market's best local hour, as the page names it, has the highest median
    score (likes + reposts + replies + quotes) of the three."""
    _, records = answered
    page = " ".join((RECIPE / "index.md").read_text(encoding="utf-8").split())
    scores: dict[tuple[str, int], list[int]] = defaultdict(list)
    for record in records:
        counts = answers(record.segment, record.channel, record.local)
        scores[record.segment, record.local.hour].append(
            sum(counts[n] or 0 for n in ("likes", "reposts", "replies", "quotes"))
        )
    for segment in BASE:
        best = max(BASE[segment], key=lambda hour: statistics.median(scores[segment, hour]))
        assert f"**{segment}** answers best at **{best:02d}:00**" in page, segment


def test_the_suggested_queues_lint_in_the_recipe_calendar(answered, tmp_path, monkeypatch):
    path, _ = answered
    runner = CliRunner(env={"SOCIALSCHED_DB": str(path)})
    toml_out = runner.invoke(
        main,
        ["suggest-times", "madrid", "mexico-city", "new-york", "--top", "2", "--format", "toml"],
    )
    assert toml_out.exit_code == 0, toml_out.output
    calendar = tmp_path / "calendar.toml"
    calendar.write_text(
        (RECIPE / "calendar.toml").read_text(encoding="utf-8")
        + "\n"
        + toml_out.stdout
        + '\n[[post]]\nid = "next-tip"\nqueue = "best-madrid"\nsegments = ["madrid"]\n'
        'text = { default = "Next tip.", es = "Otro consejo." }\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    lint = runner.invoke(
        main, ["lint", "calendar.toml", "--start", "2027-03-15", "--end", "2027-04-15"]
    )
    assert lint.exit_code == 0, lint.output
    queues = {q["name"]: q["times"] for q in tomllib.loads(toml_out.stdout)["queue"]}
    assert set(queues) == {"best-madrid", "best-mexico-city", "best-new-york"}
