"""Secrets read by adapters never reach HTTP client logs."""

from __future__ import annotations

import logging

from socialsched.adapters import Adapter
from socialsched.model import Channel
from socialsched.redaction import SecretRedactor


def test_a_secret_read_by_an_adapter_is_hidden_in_httpx_logs(caplog):
    channel = Channel(name="hook", adapter="console", secrets={"url": "HOOK_URL"})
    url = "https://hooks.example/T000/B000/xoxo-very-secret"
    adapter = Adapter(channel, environ={"HOOK_URL": url})
    assert adapter.secret("url") == url
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: POST %s/extra "HTTP/1.1 200 OK"', url)
    assert url not in caplog.text
    assert "[secret HOOK_URL]/extra" in caplog.text


def test_env_secret_is_hidden_too(caplog):
    channel = Channel(name="hook", adapter="console")
    adapter = Adapter(channel, environ={"FR_HOOK": "https://hooks.example/fr-0123456789"})
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
