"""Every built-in and plugin adapter declares where each secret goes, so a calendar
change that moves a secret (another `instance`, `url`, `service`, ...) is seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialsched.adapters import MissingSecretError, PermanentError
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.model import Channel
from socialsched.testing import grant
from socialsched.trust.destinations import DestinationError, origin

EVIL = "https://evil.example"
EXAMPLE_SOURCE = Path(__file__).resolve().parents[2] / "plugins" / "socialsched-example" / "src"

# adapter, secrets, settings, the setting that moves them, where they go by default
CASES = [
    ("mastodon", {"token": "T"}, {"instance": "https://mastodon.social"}, "instance", "https://mastodon.social:443"),
    ("bluesky", {"app_password": "T"}, {"handle": "a.bsky.social"}, "service", "https://bsky.social:443"),
    ("linkedin", {"access_token": "T"}, {"author": "urn:li:person:1"}, "api_url", "https://api.linkedin.com:443"),
    ("x", {"access_token": "T"}, {}, "api_url", "https://api.x.com:443"),
    ("telegram", {"token": "T"}, {}, "api_url", "https://api.telegram.org:443"),
    ("matrix", {"access_token": "T"}, {"homeserver": "https://matrix.org"}, "homeserver", "https://matrix.org:443"),
    ("instagram", {"access_token": "T"}, {"user_id": "1"}, "graph_url", "https://graph.facebook.com:443"),
    ("threads", {"access_token": "T"}, {"user_id": "1"}, "api_url", "https://graph.threads.net:443"),
    ("slack", {"bot_token": "T"}, {}, "api_url", "https://slack.com:443"),
    ("webhook", {"signing_key": "T"}, {"url": "https://hooks.example/in"}, "url", "https://hooks.example:443"),
    ("example-chat", {"token": "T"}, {"base_url": "https://chat.example/api"}, "base_url", "https://chat.example:443"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("adapter", "secrets", "settings", "setting", "default"), CASES, ids=[c[0] for c in CASES]
)
def test_the_setting_that_decides_where_a_secret_goes_moves_its_destination(
    adapter, secrets, settings, setting, default, monkeypatch
):
    if adapter == "example-chat":  # the example plugin is not installed: import its source
        monkeypatch.syspath_prepend(str(EXAMPLE_SOURCE))
        from socialsched_example.chat import ExampleChatAdapter as cls
    else:
        cls = adapter_class(adapter)
    channel = Channel(name="c", adapter=adapter, secrets=secrets, settings=settings)
    assert cls.destinations(channel, {}) == {"T": default}
    moved = Channel(
        name="c", adapter=adapter, secrets=secrets, settings={**settings, setting: f"{EVIL}/x"}
    )
    assert cls.destinations(moved, {}) == {"T": "https://evil.example:443"}


def test_facebook_declares_the_graph_and_its_video_host():
    cls = adapter_class("facebook")
    channel = Channel(
        name="c", adapter="facebook", secrets={"page_token": "T"}, settings={"page_id": "1"}
    )
    assert cls.destinations(channel, {}) == {
        "T": "https://graph.facebook.com:443 https://graph-video.facebook.com:443"
    }
    moved = Channel(
        name="c",
        adapter="facebook",
        secrets={"page_token": "T"},
        settings={"page_id": "1", "graph_video_url": EVIL},
    )
    assert "https://evil.example:443" in cls.destinations(moved, {})["T"]


def test_email_credentials_go_to_the_smtp_server():
    cls = adapter_class("email")
    secrets = {"username": "U", "password": "P"}
    channel = Channel(
        name="c",
        adapter="email",
        secrets=secrets,
        settings={"host": "smtp.example.org", "from": "a@b.c"},
    )
    assert cls.destinations(channel, {}) == {
        "P": "smtp://smtp.example.org:587",
        "U": "smtp://smtp.example.org:587",
    }
    implicit = Channel(
        name="c",
        adapter="email",
        secrets=secrets,
        settings={"host": "smtp.example.org", "from": "a@b.c", "security": "ssl"},
    )
    assert set(cls.destinations(implicit, {}).values()) == {"smtps://smtp.example.org:465"}


@pytest.mark.parametrize("adapter", ["slack", "discord"])
def test_a_webhook_url_secret_goes_to_its_own_origin_even_when_named_by_an_audience(adapter):
    cls = adapter_class(adapter)
    channel = Channel(
        name="c",
        adapter=adapter,
        secrets={"webhook": "HOOK"},
        audiences={"fr": "webhook:HOOK_FR"},
    )
    environ = grant(
        HOOK="https://hooks.example/a/secret-1", HOOK_FR="http://127.0.0.1:9/b/secret-2"
    )
    assert cls.destinations(channel, environ) == {
        "HOOK": "https://hooks.example:443",
        "HOOK_FR": "http://127.0.0.1:9",
    }
    # Not granted here: it cannot be told, and says which secret to grant.
    with pytest.raises(MissingSecretError, match="SOCIALSCHED_SECRET_HOOK_FR"):
        cls.destinations(channel, grant(HOOK="https://hooks.example/a/secret-1"))


def test_the_webhook_adapters_secrets_follow_a_url_that_is_a_secret():
    cls = adapter_class("webhook")
    channel = Channel(name="c", adapter="webhook", secrets={"url": "U", "signing_key": "K"})
    assert cls.destinations(channel, grant(U="https://in.example:8443/p?token=t")) == {
        "K": "https://in.example:8443",
        "U": "https://in.example:8443",
    }


def test_a_destination_that_is_not_a_url_is_an_error_that_shows_no_value():
    cls = adapter_class("mastodon")
    channel = Channel(
        name="c",
        adapter="mastodon",
        secrets={"token": "T"},
        settings={"instance": "mastodon.social"},
    )
    with pytest.raises(PermanentError, match=r"settings\.instance is not a URL"):
        cls.destinations(channel, {})
    hook = Channel(name="c", adapter="discord", secrets={"webhook": "H"})
    with pytest.raises(PermanentError) as raised:
        adapter_class("discord").destinations(hook, grant(H="not-a-url-secret-value"))
    assert "not-a-url-secret-value" not in str(raised.value)


def test_an_undeclared_secret_is_approved_with_the_whole_settings():
    cls = adapter_class("console")
    channel = Channel(name="c", adapter="console", secrets={"token": "T"}, settings={"a": 1})
    [first] = cls.destinations(channel, {}).values()
    assert first.startswith("settings sha256:")
    changed = Channel(name="c", adapter="console", secrets={"token": "T"}, settings={"a": 2})
    assert cls.destinations(changed, {}) != {"T": first}
    assert cls.destinations(Channel(name="c", adapter="console"), {}) == {}


def test_origins_compare_spellings_of_one_destination_equal_and_others_not():
    assert (
        origin("https://Example.ORG/a?b")
        == origin("https://example.org:443")
        == "https://example.org:443"
    )
    assert origin("http://example.org") == "http://example.org:80"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("https://example.org:8443") != origin("https://example.org")
    assert origin("https://user:pw@example.org/") == "https://example.org:443"
    for bad in ("example.org", "https://", "http://example.org:99999"):
        with pytest.raises(DestinationError):
            origin(bad)
