"""Done when: a runner whose channel token is rejected holds that channel after the
first rejection, alerts once through another channel, and publishes everything after
`resume --channel`. The network is a real local HTTP server (the webhook adapter)
answering 401 once, then 200; the alert channel is a jsonl file. Commands run as users
run them, from another folder than the calendar's, with relative paths."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from socialsched.store import Store
from socialsched.testing import LocalServer, Reply

KEY = "whsec_" + base64.b64encode(b"holds-signing-key-0123456789").decode()
SEGMENTS = ("uk", "pt", "fr")


def socialsched(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "SOCIALSCHED_SECRET_HOLDS_HOOK_KEY": KEY},
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result


def write_calendar(folder: Path, url: str) -> str:
    due = datetime.now(UTC) - timedelta(minutes=2)
    segments = "".join(
        f'[[segment]]\nname = "{name}"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n\n'
        for name in SEGMENTS
    )
    (folder / "calendar.toml").write_text(
        f"""
[calendar]
name = "holds"

[runner]
alert_channels = ["ops"]

{segments}
[[channel]]
name = "hooks"
adapter = "webhook"
settings = {{ url = "{url}/in" }}
secrets = {{ signing_key = "HOLDS_HOOK_KEY" }}

[[channel]]
name = "ops"
adapter = "jsonl"
settings = {{ path = "ops.jsonl" }}

[[post]]
id = "hello"
text = "Hello {{{{ segment.name }}}}"
dates = ["{due:%Y-%m-%d}"]
at = "{due:%H:%M}"
""",
        encoding="utf-8",
    )
    return f"{due:%Y-%m-%d}"


@pytest.mark.slow
def test_rejected_token_holds_the_channel_alerts_once_and_resume_publishes_all(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    db = "../project/outbox.db"
    with LocalServer() as network:
        network.reply(Reply(401, {"error": "token expired"}))
        day = write_calendar(project, network.url)
        socialsched(
            "schedule", "../project/calendar.toml", "--db", db, "--start", day, "--end", day,
            cwd=elsewhere,
        )  # fmt: skip
        socialsched("channels", "approve", "--all", "--db", db, cwd=elsewhere)
        socialsched("run", "--db", db, "--until-idle", "-q", cwd=elsewhere)

        # One request, rejected; nothing failed; the channel is held.
        assert [r.status for r in network.requests] == [401]
        with Store(project / "outbox.db") as store:
            records = store.records()
            [hold] = store.hold_entries()
        assert len(records) == len(SEGMENTS)
        assert {(r.state, r.attempts) for r in records} == {("paused", 0)}
        assert hold.credentials and hold.hold.channel == "hooks"
        status = socialsched("status", "--db", db, cwd=elsewhere).stdout
        assert f"paused {len(records)}" in status
        assert "credentials hold: channel=hooks" in status and "HTTP 401" in status
        shown = json.loads(
            socialsched("status", "--db", db, "--format", "json", cwd=elsewhere).stdout
        )
        assert [h["credentials"] for h in shown["holds"]] == [True]
        log = socialsched("log", "--db", db, "--channel", "hooks", cwd=elsewhere).stdout
        assert log.count("credentials rejected") == len(records)

        # One alert, through the ops channel.
        [alert] = [json.loads(line) for line in (project / "ops.jsonl").read_text().splitlines()]
        assert alert["tags"] == ["alert", "held"]
        assert "channel hooks of calendar holds is held" in alert["text"]
        assert "resume --channel hooks" in alert["text"]

        # A second run changes nothing while the channel is held.
        socialsched("run", "--db", db, "--until-idle", "-q", cwd=elsewhere)
        assert len(network.requests) == 1

        # The token is fixed (the network now answers 200): resume, run.
        resumed = socialsched("resume", "--channel", "hooks", "--db", db, cwd=elsewhere)
        assert resumed.stdout.strip() == f"resumed {len(records)} deliveries"
        socialsched("run", "--db", db, "--until-idle", "-q", cwd=elsewhere)

        accepted = [r.header("Idempotency-Key") for r in network.requests if r.status == 200]
        with Store(project / "outbox.db") as store:
            assert sorted(accepted) == sorted(r.id for r in store.records())
            assert {(r.state, r.attempts) for r in store.records()} == {("published", 1)}
            assert store.hold_entries() == []
    assert len((project / "ops.jsonl").read_text().splitlines()) == 1
    assert KEY not in status + log
