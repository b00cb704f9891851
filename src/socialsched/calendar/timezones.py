"""Time zone normalisation: the public API accepts IANA names, zoneinfo,
pytz and dateutil zones; inside, everything is `zoneinfo.ZoneInfo`."""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from datetime import UTC, tzinfo
from typing import Any

from socialsched.errors import SocialschedError


class UnknownTimezoneError(SocialschedError, ValueError):
    """A time zone name that the IANA database does not know."""


@functools.cache
def _available() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def suggest_timezone(name: str) -> str | None:
    """Return the closest IANA name to `name`, or None."""
    lowered = {zone.lower(): zone for zone in _available()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if matches:
        return lowered[matches[0]]
    # "Paris" -> "Europe/Paris": compare with the last component of each name.
    by_city = {zone.rsplit("/", 1)[-1].lower(): zone for zone in _available()}
    matches = difflib.get_close_matches(name.lower(), list(by_city), n=1, cutoff=0.75)
    return by_city[matches[0]] if matches else None


def _zone_name(value: Any) -> str | None:
    # pytz zones carry `.zone`; zoneinfo `.key`; dateutil tzfile `_filename`
    # which is a path like /usr/share/zoneinfo/Europe/Paris.
    for attribute in ("key", "zone"):
        name = getattr(value, attribute, None)
        if isinstance(name, str):
            return name
    filename = getattr(value, "_filename", None)
    if isinstance(filename, str):
        marker = "zoneinfo/"
        return filename.split(marker, 1)[1] if marker in filename else filename
    return None


def to_zoneinfo(value: str | tzinfo | Any) -> zoneinfo.ZoneInfo:
    """Normalise an IANA name, zoneinfo, pytz or dateutil zone to `ZoneInfo`.

    Raises `UnknownTimezoneError` naming the closest valid name when the zone is unknown.
    """
    if isinstance(value, zoneinfo.ZoneInfo):
        return value
    # datetime.timezone.utc and dateutil's tz.UTC carry no IANA name but mean "UTC".
    if value is UTC or type(value).__name__ == "tzutc":
        return zoneinfo.ZoneInfo("UTC")
    name = value if isinstance(value, str) else _zone_name(value)
    if name is None:
        raise UnknownTimezoneError(f"cannot use {value!r} as a time zone: give an IANA name")
    try:
        if name not in _available() and name != "UTC":
            raise zoneinfo.ZoneInfoNotFoundError(name)
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        suggestion = suggest_timezone(name)
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        raise UnknownTimezoneError(f"unknown time zone {name!r}{hint}") from None
