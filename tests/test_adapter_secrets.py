"""The base Adapter reads secrets from the environment and never shows their values."""

from __future__ import annotations

import pytest

from socialsched.adapters import Adapter, MissingSecretError, PermanentError
from socialsched.calendar.model import Channel

CHANNEL = Channel(name="team", adapter="x", secrets={"token": "TEAM_TOKEN"})


def test_env_secret_reads_the_named_variable():
    environ = {"SOCIALSCHED_SECRET_HOOK_FR": "https://hooks.example/fr-abc"}
    adapter = Adapter(CHANNEL, environ=environ)
    assert adapter.env_secret("HOOK_FR") == "https://hooks.example/fr-abc"


@pytest.mark.parametrize("environ", [{}, {"SOCIALSCHED_SECRET_HOOK_FR": ""}])
def test_env_secret_unset_is_a_permanent_error_naming_the_variable_and_purpose(environ):
    adapter = Adapter(CHANNEL, environ=environ)
    with pytest.raises(MissingSecretError) as raised:
        adapter.env_secret("HOOK_FR", "the segment's webhook URL")
    assert isinstance(raised.value, PermanentError)
    assert str(raised.value) == (
        "channel 'team': the segment's webhook URL (HOOK_FR): it is not granted (set "
        "SOCIALSCHED_SECRET_HOOK_FR, or put the file HOOK_FR in $CREDENTIALS_DIRECTORY)"
    )
    assert raised.value.variable == "SOCIALSCHED_SECRET_HOOK_FR"


def test_secret_goes_through_the_channels_secrets_table():
    adapter = Adapter(CHANNEL, environ={"SOCIALSCHED_SECRET_TEAM_TOKEN": "tok-123"})
    assert adapter.secret("token") == "tok-123"
    with pytest.raises(MissingSecretError, match="declares no secret 'other'"):
        adapter.secret("other")


@pytest.mark.parametrize(
    ("declared", "environ"),
    [
        (
            {},
            {"SOCIALSCHED_SECRET_TEAM_APP_KEY": "set but not declared"},
        ),  # the channel names no such secret
        ({"app_key": "TEAM_APP_KEY"}, {}),  # declared, variable unset
        (
            {"app_key": "TEAM_APP_KEY"},
            {"SOCIALSCHED_SECRET_TEAM_APP_KEY": ""},
        ),  # declared, variable empty
    ],
)
def test_an_optional_secret_gives_its_default_when_absent(declared, environ):
    channel = Channel(name="team", adapter="x", secrets={"token": "TEAM_TOKEN", **declared})
    adapter = Adapter(channel, environ={"SOCIALSCHED_SECRET_TEAM_TOKEN": "tok-123", **environ})
    assert adapter.secret("app_key", None) is None
    assert adapter.secret("app_key", "fallback") == "fallback"
    with pytest.raises(MissingSecretError):
        adapter.secret("app_key")


def test_an_optional_secret_that_is_set_is_read_and_hidden_from_logs():
    from socialsched.trust.redaction import REDACTOR

    channel = Channel(name="team", adapter="x", secrets={"app_key": "TEAM_APP_KEY"})
    adapter = Adapter(channel, environ={"SOCIALSCHED_SECRET_TEAM_APP_KEY": "ak-998877"})
    assert adapter.secret("app_key", None) == "ak-998877"
    assert REDACTOR.redact("sending with ak-998877") == "sending with [secret TEAM_APP_KEY]"
