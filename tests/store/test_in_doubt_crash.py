"""A runner killed (SIGKILL) after its post reached the network but before it recorded
it: the next runner asks the network and posts nothing twice where the adapter can
check; where it cannot, the delivery is held in doubt until `socialsched resolve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calendar_text import post_due, uk_segment
from doubt_network import Receiver

from socialsched.store import Store

NETWORK = Path(__file__).with_name("doubt_network.py")


def socialsched(*args: str, cwd: Path, network: bool = True) -> subprocess.CompletedProcess[str]:
    """The command as users run it (with the fake network's adapters registered)."""
    command = [sys.executable, str(NETWORK)] if network else [sys.executable, "-m", "socialsched"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=180)
    assert result.returncode == 0, result.stderr
    return result


def write_calendar(folder: Path, adapter: str, url: str) -> str:
    due = datetime.now(UTC) - timedelta(minutes=2)
    (folder / "calendar.toml").write_text(
        f"""
[calendar]
name = "doubt"

{uk_segment()}

[[channel]]
name = "net"
adapter = "{adapter}"
settings = {{ url = "{url}" }}

{post_due(due)}
""",
        encoding="utf-8",
    )
    return f"{due:%Y-%m-%d}"


def kill_runner_after_the_post_arrived(receiver: Receiver, db: str, cwd: Path) -> None:
    receiver.holding.set()
    runner = subprocess.Popen(
        [sys.executable, str(NETWORK), "run", "--db", db, "--lease", "1", "--poll", "0.5", "-q"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while not receiver.keys():
        assert runner.poll() is None, "the runner stopped by itself"
        assert time.monotonic() < deadline, "the post never arrived"
        time.sleep(0.01)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    receiver.release()


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize(
    ("adapter", "resolution"),
    [("receiver", None), ("receiver-blind", "--sent"), ("receiver-blind", "--resend")],
)
@pytest.mark.slow
def test_killed_between_sending_and_recording(tmp_path, adapter, resolution):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    db = "../project/outbox.db"
    with Receiver() as receiver:
        day = write_calendar(project, adapter, receiver.url)
        socialsched(
            "schedule",
            "../project/calendar.toml",
            "--db",
            db,
            "--start",
            day,
            "--end",
            day,
            cwd=elsewhere,
        )
        kill_runner_after_the_post_arrived(receiver, db, elsewhere)
        [key] = receiver.keys()
        with Store(project / "outbox.db") as store:
            # Killed after the network kept the post, before the runner recorded it.
            assert store.get(key).state == "claimed"

        socialsched("run", "--db", db, "--until-idle", "--lease", "1", "-q", cwd=elsewhere)

        with Store(project / "outbox.db") as store:
            record = store.get(key)
            log = store.log(delivery=key)
        assert any("in doubt" in (e.reason or "") for e in log)
        if adapter == "receiver":
            # The adapter asked the network, found the post and recorded it.
            assert receiver.keys() == [key], "posted twice"
            assert record.state == "published"
            assert record.receipt["remote_id"] == receiver.posts[0][1]
            assert log[-1].reason == "found on the network: it went out before its worker died"
        else:
            # Nobody can tell: held, not sent again, until an operator says.
            assert receiver.keys() == [key]
            assert record.state == "doubt"
            status = socialsched("status", "--db", db, cwd=elsewhere, network=False)
            assert "doubt 1" in status.stdout
            if resolution == "--sent":
                resolved = socialsched(
                    "resolve", key, "--sent", "--db", db, cwd=elsewhere, network=False
                )
                assert resolved.stdout.strip() == f"{key} published"
                socialsched("run", "--db", db, "--until-idle", "--lease", "1", "-q", cwd=elsewhere)
                assert receiver.keys() == [key]
                with Store(project / "outbox.db") as store:
                    assert store.get(key).state == "published"
                    assert store.log(delivery=key)[-1].actor == "operator"
            else:
                # Sent again at once, by the command itself, under the same key: no
                # runner runs here.
                resolved = socialsched("resolve", key, "--resend", "--db", db, cwd=elsewhere)
                assert resolved.stdout.strip() == f"{key} published"
                assert receiver.keys() == [key, key]
                with Store(project / "outbox.db") as store:
                    record = store.get(key)
                    assert record.state == "published"
                    assert record.receipt["remote_id"] == receiver.posts[1][1]
