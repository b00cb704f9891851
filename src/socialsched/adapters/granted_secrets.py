"""Reading a channel's granted secrets for an adapter (see `socialsched.trust.grants`)."""

from __future__ import annotations

from collections.abc import Mapping

from socialsched.calendar.model import Channel
from socialsched.trust.grants import GrantError, not_granted_message, read_secret, secret_variable
from socialsched.trust.redaction import hide_secret

from .errors import MissingSecretError


def granted_secret(channel: Channel, name: str, what: str, environ: Mapping[str, str]) -> str:
    """The value granted for secret `name` of `channel` (`what` says which, for the
    message); `MissingSecretError` saying what to set, or rename, when there is none."""
    try:
        value = read_secret(name, environ)
    except GrantError as error:
        raise MissingSecretError(
            f"channel {channel.name!r}: {what}: {error}", variable=secret_variable(name)
        ) from None
    if not value:
        raise MissingSecretError(
            f"channel {channel.name!r}: {what} ({name}): {not_granted_message(name, environ)}",
            variable=secret_variable(name),
        )
    hide_secret(value, f"secret {name}")
    return value
