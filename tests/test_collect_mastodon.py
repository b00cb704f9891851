"""Issue 23, Done when (collection half): posts published through the Mastodon adapter
to a local fake Mastodon (a real HTTP server on 127.0.0.1 whose statuses carry known
favourites, boosts and replies) are collected by `socialsched collect`, run as users run
it (the console script, from another folder, a relative --db); the store then holds the
sums computed here from what the fake server was sent. Running it again at once asks
the server nothing."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

import socialsched
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.testing import LocalServer, Reply, Request

TOKEN_VARIABLE = "MASTODON_COLLECT_TOKEN"
THREAD = (
    "Le salon ouvre ses portes mardi à dix heures, hall 4, stand B12, avec nos nouveautés "
    "de printemps et une démonstration toutes les heures. "
) * 5


class FakeMastodon(LocalServer):
    """Statuses posted get ids 101, 102, ...; the audience gave each status `n`
    n % 7 + 1 favourites, n % 3 boosts and n % 5 replies (`counts`). As on Mastodon,
    `replies_count` also counts the statuses posted in reply to it (a thread's next
    part). Shown by `GET /api/v1/statuses?id[]=...` (no quotes_count: a server before
    4.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, str] = {}  # status id -> Idempotency-Key
        self.replied_to: dict[str, int] = {}  # status id -> statuses posted in reply

    @staticmethod
    def counts(status_id: str) -> dict[str, int]:
        """What the audience did with status `status_id`."""
        n = int(status_id)
        return {"favourites_count": n % 7 + 1, "reblogs_count": n % 3, "replies_count": n % 5}

    def status(self, status_id: str) -> dict[str, Any]:
        counts = self.counts(status_id)
        counts["replies_count"] += self.replied_to.get(status_id, 0)
        return {"id": status_id, "url": f"{self.url}/@shop/{status_id}", **counts}

    def respond(self, request: Request, number: int) -> Reply | None:
        url = urlsplit(request.path)
        if request.method == "POST" and url.path == "/api/v1/statuses":
            status_id = str(101 + len(self.statuses))
            self.statuses[status_id] = request.header("Idempotency-Key") or ""
            reply_to = (request.json() or {}).get("in_reply_to_id")
            if reply_to is not None:
                self.replied_to[str(reply_to)] = self.replied_to.get(str(reply_to), 0) + 1
            return Reply(200, self.status(status_id))
        if request.method == "GET" and url.path == "/api/v1/statuses":
            wanted = parse_qs(url.query).get("id[]", [])
            return Reply(200, [self.status(i) for i in wanted if i in self.statuses])
        return Reply(404, {"error": "Record not found"})

    def engagement_requests(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]


def calendar_text(instance: str, day: str, at: str) -> str:
    return f"""
[calendar]
name = "salon"

[[segment]]
name = "paris"
locale = "fr-FR"
timezone = "Europe/Paris"
country = "FR"

[[segment]]
name = "madrid"
locale = "es-ES"
timezone = "Europe/Madrid"
country = "ES"

[[channel]]
name = "fedi"
adapter = "mastodon"
secrets = {{ token = "{TOKEN_VARIABLE}" }}
settings = {{ instance = "{instance}", instance_limits = false }}

[[post]]
id = "salon"
dates = ["{day}"]
at = "{at}"
thread = "auto"
text = "{THREAD.strip()}"

[[post]]
id = "stand"
dates = ["{day}"]
at = "{at}"
text = "Stand B12, hall 4."
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def console_script() -> str:
    beside = Path(sys.executable).parent / "socialsched"
    assert beside.exists(), "the socialsched console script is not installed"
    return str(beside)


@pytest.fixture
def server():
    with FakeMastodon() as fake:
        yield fake


def publish(tmp_path: Path, server: FakeMastodon) -> tuple[Path, datetime, list[Any]]:
    """The calendar's four deliveries published through the Mastodon adapter three
    hours ago (1 h old, not 24 h): its folder, that time and the records."""
    # Paris and Madrid share an offset: every delivery goes out at one instant.
    published = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    local = published.astimezone(ZoneInfo("Europe/Paris"))
    folder = tmp_path / "salon"
    folder.mkdir()
    path = folder / "calendar.toml"
    path.write_text(
        calendar_text(server.url, f"{local:%Y-%m-%d}", f"{local:%H:%M}"), encoding="utf-8"
    )
    calendar = socialsched.load(path)
    clock = Clock(published - timedelta(minutes=10))
    with Store(folder / "outbox.db", clock=clock) as store:
        schedule(store, calendar, local.date(), local.date())
        store.approve_channels()
        clock.now = published
        Runner(store, sleep=clock.sleep).run_until_idle()
        records = store.records("published")
    (tmp_path / "elsewhere").mkdir()
    return folder, published, records


def collect(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`socialsched collect` from another folder than the store's, with a relative --db."""
    return subprocess.run(
        [console_script(), "collect", "--db", "../salon/outbox.db", *options],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.mark.slow
def test_collect_stores_what_mastodon_counts_and_again_at_once_asks_nothing(
    tmp_path: Path, server: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"SOCIALSCHED_SECRET_{TOKEN_VARIABLE}", "token-e2e")
    folder, published, records = publish(tmp_path, server)
    assert len(records) == 4 and {r.post for r in records} == {"salon", "stand"}
    assert all(len(r.parts) > 1 for r in records if r.post == "salon")
    # Each thread part after the first replied to the one before: Mastodon counts those.
    assert sum(server.replied_to.values()) == sum(len(r.parts) - 1 for r in records if r.parts)

    # Expected, from what the server received: each delivery's statuses by the
    # Idempotency-Key the runner sent ("id" for a post or a thread's first part,
    # "id#n" for part n), their counts summed.
    by_delivery: dict[str, list[str]] = {}
    for status_id, key in server.statuses.items():
        by_delivery.setdefault(key.split("#")[0], []).append(status_id)
    names = {"likes": "favourites_count", "reposts": "reblogs_count", "replies": "replies_count"}
    expected = {
        delivery: {
            ours: sum(server.counts(s)[theirs] for s in statuses) for ours, theirs in names.items()
        }
        for delivery, statuses in by_delivery.items()
    }
    assert set(expected) == {r.id for r in records}
    assert sum(len(s) for s in by_delivery.values()) == sum(max(1, len(r.parts)) for r in records)

    first = collect(tmp_path, "--format", "json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["collected"], report["snapshots"], report["not_found"]) == (4, 4, 0)
    assert report["per_channel"] == {
        "fedi": {"collected": 4, "snapshots": 4, "not_found": 0, "skipped": 0}
    }
    assert report["left"] == 0 and report["stopped"] == []
    # One request for every status (at most 20 ids a request on Mastodon).
    (asked,) = server.engagement_requests()
    asked_ids = parse_qs(urlsplit(asked.path).query)["id[]"]
    assert sorted(asked_ids) == sorted(server.statuses)

    with Store(folder / "outbox.db") as store:
        facts = {fact.delivery_id: fact for fact in store.engagement_facts()}
        snapshots = store.engagement_snapshots()
    assert len(snapshots) == 4
    for delivery, counts in expected.items():
        fact = facts[delivery]
        got = fact.engagement.counts()
        assert {name: got[name] for name in names} == counts
        assert (got["quotes"], got["views"], got["clicks"]) == (None, None, None)
        assert fact.parts == len(by_delivery[delivery])
        assert fact.age == timedelta(hours=1)
        assert fact.published_at == published
    per_segment: dict[str, int] = {}
    for record in records:
        per_segment[record.segment] = per_segment.get(record.segment, 0) + sum(
            expected[record.id].values()
        )
    stored: dict[str, int] = {}
    for fact in facts.values():
        total = sum(v for k, v in fact.engagement.counts().items() if v is not None)
        stored[fact.segment] = stored.get(fact.segment, 0) + total
    assert stored == per_segment

    again = collect(tmp_path, "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["collected"] == 0 and json.loads(again.stdout)["calls"] == 0
    assert len(server.engagement_requests()) == 1  # nothing more was asked

    text = collect(tmp_path)
    assert text.returncode == 0, text.stderr
    assert (
        text.stdout.splitlines()[0]
        == "collected 0: 0 snapshots, 0 no longer on their network (0 calls)"
    )


def test_a_server_in_trouble_stops_the_channel_with_a_message_and_status_1(
    tmp_path: Path, server: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"SOCIALSCHED_SECRET_{TOKEN_VARIABLE}", "token-e2e")
    publish(tmp_path, server)
    server.reply(Reply(503, {"error": "down for maintenance"}))
    failed = collect(tmp_path)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    (line,) = failed.stderr.splitlines()  # one line, in the adapter's words
    assert line.startswith(f"error: channel fedi: mastodon {server.url} answered 503")
    assert "down for maintenance" in line and line.endswith("; try again later (4 left)")
    assert failed.stdout.splitlines()[-1] == "4 still due"
    # Nothing was lost: the next run collects all four.
    again = collect(tmp_path, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["snapshots"] == 4


def test_on_a_terminal_collect_shows_its_progress(
    tmp_path: Path, server: FakeMastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"SOCIALSCHED_SECRET_{TOKEN_VARIABLE}", "token-e2e")
    publish(tmp_path, server)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [console_script(), "collect", "--db", "../salon/outbox.db"],
            cwd=tmp_path / "elsewhere",
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        out, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert b"collecting" in shown and b"100%" in shown
    assert out.splitlines()[0].startswith("collected 4: 4 snapshots")
