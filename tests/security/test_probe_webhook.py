"""Probes: `channels check` sends the documented signed ping (it used to send a HEAD
signed over an empty body) and fails on any answer but a 2xx (a receiver answering 404
on a wrong path was reported ok, and every post to it then failed)."""

from __future__ import annotations

import base64

import pytest
import standardwebhooks
from calendar_text import uk_segment

from socialsched.testing import LocalServer, Reply

from .probe import assert_no_traceback, run_probe

KEY = "whsec_" + base64.b64encode(b"probe-signing-key-0123456789abcd").decode()
ENV = {"SOCIALSCHED_SECRET_PROBE_HOOK_KEY": KEY}
DAY = "2099-03-02"


def calendar_text(url: str) -> str:
    return f"""
[calendar]
name = "hooks"

{uk_segment("Europe/London")}

[[channel]]
name = "hook"
adapter = "webhook"
settings = {{ url = "{url}" }}
secrets = {{ signing_key = "PROBE_HOOK_KEY" }}

[[post]]
id = "news"
text = "news"
dates = ["{DAY}"]
at = "09:00"
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A receiver, and the calendar in its own folder, scheduled into a store and its
    channel approved from a sibling folder with relative paths (as an operator would).
    Shared by the probes: each queues its receiver's answer and forgets the requests."""
    root = tmp_path_factory.mktemp("hooks")
    with LocalServer() as receiver:
        (root / "cal").mkdir()
        text = calendar_text(f"{receiver.url}/hook")
        (root / "cal" / "calendar.toml").write_text(text, encoding="utf-8")
        work = root / "work"
        work.mkdir()
        for args in (
            ("schedule", "../cal/calendar.toml", "--db", "outbox.db", "--start", DAY, "--end", DAY),
            ("channels", "approve", "hook", "--db", "outbox.db"),
        ):
            result = run_probe(*args, cwd=work, env=ENV)
            assert_no_traceback(result)
            assert result.returncode == 0, result.stdout + result.stderr
        yield receiver, work


def check(prepared, env=ENV):
    receiver, work = prepared
    receiver.requests.clear()
    result = run_probe(
        "channels", "check", "../cal/calendar.toml", "--db", "outbox.db", cwd=work, env=env
    )
    assert_no_traceback(result)
    return result


@pytest.mark.parametrize("status", [404, 301, 400])
def test_a_receiver_answering_anything_but_2xx_fails_the_check(prepared, status):
    receiver, _ = prepared
    receiver.reply(Reply(status, headers={"Location": f"{receiver.url}/elsewhere"}))
    result = check(prepared)
    assert result.returncode != 0
    assert str(status) in result.stdout + result.stderr
    [ping] = receiver.requests  # one request; a redirect is not followed
    assert ping.method == "POST"


def test_the_check_sends_a_signed_ping_that_the_official_library_verifies(prepared):
    receiver, _ = prepared
    receiver.reply(Reply(204))
    result = check(prepared)
    assert result.returncode == 0, result.stdout + result.stderr
    [ping] = receiver.requests
    assert (ping.method, ping.path) == ("POST", "/hook")
    event = standardwebhooks.Webhook(KEY).verify(ping.body, dict(ping.headers))
    assert event["type"] == "ping" and event["channel"] == "hook"
    assert KEY not in result.stdout + result.stderr


def test_a_raw_signing_key_is_reported_with_how_to_convert_it_and_nothing_is_sent(prepared):
    raw = "an-old-raw-signing-key-0123456789"
    receiver, _ = prepared
    result = check(prepared, env={"SOCIALSCHED_SECRET_PROBE_HOOK_KEY": raw})
    assert receiver.requests == []
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "whsec_" in output and "PROBE_HOOK_KEY" in output
    assert raw not in output
