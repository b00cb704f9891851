"""The CLI as a new user runs it: the calendar in a folder of its own, `schedule` from
one working folder and `run` from another, relative paths everywhere. What `run`
prints must be what the store recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from socialsched.cli import main
from socialsched.store import Store
from socialsched.testing import LocalServer, Reply

DAY = "2020-03-02"  # long past: every delivery is due (or missed) at once


def socialsched(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command line in `cwd`, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        cwd=cwd,
        env={**os.environ, "SOCIALSCHED_DB": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """project/ holds the calendar; ops/ and elsewhere/ are working folders (this
    process works in elsewhere/)."""
    made = {name: tmp_path / name for name in ("project", "ops", "elsewhere")}
    for folder in made.values():
        folder.mkdir()
    monkeypatch.chdir(made["elsewhere"])
    return made


SEGMENT = """
[calendar]
name = "shop"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"
"""

POSTS = f"""
[[post]]
id = "news"
text = "news for {{{{ segment.name }}}}"
dates = ["{DAY}"]
at = "09:00"
late = "publish"

[[post]]
id = "stale"
text = "too late now"
dates = ["{DAY}"]
at = "09:00"
"""


def write_calendar(project: Path, channel: str) -> None:
    (project / "calendar.toml").write_text(SEGMENT + channel + POSTS, encoding="utf-8")


def schedule(folders: dict[str, Path]) -> None:
    """`schedule` run from ops/, naming the calendar and the database relatively."""
    scheduled = socialsched(
        "schedule", "../project/calendar.toml", "--db", "state.db", "--start", DAY,
        "--end", DAY, cwd=folders["ops"],
    )  # fmt: skip
    assert scheduled.returncode == 0, scheduled.stderr
    said, counts = scheduled.stdout.splitlines()
    # Said before scheduling: DAY is long past (see the run's outcome below).
    assert said.startswith("2 planned deliveries are already past")
    assert "1 will be marked missed" in said and "1 will be published late" in said
    assert counts.startswith("2 added")
    # The operator approves where the channels' secrets go.
    approved = socialsched("channels", "approve", "--all", "--db", "state.db", cwd=folders["ops"])
    assert approved.returncode == 0, approved.stderr


def in_process(*args: str) -> str:
    """Run a read-only command in this process (quicker); its stdout."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def logged(db: str, worker: str) -> dict[str, Counter[str]]:
    """Per channel, `socialsched log` entries written by `worker`, by what they record."""
    entries = json.loads(in_process("log", "--db", db, "--format", "json"))
    names = {
        ("claimed", "published"): "published",
        ("claimed", "failed"): "failed",
        ("scheduled", "missed"): "missed",
    }
    counts: dict[str, Counter[str]] = {}
    for entry in entries:
        if entry["actor"] != worker:
            continue
        change = (entry["from_state"], entry["to_state"])
        if change == ("claimed", "scheduled") and entry["reason"].startswith("attempt 1 failed"):
            name = "retried"
        else:
            name = names.get(change, "")
        if name:
            counts.setdefault(entry["channel"], Counter())[name] += 1
    return counts


def test_a_relative_jsonl_path_is_the_calendars_wherever_run_runs(folders):
    project, ops, elsewhere = folders["project"], folders["ops"], folders["elsewhere"]
    write_calendar(
        project,
        """
[[channel]]
name = "feed"
adapter = "jsonl"
settings = { path = "out.jsonl" }
""",
    )
    schedule(folders)
    run = socialsched(
        "run", "--until-idle", "--db", "../ops/state.db", "--worker", "w1", cwd=elsewhere
    )
    assert run.returncode == 0, run.stderr
    # The news post went out once; the stale one is missed (an hour's grace, years ago).
    assert "published 1  retried 0  failed 0  deferred 0  missed 1  held 0  doubt 0\n" in run.stderr
    assert "  feed: published 1  missed 1\n" in run.stderr
    assert logged("../ops/state.db", "w1") == {"feed": Counter(published=1, missed=1)}

    assert not (ops / "out.jsonl").exists() and not (elsewhere / "out.jsonl").exists()
    records = [json.loads(line) for line in (project / "out.jsonl").read_text().splitlines()]
    assert [(r["post"], r["text"]) for r in records] == [("news", "news for uk")]
    expected_path = (project / "out.jsonl").resolve()
    with Store(str(ops / "state.db")) as store:
        assert store.channels()[("shop", "feed")].settings["path"] == str(expected_path)
        [published] = store.records("published")
        assert published.attempts == 1
        assert published.receipt["url"] == f"{expected_path.as_uri()}#{published.id}"


def test_run_prints_a_retry_as_a_retry_not_a_publication(folders):
    project, ops, elsewhere = folders["project"], folders["ops"], folders["elsewhere"]
    with LocalServer() as server:
        write_calendar(
            project,
            f"""
[[channel]]
name = "hooks"
adapter = "webhook"
settings = {{ url = "{server.url}/in" }}
secrets = {{ signing_key = "HOOK_KEY" }}
""",
        )
        schedule(folders)
        # The receiver is down for the first request, then accepts.
        server.reply(Reply(503))
        first = socialsched(
            "run", "--until-idle", "--db", "../ops/state.db", "--worker", "first",
            cwd=elsewhere, SOCIALSCHED_SECRET_HOOK_KEY="whsec_bmV3LXVzZXItc2lnbmluZy1rZXk=",
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert (
            "published 0  retried 1  failed 0  deferred 0  missed 1  held 0  doubt 0\n"
            in first.stderr
        )
        assert "  hooks: retried 1  missed 1\n" in first.stderr
        assert logged("../ops/state.db", "first") == {"hooks": Counter(retried=1, missed=1)}

        # The retry falls due (made due now instead of waiting out its backoff).
        with Store(str(ops / "state.db")) as store:
            [retry] = store.records("scheduled")
            store.publish_now(retry.id)
        second = socialsched(
            "run", "--until-idle", "--db", "../ops/state.db", "--worker", "second",
            "--format", "json", cwd=elsewhere,
            SOCIALSCHED_SECRET_HOOK_KEY="whsec_bmV3LXVzZXItc2lnbmluZy1rZXk=",
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        nothing = {
            "published": 0,
            "retried": 0,
            "failed": 0,
            "deferred": 0,
            "missed": 0,
            "held": 0,
            "doubt": 0,
        }
        assert json.loads(second.stdout) == {
            **nothing,
            "published": 1,
            "per_channel": {"hooks": {**nothing, "published": 1}},
        }
        assert logged("../ops/state.db", "second") == {"hooks": Counter(published=1)}
        assert [request.status for request in server.requests] == [503, 200]
    status = json.loads(in_process("status", "--db", "../ops/state.db", "--format", "json"))
    assert status["per_channel"]["hooks"]["published"] == 1
    assert status["per_channel"]["hooks"]["missed"] == 1


def test_a_database_lost_before_the_report_is_an_error_not_a_traceback(folders, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def lost(self, actor, *, after=0):
        raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Store, "outcomes", lost)
    result = CliRunner().invoke(main, ["run", "--until-idle", "--db", "state.db", "--quiet"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: published what was due, but cannot read back what was recorded: "
        "Exception: server closed the connection"
    )
