"""The destinations the operator approved for each channel's secrets: recorded per
channel in the store (SQLite and PostgreSQL), checked by the runner before anything
is sent, and an existing store upgraded to them (scheduled at revision 0004, then
`channels approve --all`)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import inspect
from test_store_migrations import alembic_config, current_revision

from conftest import Recorder
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import DESTINATION_NOT_APPROVED, Store
from socialsched.store.approvals import Approval, unapproved
from socialsched.testing import LocalServer, grant
from socialsched.trust.destinations import ANY_SECRET, Destination, declare

SECRETS = grant(NET_TOKEN="tok-net-0123456789", OTHER_TOKEN="tok-other-9876543210")


class Net(Recorder):
    """A network whose token goes to `settings.api_url`."""

    name = "net"
    secret_destinations = declare({ANY_SECRET: Destination("api_url", "https://api.net.example")})


def calendar(clock: Any, **channel: Any) -> Calendar:
    due = clock() - timedelta(minutes=1)
    settings = channel.pop("settings", {})
    secrets = channel.pop("secrets", {"token": "NET_TOKEN"})
    return Calendar(
        name="shop",
        segments=[Segment(name="uk", locale="en-GB", timezone="UTC", country="GB")],
        # Planned as a console channel; the runner's factory publishes through `Net`.
        channels=[Channel(name="net", adapter="console", settings=settings, secrets=secrets)],
        posts=[Post(id="p", text="hello", dates=(f"{due:%Y-%m-%d}",), at=f"{due:%H:%M}")],
    )


@pytest.fixture
def network() -> list[Net]:
    """Every adapter the runner set up (a reload sets them up again)."""
    return []


def published(network: list[Net]) -> list[str]:
    return [key for adapter in network for _, key in adapter.published]


@pytest.fixture
def runner(store: Store, network: list[Net]) -> Runner:
    def make(channel: Channel) -> Net:
        network.append(Net(channel, environ=SECRETS))
        return network[-1]

    return Runner(store, worker="w-1", adapters=make)


def approve(store: Store, cal: Calendar) -> None:
    [channel] = cal.channels
    store.approve_destinations(cal.name, channel, Net.destinations(channel, SECRETS))


def test_a_channel_never_approved_is_held_and_sends_nothing(store, clock, runner, network):
    cal = calendar(clock)
    schedule(store, cal, clock().date(), clock().date())
    runner.dispatch()
    assert published(network) == []
    [record] = store.records()
    assert (record.state, record.attempts) == ("paused", 0)
    [hold] = store.hold_entries()
    assert hold.hold.channel == "net" and hold.reason is not None
    assert hold.reason.startswith(DESTINATION_NOT_APPROVED)
    assert "NET_TOKEN to https://api.net.example:443" in hold.reason
    assert "socialsched channels approve net" in hold.reason
    assert "tok-net" not in hold.reason


def test_an_approved_channel_publishes_and_a_moved_destination_is_held_again(
    store, clock, runner, network
):
    cal = calendar(clock)
    schedule(store, cal, clock().date(), clock().date())
    approve(store, cal)
    [approval] = store.approvals().values()
    assert dict(approval.destinations) == {"NET_TOKEN": "https://api.net.example:443"}
    assert store.approval("shop", "net") == approval
    runner.dispatch()
    assert len(published(network)) == 1

    # The calendar now sends the token elsewhere: the runner holds the channel.
    moved = attrs.evolve(
        calendar(clock, settings={"api_url": "https://evil.example"}),
        posts=[attrs.evolve(cal.posts[0], id="q")],
    )
    schedule(store, moved, clock().date(), clock().date())
    runner.reload()
    runner.dispatch()
    assert published(network) == [r.id for r in store.records() if r.post == "p"]
    [hold] = store.hold_entries()
    assert "NET_TOKEN to https://evil.example:443" in (hold.reason or "")
    assert "approved: console, NET_TOKEN to https://api.net.example:443" in (hold.reason or "")


def test_what_counts_as_not_approved():
    approved = Approval(
        calendar="shop",
        channel="net",
        adapter="net",
        destinations={"NET_TOKEN": "https://api.net.example:443"},
        actor="operator",
        at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    same = {"NET_TOKEN": "https://api.net.example:443"}
    assert unapproved(approved, "net", same) == {}
    assert unapproved(approved, "net", {}) == {}  # fewer secrets: nothing new goes out
    assert unapproved(None, "net", same) == same
    assert unapproved(approved, "other", same) == same  # another adapter
    # Another granted secret sent to the approved host is another secret's journey.
    swapped = {"OTHER_TOKEN": "https://api.net.example:443"}
    assert unapproved(approved, "net", swapped) == swapped
    moved = {"NET_TOKEN": "https://api.net.example:8443"}
    assert unapproved(approved, "net", moved) == moved


def test_approving_again_replaces_and_keeps_only_origins(store, clock):
    cal = calendar(clock, settings={"api_url": "https://API.net.example/v2/?key=abc"})
    [channel] = cal.channels
    store.approve_destinations("shop", channel, Net.destinations(channel, SECRETS))
    store.approve_destinations("shop", channel, Net.destinations(channel, SECRETS))
    [approval] = store.approvals().values()
    assert dict(approval.destinations) == {"NET_TOKEN": "https://api.net.example:443"}
    assert json.dumps(approval.to_dict()).count("key=abc") == 0


def test_approve_channels_reads_the_channel_table_and_names_unknown_channels(store, clock):
    from socialsched.store import StoreError

    due = clock()
    cal = Calendar(
        name="shop",
        segments=[Segment(name="uk", locale="en-GB", timezone="UTC", country="GB")],
        channels=[
            Channel(
                name="hook",
                adapter="webhook",
                settings={"url": "https://hooks.example:8443/in?token=abc"},
                secrets={"signing_key": "HOOK_KEY"},
            ),
            Channel(name="screen", adapter="console"),
        ],
        posts=[Post(id="p", text="hello", dates=(f"{due:%Y-%m-%d}",), at="23:59")],
    )
    schedule(store, cal, due.date(), due.date())
    with pytest.raises(StoreError, match="no channel 'nope'"):
        store.approve_channels(["nope"])
    assert store.approvals() == {}
    approvals = store.approve_channels(environ={})
    assert [(a.channel, dict(a.destinations)) for a in approvals] == [
        ("hook", {"HOOK_KEY": "https://hooks.example:8443"}),
        ("screen", {}),
    ]


# ---- upgrading a store scheduled before approvals existed ----

KEY = "whsec_" + base64.b64encode(b"upgrade-signing-key-0123456789").decode()

CALENDAR = """
[calendar]
name = "upgrade"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "UTC"
country = "GB"

[[channel]]
name = "hooks"
adapter = "webhook"
settings = {{ url = "{url}/in" }}
secrets = {{ signing_key = "UPGRADE_HOOK_KEY" }}

[[post]]
id = "hello"
text = "Hello"
dates = ["{due:%Y-%m-%d}"]
at = "{due:%H:%M}"
"""


def socialsched(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_a_store_scheduled_at_revision_0004_keeps_working_after_approve_all(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    due = datetime.now(UTC) - timedelta(minutes=2)
    day = f"{due:%Y-%m-%d}"
    with LocalServer() as receiver:
        (project / "calendar.toml").write_text(CALENDAR.format(url=receiver.url, due=due))
        db = "../project/outbox.db"
        old_env = {"UPGRADE_HOOK_KEY": KEY}  # how the secret was given before
        socialsched(
            "schedule", "../project/calendar.toml", "--db", db, "--start", day, "--end", day,
            cwd=elsewhere, env=old_env,
        )  # fmt: skip
        # Back to the schema the previous release left: revision 0004.
        with Store(project / "outbox.db") as store, store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004")
        engine = sqlalchemy.create_engine(f"sqlite:///{project / 'outbox.db'}")
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            version = connection.exec_driver_sql(
                "SELECT version_num FROM socialsched_alembic_version"
            ).scalar()
        engine.dispose()
        assert version == "0004" and "destination_approvals" not in tables

        # The upgrade, step by step (docs/operations.md): grant the secret under its
        # new name, approve every channel's destinations, run.
        new_env = {"SOCIALSCHED_SECRET_UPGRADE_HOOK_KEY": KEY}
        shown = socialsched("channels", "approve", "--all", "--db", db, cwd=elsewhere, env=new_env)
        assert "hooks" in shown and "UPGRADE_HOOK_KEY" in shown and receiver.url in shown
        socialsched("run", "--db", db, "--until-idle", "-q", cwd=elsewhere, env=new_env)
        [request] = receiver.requests
        assert request.json()["text"] == "Hello"
    with Store(project / "outbox.db") as store:
        assert current_revision(store) != "0004"
        assert [r.state for r in store.records()] == ["published"]
    assert KEY not in shown
