"""Channel preflight: `socialsched channels check` and `socialsched.runner.preflight`, against
the built-in adapters talking to a real local HTTP server and a test adapter."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from socialsched.adapters import Adapter, Capabilities, CredentialsRejected, Message, Receipt
from socialsched.adapters.webhook import verify_signature
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.runner.preflight import ChannelCheck, check_channel, check_channels
from socialsched.testing import LocalServer, Reply

KEY = "whsec_cHJlZmxpZ2h0LWtleS0wMTIzNDU2Nzg5"  # Standard Webhooks form


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def webhook(name: str, url: str, variable: str = "HOOK_KEY") -> Channel:
    return Channel(
        name=name,
        adapter="webhook",
        settings={"url": url, "timeout": 5},
        secrets={"signing_key": variable},
    )


class Unverifiable(Adapter):
    """An adapter that keeps the base `verify` (the network has no check)."""

    name = "unverifiable"
    capabilities = Capabilities(audiences=("any",))

    def publish(self, message: Message, idempotency_key: str) -> Receipt:
        return Receipt(remote_id=idempotency_key)


class Exploding(Unverifiable):
    def verify(self) -> str:
        raise RuntimeError("plugin bug")


class Rejecting(Unverifiable):
    def verify(self) -> str:
        raise CredentialsRejected("token expired")


def test_each_outcome_of_the_built_in_adapters(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALSCHED_SECRET_HOOK_KEY", KEY)
    monkeypatch.delenv("HOOK_KEY_UNSET", raising=False)
    with LocalServer() as good, LocalServer() as refusing:
        refusing.reply(Reply(401))
        channels = [
            Channel(name="screen", adapter="console"),
            Channel(name="feed", adapter="jsonl", settings={"path": str(tmp_path / "a/out.jsonl")}),
            webhook("hooks", f"{good.url}/in"),
            webhook("refused", f"{refusing.url}/in"),
            webhook("nokey", f"{good.url}/in", variable="HOOK_KEY_UNSET"),
            webhook("down", closed_port_url()),
            Channel(name="nopath", adapter="jsonl"),
        ]
        checks = check_channels(channels)
        assert [(c.channel, c.outcome) for c in checks] == [
            ("screen", "ok"),
            ("feed", "ok"),
            ("hooks", "ok"),
            ("refused", "rejected"),
            ("nokey", "missing_secret"),
            ("down", "unreachable"),
            ("nopath", "broken"),
        ]
        # The working receiver got the signed ping, and nothing else.
        [request] = good.requests
        assert request.method == "POST" and request.json()["type"] == "ping"
        assert verify_signature(request.body, dict(request.headers), KEY).startswith("ping_")
    by_name = {c.channel: c for c in checks}
    assert str(tmp_path / "a/out.jsonl") in by_name["feed"].detail
    assert not (tmp_path / "a").exists(), "the check must not create anything"
    assert by_name["nokey"].variable == "SOCIALSCHED_SECRET_HOOK_KEY_UNSET"
    assert "HOOK_KEY_UNSET" in by_name["nokey"].detail
    assert "401" in by_name["refused"].detail
    assert [c.failed for c in checks] == [False, False, False, True, True, True, True]
    assert all(KEY not in json.dumps(c.to_dict()) for c in checks)


def test_not_checkable_is_no_failure_but_a_missing_declared_secret_is():
    plain = Channel(name="plain", adapter="unverifiable")
    check = check_channel(plain, adapters=Unverifiable, environ={})
    assert (check.outcome, check.failed) == ("not_checkable", False)
    # A declared secret must be set even where the network cannot be asked.
    declared = Channel(name="plain", adapter="unverifiable", secrets={"token": "PLAIN_TOKEN"})
    check = check_channel(declared, adapters=Unverifiable, environ={})
    assert (check.outcome, check.variable, check.failed) == (
        "missing_secret",
        "SOCIALSCHED_SECRET_PLAIN_TOKEN",
        True,
    )
    granted = {"SOCIALSCHED_SECRET_PLAIN_TOKEN": "x" * 12}
    assert check_channel(declared, adapters=Unverifiable, environ=granted) == (
        ChannelCheck(
            "plain",
            "unverifiable",
            "not_checkable",
            check_channel(plain, adapters=Unverifiable, environ={}).detail,
        )
    )


def test_adapter_bugs_and_rejections_are_reported_per_channel():
    channel = Channel(name="c", adapter="unverifiable")
    exploding = check_channel(channel, adapters=Exploding, environ={})
    assert exploding.outcome == "broken" and "RuntimeError: plugin bug" in exploding.detail
    assert check_channel(channel, adapters=Rejecting, environ={}).outcome == "rejected"


def test_calendar_and_store_channel_tables_name_their_calendar(tmp_path):
    calendar = Calendar(
        name="shop",
        segments=[Segment(name="uk", locale="en-GB", timezone="Europe/London", country="GB")],
        channels=[Channel(name="screen", adapter="console")],
        posts=[Post(id="p", text="hi", dates=["2027-01-04"], at="09:00")],
    )
    [from_calendar] = check_channels(calendar)
    [from_store] = check_channels({("shop", "screen"): calendar.channels[0]})
    assert from_calendar == from_store
    assert (from_calendar.calendar, from_calendar.outcome) == ("shop", "ok")


# ---- the command, run as users run it: from another folder ----

CALENDAR = """
[calendar]
name = "preflight"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[channel]]
name = "screen"
adapter = "console"

[[channel]]
name = "hooks"
adapter = "webhook"
settings = {{ url = "{url}", timeout = 5 }}
secrets = {{ signing_key = "PREFLIGHT_HOOK_KEY" }}

[[post]]
id = "hello"
text = "Hello"
dates = ["2030-01-07"]
at = "09:00"
"""


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.fixture
def folders(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    return project, elsewhere


@pytest.mark.slow
def test_command_prints_each_channel_and_exits_1_on_a_rejection(folders):
    project, elsewhere = folders
    with LocalServer() as server:
        server.reply(Reply(403))
        (project / "calendar.toml").write_text(CALENDAR.format(url=f"{server.url}/in"))
        env = {"SOCIALSCHED_SECRET_PREFLIGHT_HOOK_KEY": KEY, "SOCIALSCHED_DB": "../project/out.db"}
        # Not approved yet: reported, and the receiver is sent nothing at all.
        held = run_cli("channels", "check", "../project/calendar.toml", cwd=elsewhere, env=env)
        assert held.returncode == 1, held.stderr
        assert "hooks    webhook  destination not approved" in held.stdout
        assert "socialsched channels approve hooks" in held.stdout
        assert server.requests == []
        window = ("--start", "2030-01-07", "--end", "2030-01-07")
        scheduled = run_cli("schedule", "../project/calendar.toml", *window, cwd=elsewhere, env=env)
        assert scheduled.returncode == 0, scheduled.stderr
        approved = run_cli("channels", "approve", "--all", cwd=elsewhere, env=env)
        assert approved.returncode == 0, approved.stderr
        assert server.requests == []
        text = run_cli("channels", "check", "../project/calendar.toml", cwd=elsewhere, env=env)
        assert text.returncode == 1, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0].split() == ["CHANNEL", "ADAPTER", "RESULT", "DETAIL"]
        assert lines[1].split()[:3] == ["screen", "console", "ok"]
        assert lines[2].split()[:4] == ["hooks", "webhook", "rejected", "credentials"]
        assert lines[-1] == "2 channels, 1 failed"
        # Now the receiver accepts: exit 0, as JSON.
        result = run_cli(
            "channels",
            "check",
            "../project/calendar.toml",
            "--format",
            "json",
            cwd=elsewhere,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert [(r["channel"], r["outcome"], r["failed"]) for r in rows] == [
            ("screen", "ok", False),
            ("hooks", "ok", False),
        ]
        assert [r.method for r in server.requests] == ["POST", "POST"]
    assert KEY not in text.stdout + text.stderr + result.stdout + result.stderr


def test_command_checks_what_is_scheduled_in_the_store(folders):
    project, elsewhere = folders
    (project / "calendar.toml").write_text(CALENDAR.format(url=closed_port_url()))
    scheduled = run_cli(
        "schedule",
        "../project/calendar.toml",
        "--db",
        "../project/out.db",
        "--start",
        "2030-01-07",
        "--end",
        "2030-01-07",
        cwd=elsewhere,
        env={},
    )
    assert scheduled.returncode == 0, scheduled.stderr
    env = {"SOCIALSCHED_SECRET_PREFLIGHT_HOOK_KEY": ""}
    result = run_cli(
        "channels", "check", "--db", "../project/out.db", "--format", "json", cwd=elsewhere, env=env
    )
    assert result.returncode == 1, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["calendar"], r["channel"], r["outcome"], r["variable"]) for r in rows] == [
        ("preflight", "hooks", "missing_secret", "SOCIALSCHED_SECRET_PREFLIGHT_HOOK_KEY"),
        ("preflight", "screen", "ok", None),
    ]
