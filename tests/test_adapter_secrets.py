"""The base Adapter reads secrets from the environment and never shows their values."""

from __future__ import annotations

import pytest

from socialsched.adapters import Adapter, MissingSecretError, PermanentError
from socialsched.model import Channel

CHANNEL = Channel(name="team", adapter="x", secrets={"token": "TEAM_TOKEN"})


def test_env_secret_reads_the_named_variable():
    adapter = Adapter(CHANNEL, environ={"HOOK_FR": "https://hooks.example/fr-abc"})
    assert adapter.env_secret("HOOK_FR") == "https://hooks.example/fr-abc"


@pytest.mark.parametrize("environ", [{}, {"HOOK_FR": ""}])
def test_env_secret_unset_is_a_permanent_error_naming_the_variable_and_purpose(environ):
    adapter = Adapter(CHANNEL, environ=environ)
    with pytest.raises(MissingSecretError) as raised:
        adapter.env_secret("HOOK_FR", "the segment's webhook URL")
    assert isinstance(raised.value, PermanentError)
    assert str(raised.value) == (
        "channel 'team': environment variable HOOK_FR (the segment's webhook URL) is not set"
    )


def test_secret_goes_through_the_channels_secrets_table():
    adapter = Adapter(CHANNEL, environ={"TEAM_TOKEN": "tok-123"})
    assert adapter.secret("token") == "tok-123"
    with pytest.raises(MissingSecretError, match="declares no secret 'other'"):
        adapter.secret("other")
