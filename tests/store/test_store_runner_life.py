"""A runner's life as a service: stopping on SIGTERM or SIGINT gives unattempted claims
back at once; SIGHUP re-reads the channel table; a lost database is retried with
backoff, said in the log, and publishing resumes when it is back. Runners are started
as operators start them, from their own folder, with JSON log lines."""

from __future__ import annotations

import base64
import json
import logging
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from runner_process import RunnerProcess, get, socialsched
from sqlalchemy.exc import OperationalError

from conftest import PG_URL, require_postgres
from socialsched.runner import DATABASE_RETRY_MAX, Runner
from socialsched.store import Store
from socialsched.testing import LocalServer, Reply

KEY_ENV = {
    "SOCIALSCHED_SECRET_LIFE_SIGNING_KEY": "whsec_"
    + base64.b64encode(b"life-signing-key-0123456789").decode()
}


def write_calendar(
    folder: Path, url: str, posts: dict[str, datetime], *, approval: bool = False
) -> Path:
    """One UTC segment, one webhook channel to `url`; a post per (id, due time)."""
    folder.mkdir(exist_ok=True)
    lines = [
        '[calendar]\nname = "life"\n',
        '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n',
        f'[[channel]]\nname = "hook"\nadapter = "webhook"\nsettings = {{ url = "{url}" }}\n'
        'secrets = { signing_key = "LIFE_SIGNING_KEY" }\n',
    ]
    for post, due in posts.items():
        lines.append(
            f'[[post]]\nid = "{post}"\ntext = "{post}"\ndates = ["{due:%Y-%m-%d}"]\n'
            f'at = "{due:%H:%M}"\nlate = "publish"\n'
            + ("requires_approval = true\n" if approval else "")
        )
    path = folder / "calendar.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def schedule(
    ops: Path, db: str, posts: dict[str, datetime], env: dict[str, str] | None = None
) -> None:
    days = sorted(due.date() for due in posts.values())
    socialsched(
        "schedule", "../calendar/calendar.toml", "--db", db,
        "--start", str(days[0]), "--end", str(days[-1]), cwd=ops,
    )  # fmt: skip
    # The operator approves where the channels' secrets go (webhook URLs read from env).
    socialsched("channels", "approve", "--all", "--db", db, cwd=ops, env=env or {})


def receiver_keys(receiver: LocalServer) -> list[str | None]:
    return [request.header("Idempotency-Key") for request in receiver.requests]


# Each loop installs both handlers together: one signal per loop covers both.
@pytest.mark.parametrize(
    ("stop_signal", "until_idle"),
    [(signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["INT-run", "TERM-until-idle"],
)
def test_stopping_finishes_the_delivery_in_flight_and_gives_back_the_rest_at_once(
    tmp_path, stop_signal, until_idle
):
    due = datetime.now(UTC) - timedelta(minutes=1)
    posts = {f"p{index}": due for index in range(5)}
    with LocalServer() as receiver:
        # The first publication takes a while: the signal arrives while it is in flight.
        receiver.reply(Reply(200, {"id": "slow"}, delay=2.0))
        write_calendar(tmp_path / "calendar", f"{receiver.url}/hook", posts)
        ops = tmp_path / "ops"
        ops.mkdir()
        schedule(ops, "../outbox.db", posts)
        # A 10-minute lease: anything still claimed after the exit would stay stuck.
        options = ["--db", "../outbox.db", "--lease", "600", "--batch", "10", "--poll", "0.5"]
        with RunnerProcess(
            options + (["--until-idle"] if until_idle else []),
            cwd=ops,
            env=KEY_ENV,
            global_options=["--log-format", "json"],
        ) as runner:
            runner.wait_for(lambda: receiver.requests, "the first request")
            runner.signal(stop_signal)
            assert runner.wait() == 0, runner.output
        assert len(receiver.requests) == 1
        with Store(tmp_path / "outbox.db") as store:
            records = store.records()
            (published,) = [r for r in records if r.state == "published"]
            assert receiver_keys(receiver) == [published.id]
            rest = [r for r in records if r.id != published.id]
            assert len(rest) == 4
            assert all(r.state == "scheduled" and r.claimed_by is None for r in rest)
            assert all(r.attempts == 0 for r in rest)  # given back unattempted
            given_back = [e for e in store.log() if (e.reason or "").endswith("runner stopping")]
            assert sorted(e.delivery_id for e in given_back) == sorted(r.id for r in rest)
        (released,) = [line for line in runner.json_lines() if line["event"] == "claims_released"]
        assert "gave back 4 claimed deliveries" in released["message"]
        assert released["channel"] == "hook"
        assert "Traceback" not in runner.output


@pytest.mark.slow
def test_sighup_rereads_the_channel_table(tmp_path):
    due = datetime.now(UTC) - timedelta(minutes=1)
    posts = {"first": due, "second": due, "third": due}
    ops = tmp_path / "ops"
    ops.mkdir()
    with LocalServer() as old, LocalServer() as new:
        write_calendar(tmp_path / "calendar", f"{old.url}/hook", posts, approval=True)
        schedule(ops, "../outbox.db", posts)
        with Store(tmp_path / "outbox.db") as store:
            ids = {r.post: r.id for r in store.records()}
        with RunnerProcess(
            ["--db", "../outbox.db", "--poll", "0.3"], cwd=ops, env=KEY_ENV
        ) as runner:
            runner.wait_for_line("runner .* started")
            socialsched("approve", ids["first"], "--db", "../outbox.db", cwd=ops)
            runner.wait_for(lambda: len(old.requests) == 1, "the first post at the old URL")
            # The channel moves to a new URL: the table changes, the runner keeps the
            # adapter it set up...
            write_calendar(tmp_path / "calendar", f"{new.url}/hook", posts, approval=True)
            schedule(ops, "../outbox.db", posts)
            socialsched("approve", ids["second"], "--db", "../outbox.db", cwd=ops)
            runner.wait_for(lambda: len(old.requests) == 2, "the second post, old URL")
            # ...until SIGHUP.
            runner.signal(signal.SIGHUP)
            runner.wait_for_line("channel table re-read: 1 channel")
            socialsched("approve", ids["third"], "--db", "../outbox.db", cwd=ops)
            runner.wait_for(lambda: len(new.requests) == 1, "the third post at the new URL")
            runner.signal(signal.SIGTERM)
            assert runner.wait() == 0
        assert receiver_keys(old) == [ids["first"], ids["second"]]
        assert receiver_keys(new) == [ids["third"]]


@pytest.fixture
def pg_schema():
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield engine, schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}_away" CASCADE')
    engine.dispose()


@pytest.mark.slow
def test_a_runner_that_loses_its_database_retries_and_resumes(tmp_path, pg_schema):
    engine, schema = pg_schema
    db = f"{PG_URL}?options=-csearch_path%3D{schema}"
    due = datetime.now(UTC) - timedelta(minutes=1)
    ops = tmp_path / "ops"
    ops.mkdir()
    with LocalServer() as receiver:
        write_calendar(tmp_path / "calendar", f"{receiver.url}/hook", {"before": due})
        schedule(ops, db, {"before": due})
        with RunnerProcess(
            ["--db", db, "--poll", "0.3", "--metrics", "127.0.0.1:0"],
            cwd=ops,
            env=KEY_ENV,
            global_options=["--log-format", "json"],
        ) as runner:
            base = runner.metrics_url()
            runner.wait_for(lambda: len(receiver.requests) == 1, "the first publication")
            # Recorded too before the database goes: on a busy machine the runner may not
            # have written down the publication yet when the receiver already has it.
            with Store(db) as store:
                runner.wait_for(
                    lambda: store.status().counts.get("published") == 1, "the first record"
                )
            # The database goes away: the outbox's schema is no longer there.
            with engine.begin() as connection:
                connection.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"')

            def lost() -> list[dict]:
                return [e for e in runner.json_lines() if e["event"] == "database_unreachable"]

            runner.wait_for(lambda: len(lost()) >= 3, "three retries")
            assert runner.process.poll() is None  # still running
            waits = [float(e["message"].rsplit("retrying in ", 1)[1].rstrip("s")) for e in lost()]
            assert waits[:3] == [1.0, 2.0, 4.0]
            assert all(e["level"] == "warning" and e["error"] for e in lost())
            assert "UndefinedTable" in lost()[0]["error"]
            # The safety poll (0.3 s) does not cut the backoff short: three failures
            # take at least 1 + 2 s between them.
            first, third = (datetime.fromisoformat(lost()[i]["time"]) for i in (0, 2))
            assert third - first >= timedelta(seconds=2.9)
            assert get(f"{base}/healthz").status_code == 200
            ready = get(f"{base}/readyz")
            assert ready.status_code == 503 and "database unreachable" in ready.text
            # Back again, with a new delivery scheduled meanwhile by someone else.
            with engine.begin() as connection:
                connection.exec_driver_sql(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
            posts = {"before": due, "after": due}
            write_calendar(tmp_path / "calendar", f"{receiver.url}/hook", posts)
            schedule(ops, db, posts)
            runner.wait_for(lambda: len(receiver.requests) == 2, "the publication after")
            back = runner.wait_for_line("database reachable again")
            assert back is not None
            assert get(f"{base}/readyz").status_code == 200
            runner.signal(signal.SIGTERM)
            assert runner.wait() == 0
        assert "Traceback" not in runner.output
        with Store(db) as store:
            assert store.status().counts["published"] == 2
            assert sorted(receiver_keys(receiver)) == sorted(r.id for r in store.records())


class _FlakyStore:
    """A store whose dispatch calls fail `failures` times, as a database that went away."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def take_over_expired(self, *args: Any, **kwargs: Any) -> list[Any]:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT", {}, ConnectionRefusedError("connection refused"))
        return self._store.take_over_expired(*args, **kwargs)


def test_until_idle_backs_off_doubling_up_to_the_limit(tmp_path, caplog):
    waits: list[float] = []
    with Store(tmp_path / "outbox.db") as real:
        flaky = _FlakyStore(real, failures=9)
        runner = Runner(flaky, sleep=waits.append)  # type: ignore[arg-type]
        with caplog.at_level(logging.WARNING, logger="socialsched.runner"):
            assert runner.run_until_idle() == 0
    assert waits == [1, 2, 4, 8, 16, 32, DATABASE_RETRY_MAX, DATABASE_RETRY_MAX,
                     DATABASE_RETRY_MAX]  # fmt: skip
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        "database unreachable (ConnectionRefusedError: connection refused); retrying in 1s"
    )
    assert messages[-1] == "database reachable again after 9 failed attempt(s)"
    assert [getattr(r, "event", None) for r in caplog.records].count("database_unreachable") == 9


def test_json_lines_of_a_cli_runner_hide_secret_urls(tmp_path):
    due = datetime.now(UTC) - timedelta(minutes=1)
    secret_path = "/hook/T0KEN-in-the-path-9876543210"
    with LocalServer() as receiver:
        calendar = write_calendar(tmp_path / "calendar", "unused", {"p": due})
        text = calendar.read_text(encoding="utf-8").replace(
            'settings = { url = "unused" }\nsecrets = { signing_key = "LIFE_SIGNING_KEY" }',
            'secrets = { signing_key = "LIFE_SIGNING_KEY", url = "LIFE_HOOK_URL" }',
        )
        calendar.write_text(text, encoding="utf-8")
        ops = tmp_path / "ops"
        ops.mkdir()
        url = receiver.url + secret_path
        schedule(ops, "../outbox.db", {"p": due}, env={"SOCIALSCHED_SECRET_LIFE_HOOK_URL": url})
        # -v: httpx's request lines too (they name the URL).
        result = socialsched(
            "--log-format", "json", "run", "-v", "--until-idle", "--db", "../outbox.db",
            "--worker", "ops-1", cwd=ops, env={**KEY_ENV, "SOCIALSCHED_SECRET_LIFE_HOOK_URL": url},
        )  # fmt: skip
        assert [r.path for r in receiver.requests] == [secret_path]
    # Every line is JSON, the closing report of what the store recorded included.
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    report = entries[-1]
    assert (report["event"], report["level"]) == ("summary", "info")
    assert report["message"].startswith("published 1")
    assert report["outcomes"]["per_channel"]["hook"]["published"] == 1
    assert (
        "T0KEN" not in result.stderr
        and KEY_ENV["SOCIALSCHED_SECRET_LIFE_SIGNING_KEY"] not in result.stderr
    )
    (published,) = [e for e in entries if e["event"] == "published"]
    with Store(tmp_path / "outbox.db") as store:
        (record,) = store.records("published")
    assert (published["delivery"], published["channel"]) == (record.id, "hook")
    assert {e["worker"] for e in entries} == {"ops-1"}
    # httpx names the request URL: the secret one is replaced by its variable's name.
    assert any("[secret LIFE_HOOK_URL]" in e["message"] for e in entries)
