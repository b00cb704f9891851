"""Audiences: what a channel reaches a segment through on its network.

In a calendar a channel maps each segment to an audience, written either as a string
`"kind:id"` (`"list:customers-us"`, `"circle:clients-fr"`, `"community:1234"`,
`"group:-100987"`, `"recipient:@ana"`) or as a table with a `kind`:

    [channel.audiences]
    "fr-FR" = "circle:clients-fr"
    "en-US" = { kind = "targeting", countries = ["US"], locales = ["en-US"] }
    "es-MX" = { kind = "targeting" }   # the segment's own country and locale

Kinds are open: the common ones are listed in `AUDIENCE_KINDS`, and a network may
understand others (a Matrix `room`, a Mastodon `visibility`). Each adapter declares the
kinds it supports in `Capabilities.audiences`, and plan-time validation checks them.
The message handed to an adapter carries the resolved `Audience`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from socialsched.errors import PlanError

from .model import Channel, Segment, string_tuple

AUDIENCE_KINDS = ("list", "circle", "community", "group", "targeting", "recipient")
_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")


def _check_kind(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _KIND.match(value):
        raise ValueError(
            f"audience kind {value!r} must be a lowercase word such as {', '.join(AUDIENCE_KINDS)}"
        )


@attrs.frozen
class Audience:
    """Who a message is for on the network.

    `kind` is a lowercase word, usually one of `AUDIENCE_KINDS`. `id` names the
    list, circle, community, group/chat or direct-message recipient; a `targeting`
    audience has `countries` (ISO 3166-1 alpha-2) and `locales` (BCP 47) instead.
    """

    kind: str = attrs.field(validator=_check_kind)
    id: str | None = None
    countries: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    locales: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)

    @classmethod
    def parse(cls, raw: Any, segment: Segment | None = None) -> Audience:
        """An audience from its calendar form (string or table); `ValueError` if bad.

        A `targeting` table without countries or locales targets `segment`'s own.
        """
        if isinstance(raw, Audience):
            return raw
        kinds = ", ".join(AUDIENCE_KINDS)
        if isinstance(raw, str):
            kind, sep, ident = raw.partition(":")
            if not sep or not ident or not _KIND.match(kind):
                raise ValueError(
                    f"audience {raw!r} must look like 'kind:id' with kind a lowercase "
                    f"word such as {kinds}"
                )
            if kind == "targeting":
                raise ValueError(
                    f"audience {raw!r}: write targeting as a table, e.g. "
                    "{ kind = 'targeting', countries = ['US'] }"
                )
            return cls(kind, ident)
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - {"kind", "id", "countries", "locales"})
            if unknown:
                raise ValueError(
                    f"audience table has unknown key(s) {', '.join(unknown)} "
                    "(allowed: kind, id, countries, locales)"
                )
            table_kind = raw.get("kind")
            if not isinstance(table_kind, str) or not _KIND.match(table_kind):
                raise ValueError(
                    f"audience kind {table_kind!r} must be a lowercase word such as {kinds}"
                )
            if table_kind == "targeting":
                countries = string_tuple(raw.get("countries"))
                locales = string_tuple(raw.get("locales"))
                if not countries and not locales and segment is not None:
                    countries, locales = (segment.country,), (segment.locale,)
                return cls("targeting", None, tuple(c.upper() for c in countries), locales)
            table_id = raw.get("id")
            if not table_id:
                raise ValueError(f"audience of kind {table_kind!r} needs an id")
            return cls(str(table_kind), str(table_id))
        raise ValueError(f"audience must be a 'kind:id' string or a table, not {raw!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        if self.kind == "targeting":
            return {
                "kind": self.kind,
                "countries": list(self.countries),
                "locales": list(self.locales),
            }
        return {"kind": self.kind, "id": self.id}

    def __str__(self) -> str:
        if self.kind == "targeting":
            return f"targeting:{','.join(self.countries + self.locales)}"
        return f"{self.kind}:{self.id}"


def resolve_audience(channel: Channel, segment: Segment) -> Audience | None:
    """The audience `channel` reaches `segment` through, or None when it names none.

    Raises `PlanError` naming the channel and segment when the audience is malformed.
    """
    raw = channel.audiences.get(segment.name)
    if raw is None:
        return None
    try:
        return Audience.parse(raw, segment)
    except ValueError as error:
        raise PlanError(f"channel {channel.name!r}, segment {segment.name!r}: {error}") from None


__all__ = ["AUDIENCE_KINDS", "Audience", "resolve_audience"]
