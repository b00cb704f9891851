"""Channel preflight: ask each channel's network whether its credentials work, posting
nothing, so an expired token shows up before a week of posts fails.

`check_channels` builds each channel's adapter and calls `Adapter.verify`; every
outcome is one `ChannelCheck`. Secrets the channel declares must be granted first
(`socialsched.trust.grants`), so a missing one is reported (by name, never a value) even for
networks that offer no credentials check; with the operator's approvals given, a
channel whose secrets would go to a destination not approved is reported and never
verified, so nothing is sent to it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from socialsched.adapters import (
    Adapter,
    AdapterError,
    CannotCheck,
    CredentialsRejected,
    MissingSecretError,
    TransientError,
)
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.model import Calendar, Channel
from socialsched.store.approvals import Approval, describe_unapproved, unapproved
from socialsched.trust.grants import GrantError, not_granted_message, read_secret, secret_variable
from socialsched.trust.redaction import redact

OK = "ok"
MISSING_SECRET = "missing_secret"
REJECTED = "rejected"
UNREACHABLE = "unreachable"
NOT_CHECKABLE = "not_checkable"
BROKEN = "broken"
NOT_APPROVED = "not_approved"

OUTCOMES: Mapping[str, str] = {
    OK: "ok",
    MISSING_SECRET: "missing secret",
    REJECTED: "rejected credentials",
    UNREACHABLE: "unreachable",
    NOT_CHECKABLE: "not checkable",
    BROKEN: "broken",
    NOT_APPROVED: "destination not approved",
}
"""Each outcome and how it reads in text output. `broken` covers a channel whose
adapter cannot be set up or whose network refused the check for another reason;
`not_approved` a channel whose secrets would go to a destination the operator has not
approved (`socialsched channels approve`): it is not checked, so nothing is sent."""

AdapterFactory = Callable[[Channel], Adapter]


@attrs.frozen
class ChannelCheck:
    """What the preflight found for one channel.

    `outcome` is one of `OUTCOMES`; `detail` says what answered (for ok) or what is
    wrong; `variable` names the unset environment variable (missing secret only).
    """

    channel: str
    adapter: str
    outcome: str = attrs.field(validator=attrs.validators.in_(OUTCOMES))
    detail: str = ""
    calendar: str | None = None
    variable: str | None = None

    @property
    def failed(self) -> bool:
        """Whether this outcome should stop a deployment (not checkable is no failure)."""
        return self.outcome not in (OK, NOT_CHECKABLE)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with `failed`."""
        return {**attrs.asdict(self), "failed": self.failed}


def _default_adapter(channel: Channel) -> Adapter:
    return adapter_class(channel.adapter)(channel)


def check_channel(
    channel: Channel,
    *,
    calendar: str | None = None,
    adapters: AdapterFactory | None = None,
    environ: Mapping[str, str] | None = None,
    approvals: Mapping[tuple[str, str], Approval] | None = None,
) -> ChannelCheck:
    """Check one channel: its declared secrets are granted, its secrets' destinations
    approved, then `Adapter.verify`.

    `adapters` builds the adapter (default: the installed adapter the channel names);
    `environ` is where secrets are looked up (default: the process environment).
    `approvals` are the operator's (`Store.approvals()`): a channel whose secrets would
    go anywhere else is `not_approved` and never verified. None skips that check (for
    code that builds its own channels; the CLI always passes them).
    """
    found = functools.partial(ChannelCheck, channel.name, channel.adapter, calendar=calendar)
    env = os.environ if environ is None else environ
    for key, variable in sorted(channel.secrets.items()):
        try:
            granted = read_secret(variable, env) is not None
            why = f"secret {key!r} ({variable}): {not_granted_message(variable, env)}"
        except GrantError as error:
            granted, why = False, f"secret {key!r}: {error}"
        if not granted:
            return found(MISSING_SECRET, why, variable=secret_variable(variable))
    adapter: Adapter | None = None
    try:
        adapter = (adapters or _default_adapter)(channel)
        if approvals is not None:
            where = type(adapter).destinations(channel, env)
            approval = approvals.get((calendar or "", channel.name))
            missing = unapproved(approval, channel.adapter, where)
            if missing:
                return found(NOT_APPROVED, describe_unapproved(channel.name, missing, approval))
        description = adapter.verify()
    except MissingSecretError as error:
        return found(MISSING_SECRET, _safe(error), variable=error.variable)
    except CredentialsRejected as error:
        return found(REJECTED, _safe(error))
    except TransientError as error:
        return found(UNREACHABLE, _safe(error))
    except CannotCheck as error:
        return found(NOT_CHECKABLE, _safe(error))
    except AdapterError as error:
        return found(BROKEN, _safe(error))
    except Exception as error:  # a plugin bug must not hide the other channels' results
        return found(BROKEN, _safe(f"{type(error).__name__}: {error}"))
    finally:
        if adapter is not None:
            adapter.close()
    return found(OK, _safe(description))


def check_channels(
    channels: Calendar | Iterable[Channel] | Mapping[tuple[str, str], Channel],
    *,
    adapters: AdapterFactory | None = None,
    environ: Mapping[str, str] | None = None,
    approvals: Mapping[tuple[str, str], Approval] | None = None,
) -> list[ChannelCheck]:
    """Check every channel of a calendar, of an iterable, or of a store's channel table
    (`Store.channels()`, keyed by (calendar, name)); results in that order.
    `approvals`: as for `check_channel`."""
    if isinstance(channels, Calendar):
        named: list[tuple[str | None, Channel]] = [(channels.name, c) for c in channels.channels]
    elif isinstance(channels, Mapping):
        named = [(calendar, channel) for (calendar, _), channel in sorted(channels.items())]
    else:
        named = [(None, channel) for channel in channels]
    return [
        check_channel(
            channel, calendar=calendar, adapters=adapters, environ=environ, approvals=approvals
        )
        for calendar, channel in named
    ]


def _safe(error: object) -> str:
    """An error message with every secret value adapters registered replaced."""
    return redact(str(error))


__all__ = ["OUTCOMES", "ChannelCheck", "check_channel", "check_channels"]
