"""Secrets read by adapters never reach HTTP client logs."""

from __future__ import annotations

import logging

from socialsched.adapters import Adapter
from socialsched.calendar.model import Channel
from socialsched.scheduling import schedule
from socialsched.trust.redaction import SecretRedactor


def test_a_secret_read_by_an_adapter_is_hidden_in_httpx_logs(caplog):
    channel = Channel(name="hook", adapter="console", secrets={"url": "HOOK_URL"})
    url = "https://hooks.example/T000/B000/xoxo-very-secret"
    adapter = Adapter(channel, environ={"SOCIALSCHED_SECRET_HOOK_URL": url})
    assert adapter.secret("url") == url
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: POST %s/extra "HTTP/1.1 200 OK"', url)
    assert url not in caplog.text
    assert "[secret HOOK_URL]/extra" in caplog.text


def test_env_secret_is_hidden_too(caplog):
    channel = Channel(name="hook", adapter="console")
    adapter = Adapter(
        channel, environ={"SOCIALSCHED_SECRET_FR_HOOK": "https://hooks.example/fr-0123456789"}
    )
    value = adapter.env_secret("FR_HOOK", "the French webhook")
    with caplog.at_level(logging.INFO, logger="httpcore"):
        logging.getLogger("httpcore").info("connect %s", value)
    assert value not in caplog.text
    assert "[secret FR_HOOK]" in caplog.text


def test_longest_secret_wins_and_short_values_are_not_registered():
    redactor = SecretRedactor()
    redactor.register("abc", "too short")
    redactor.register("token-123456", "token")
    redactor.register("https://api.example/bottoken-123456/", "bot url")
    assert redactor.redact("abc https://api.example/bottoken-123456/send") == ("abc [bot url]/send")
    assert redactor.redact("token-123456") == "[token]"


# ---- the runner's own log lines, as text and as JSON (`--log-format json`) ----


class _LeakyAdapter(Adapter):
    """Reads its token, then fails with an error that repeats it (an adapter bug)."""

    name = "leaky"

    def publish(self, message, idempotency_key):
        from socialsched.adapters import TransientError

        token = self.secret("token")
        raise TransientError(f"POST https://api.example/bot{token}/send: HTTP 502")


def _runner_log(tmp_path, log_format: str) -> tuple[str, str]:
    """Runs one failing delivery through a runner that logs in `log_format`; returns
    (what was logged, the secret)."""
    import io
    from datetime import UTC, datetime, timedelta

    from socialsched.calendar.model import Calendar, Post, Segment
    from socialsched.runner import Runner, logs
    from socialsched.store import Store

    secret = "bot-token-0123456789-abcdef"
    channel = Channel(name="leak", adapter="console", secrets={"token": "LEAKY_TOKEN"})
    due = datetime.now(UTC) - timedelta(minutes=1)
    calendar = Calendar(
        segments=[Segment(name="uk", locale="en-GB", timezone="UTC", country="GB")],
        channels=[channel],
        posts=[Post(id="p", text="hello", dates=(f"{due:%Y-%m-%d}",), at=f"{due:%H:%M}")],
        name="leaks",
    )
    stream = io.StringIO()
    handler = logs.configure(log_format, worker="w-1", stream=stream)
    try:
        with Store(tmp_path / f"{log_format}.db") as store:
            schedule(store, calendar, due.date(), due.date())
            store.approve_channels()  # the operator approved where its token goes
            runner = Runner(
                store,
                worker="w-1",
                adapters=lambda c: _LeakyAdapter(
                    c, environ={"SOCIALSCHED_SECRET_LEAKY_TOKEN": secret}
                ),
            )
            assert runner.dispatch() == 1
            (record,) = store.records()
    finally:
        logging.getLogger().removeHandler(handler)
    # The store keeps the error too: the database must not hold the secret either.
    assert "HTTP 502" in record.last_error and secret not in record.last_error
    return stream.getvalue(), secret


def test_json_log_lines_carry_the_fields_and_never_a_secret(tmp_path):
    import json

    text, secret = _runner_log(tmp_path, "json")
    assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    (retry,) = [line for line in lines if line["event"] == "retry"]
    assert set(retry) >= {"time", "level", "worker", "delivery", "channel", "event", "error"}
    assert (retry["level"], retry["worker"], retry["channel"]) == ("info", "w-1", "leak")
    assert len(retry["delivery"]) >= 8 and retry["delivery"] in retry["message"]
    assert "[secret LEAKY_TOKEN]" in retry["error"] and "HTTP 502" in retry["error"]
    assert retry["time"].endswith("Z")


def test_text_log_lines_never_show_a_secret_either(tmp_path):
    text, secret = _runner_log(tmp_path, "text")
    assert secret not in text
    assert "[secret LEAKY_TOKEN]" in text
