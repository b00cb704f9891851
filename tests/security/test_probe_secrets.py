"""Probes of issue 20, item 1: a calendar names secrets, the operator grants them and
approves where they go.

- A calendar that names an environment variable that is not a socialsched secret
  (`secrets = { token = "ANY_ENV_VAR" }`) gets nothing: no request reaches anyone, and
  the error says which variable to rename (never its value).
- A granted secret whose destination the operator has not approved (a new channel, a
  changed `instance`) is held by the runner, reported by `lint --db`, `schedule` and
  `channels check`, and alerted; the receiver gets zero requests.

Every command runs as users run it, from another folder than the calendar's, under a
2 GiB address-space limit (`run_probe`). The receivers are real HTTP servers on
127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calendar_text import post_due, uk_segment

from socialsched.store import Store
from socialsched.testing import LocalServer

from .probe import assert_no_traceback, run_probe

TOKEN = "tok-0123456789-very-secret"
CLOUD_KEY = "AKIA-cloud-key-never-to-leave-0987"


def write_calendar(folder: Path, instance: str, secret: str, post: str = "hello") -> str:
    """A calendar with one Mastodon channel (token named `secret`, pointing at
    `instance`) and an alert channel (jsonl); one post due two minutes ago."""
    due = datetime.now(UTC) - timedelta(minutes=2)
    (folder / "calendar.toml").write_text(
        f"""
[calendar]
name = "probe"

[runner]
alert_channels = ["ops"]

{uk_segment()}

[[channel]]
name = "masto"
adapter = "mastodon"
# max_length: the instance is never asked for its limits at plan time.
settings = {{ instance = "{instance}", max_length = 500 }}
secrets = {{ token = "{secret}" }}

[[channel]]
name = "ops"
adapter = "jsonl"
settings = {{ path = "ops.jsonl" }}

{post_due(due, post)}
""",
        encoding="utf-8",
    )
    return f"{due:%Y-%m-%d}"


def probe(*args: str, cwd: Path, env: dict[str, str], code: int = 0) -> str:
    result = run_probe(*args, cwd=cwd, env=env)
    assert_no_traceback(result)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_a_calendar_naming_any_environment_variable_reads_nothing_and_sends_nothing(folders):
    project, elsewhere = folders
    env = {"SOCIALSCHED_DB": "../project/outbox.db", "AWS_SECRET_ACCESS_KEY": CLOUD_KEY}
    with LocalServer() as receiver:
        day = write_calendar(project, receiver.url, "AWS_SECRET_ACCESS_KEY")
        window = ("--start", day, "--end", day)
        said = probe("schedule", "../project/calendar.toml", *window, cwd=elsewhere, env=env)
        # The operator approves the instance; the token still is not theirs to give.
        said += probe("channels", "approve", "--all", cwd=elsewhere, env=env)
        said += probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
        checked = run_probe(
            "channels", "check", "--db", "../project/outbox.db", cwd=elsewhere, env=env
        )
        assert_no_traceback(checked)
        assert checked.returncode == 1
        said += checked.stdout + checked.stderr
        log = probe("log", "--channel", "masto", cwd=elsewhere, env=env)
        assert receiver.requests == [], "a request reached the calendar's host"
    rename = "rename AWS_SECRET_ACCESS_KEY to SOCIALSCHED_SECRET_AWS_SECRET_ACCESS_KEY"
    assert rename in checked.stdout
    assert rename in log
    with Store(project / "outbox.db") as store:
        [record] = store.records()
    assert record.state == "failed" and rename in (record.last_error or "")
    assert CLOUD_KEY not in said + log + json.dumps(record.last_error)


@pytest.mark.slow
def test_a_granted_secret_goes_only_where_the_operator_approved(folders):
    project, elsewhere = folders
    env = {"SOCIALSCHED_DB": "../project/outbox.db", "SOCIALSCHED_SECRET_MASTO_TOKEN": TOKEN}
    with LocalServer() as approved, LocalServer() as other:
        day = write_calendar(project, approved.url, "MASTO_TOKEN")
        window = ("--start", day, "--end", day)
        calendar = "../project/calendar.toml"

        # A new channel: reported by lint --db, schedule and channels check; held by run.
        linted = run_probe("lint", calendar, "--db", "../project/outbox.db", cwd=elsewhere, env=env)
        assert_no_traceback(linted)
        scheduled = probe("schedule", calendar, *window, cwd=elsewhere, env=env)
        assert linted.returncode == 1 and "destination not approved" in linted.stderr
        assert "warning: destination not approved: channel 'masto' would send" in scheduled
        check = probe(
            "channels", "check", "--db", "../project/outbox.db", cwd=elsewhere, env=env, code=1
        )
        assert "destination not approved" in check
        probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
        assert approved.requests == [], "the token went out before its destination was approved"
        with Store(project / "outbox.db") as store:
            [record] = store.records()
            [hold] = store.hold_entries()
        assert record.state == "paused" and record.attempts == 0
        assert hold.hold.channel == "masto" and "destination not approved" in (hold.reason or "")
        origin = approved.url  # http://127.0.0.1:PORT: an origin already
        assert f"MASTO_TOKEN to {origin}" in (hold.reason or "")
        [alert] = [json.loads(line) for line in (project / "ops.jsonl").read_text().splitlines()]
        assert "channels approve masto" in alert["text"]

        # The operator approves: the channel shows its secret and destination, the hold
        # is lifted, and the post goes out with the token, to that host only.
        shown = probe("channels", "approve", "masto", cwd=elsewhere, env=env)
        assert "masto" in shown and "MASTO_TOKEN" in shown and origin in shown
        assert "resumed channel masto" in shown
        probe("lint", calendar, "--db", "../project/outbox.db", cwd=elsewhere, env=env)
        probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
        [post] = approved.requests
        assert post.header("Authorization") == f"Bearer {TOKEN}"

        # A reviewed-too-fast change moves the instance: held again, nothing sent there.
        later = write_calendar(project, other.url, "MASTO_TOKEN", post="again")
        moved = probe(
            "schedule", calendar, "--start", later, "--end", later, cwd=elsewhere, env=env
        )
        assert f"would send MASTO_TOKEN to {other.url}" in moved
        probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
        assert other.requests == [], "the token followed the calendar to another host"
        assert len(approved.requests) == 1
        with Store(project / "outbox.db") as store:
            held = {r.post: r.state for r in store.records()}
        assert held == {"hello": "published", "again": "paused"}
    assert TOKEN not in shown + check + scheduled + moved + linted.stdout + linted.stderr


def test_console_and_jsonl_channels_need_no_approval(folders):
    project, elsewhere = folders
    due = datetime.now(UTC) - timedelta(minutes=2)
    (project / "calendar.toml").write_text(
        f"""
[calendar]
name = "plain"

{uk_segment()}

[[channel]]
name = "feed"
adapter = "jsonl"
settings = {{ path = "feed.jsonl" }}

{post_due(due)}
""",
        encoding="utf-8",
    )
    env = {"SOCIALSCHED_DB": "../project/outbox.db"}
    day = f"{due:%Y-%m-%d}"
    said = probe(
        "schedule", "../project/calendar.toml", "--start", day, "--end", day, cwd=elsewhere, env=env
    )
    assert "not approved" not in said
    probe(
        "lint", "../project/calendar.toml", "--db", "../project/outbox.db", cwd=elsewhere, env=env
    )
    probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
    [line] = (project / "feed.jsonl").read_text().splitlines()
    assert json.loads(line)["text"] == "Hello"


def test_a_webhook_audience_naming_any_environment_variable_sends_nothing(folders):
    project, elsewhere = folders
    due = datetime.now(UTC) - timedelta(minutes=2)
    day = f"{due:%Y-%m-%d}"
    with LocalServer() as receiver:
        # Before, `webhook:NAME` read any variable NAME: here one holding the attacker's URL.
        env = {
            "SOCIALSCHED_DB": "../project/outbox.db",
            "LEAK_URL": f"{receiver.url}/api/webhooks/1/leak",
        }
        (project / "calendar.toml").write_text(
            f"""
[calendar]
name = "audience"

{uk_segment()}

[[channel]]
name = "chat"
adapter = "discord"
audiences = {{ uk = "webhook:LEAK_URL" }}

{post_due(due)}
""",
            encoding="utf-8",
        )
        window = ("--start", day, "--end", day)
        probe("schedule", "../project/calendar.toml", *window, cwd=elsewhere, env=env)
        refused = probe("channels", "approve", "--all", cwd=elsewhere, env=env, code=1)
        probe("run", "--until-idle", "-q", cwd=elsewhere, env=env)
        assert receiver.requests == [], "the audience's variable was read and posted to"
    assert "rename LEAK_URL to SOCIALSCHED_SECRET_LEAK_URL" in refused
    assert "/api/webhooks/1/leak" not in refused
