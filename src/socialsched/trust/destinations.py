"""Where a channel's secrets are sent: each adapter's declaration, and origins.

A calendar is written by many hands, so the channel settings that decide where a token
goes (Mastodon's `instance`, Bluesky's `service`, a webhook's `url`) are as sensitive
as the token. Each adapter declares, per secret, the setting whose URL's *origin*
(scheme://host:port) receives it (`Adapter.secret_destinations`); the operator
approves those origins once per channel (`socialsched channels approve`), and the
runner holds a channel whose secrets would go anywhere else.

Only origins are kept: for a webhook whose URL is itself the secret, the approval
stores the URL's origin, never its path or query (where the token lives).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

_DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25, "smtps": 465, "ws": 80, "wss": 443}

ANY_SECRET = "*"
"""The key of `Adapter.secret_destinations` that covers every secret not named."""


@attrs.frozen
class Destination:
    """Where one secret is sent.

    `setting` names the channel setting holding the URL the secret goes to, `default`
    the URL used when the channel does not give that setting (None: the setting is
    required). With `in_value`, the secret's own value is the URL (a webhook URL).
    """

    setting: str | None = None
    default: str | None = None
    in_value: bool = False


class DestinationError(ValueError):
    """A destination that is not a URL with a scheme and a host (never shows a value)."""


def origin(url: str) -> str:
    """`url`'s origin: lower-case scheme and host, and the port, the scheme's default
    written out (`https://Example.org/x` -> `https://example.org:443`), so that two
    spellings of one destination compare equal and another port does not."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        raise DestinationError("not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        raise DestinationError("not a URL with a scheme and a host")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = port or _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def declare(
    by_secret: Mapping[str, Destination | tuple[Destination, ...]],
) -> Mapping[str, Destination | tuple[Destination, ...]]:
    """`by_secret` made read-only, for an adapter's `secret_destinations` (a class
    attribute every channel shares)."""
    return MappingProxyType(dict(by_secret))


def settings_digest(settings: Mapping[str, Any]) -> str:
    """Stands for the destination of a secret its adapter does not declare: any change
    of the channel's settings then needs a new approval (the safe side)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return "settings sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve(
    destination: Destination,
    settings: Mapping[str, Any],
    value: Callable[[], str],
) -> str:
    """The origin `destination` names for a channel with `settings`; `value` reads the
    secret (only called for `in_value`). Raises `DestinationError` naming the setting."""
    if destination.in_value:
        try:
            return origin(value())
        except DestinationError as error:
            # Never echo the value: it is the secret.
            raise DestinationError(f"the secret's value is {error}") from None
    url = settings.get(destination.setting) if destination.setting else None
    if url in (None, ""):
        url = destination.default
    if url in (None, ""):
        raise DestinationError(f"settings.{destination.setting} is not set")
    try:
        return origin(str(url))
    except DestinationError as error:
        raise DestinationError(f"settings.{destination.setting} is {error}") from None


DESTINATION_NOT_APPROVED = "destination not approved"
"""How the runner's hold of a channel whose secrets would go somewhere not approved
begins (pause reason, alert, log)."""


@attrs.frozen
class Approval:
    """What the operator approved for one channel: its adapter and, per secret name,
    the destination origin (several separated by a space)."""

    calendar: str
    channel: str
    adapter: str
    destinations: Mapping[str, str]
    actor: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 time)."""
        shown = attrs.asdict(self)
        return {**shown, "destinations": dict(self.destinations), "at": self.at.isoformat()}


def unapproved(
    approval: Approval | None, adapter: str, destinations: Mapping[str, str]
) -> dict[str, str]:
    """The secrets of `destinations` ({secret name: origin}, as a channel using
    `adapter` would send them now) that `approval` does not cover: all of them without
    an approval or when the adapter changed; none for a channel with no secrets."""
    if approval is None or approval.adapter != adapter:
        return dict(destinations)
    return {
        name: where
        for name, where in destinations.items()
        if approval.destinations.get(name) != where
    }


def describe_unapproved(channel: str, missing: Mapping[str, str], approval: Approval | None) -> str:
    """Why a channel is held: which secret would go where, what was approved, and the
    command that approves it (`DESTINATION_NOT_APPROVED` first)."""
    sends = ", ".join(f"{name} to {where}" for name, where in sorted(missing.items()))
    if approval is None:
        before = "no destination was ever approved for it"
    else:
        known = ", ".join(
            f"{name} to {where}" for name, where in sorted(approval.destinations.items())
        )
        before = f"approved: {approval.adapter}, {known or 'no secrets'}"
    return (
        f"{DESTINATION_NOT_APPROVED}: channel {channel!r} would send {sends} ({before}); "
        f"check the change, then run: socialsched channels approve {channel}"
    )


__all__ = [
    "ANY_SECRET",
    "DESTINATION_NOT_APPROVED",
    "Approval",
    "Destination",
    "DestinationError",
    "declare",
    "describe_unapproved",
    "origin",
    "resolve",
    "settings_digest",
    "unapproved",
]
