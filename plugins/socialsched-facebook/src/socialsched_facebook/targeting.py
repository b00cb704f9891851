"""Targeting audiences to Graph API `targeting` / `feed_targeting` objects.

A segment's audience is a socialsched `targeting` audience: ISO country codes and
BCP 47 locales (by default the segment's own). Facebook identifies locales by numeric
keys (6 is en_US), found with the Graph API search `type=adlocale`; the channel maps
each BCP 47 locale it targets to its key in `settings.locale_keys`, and a locale may
also be written as the key itself ("6").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FIELDS = ("targeting", "feed_targeting")
"""Graph API page-post fields: who may see the post / who is likelier to see it."""
FIELD_MODES = {"targeting": ("targeting",), "feed_targeting": ("feed_targeting",), "both": FIELDS}
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def parse_locale_keys(raw: Any) -> dict[str, int]:
    """`settings.locale_keys` (BCP 47 locale -> Facebook locale key); ValueError if bad."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(key, int) and not isinstance(key, bool) for key in raw.values()
    ):
        raise ValueError(
            "settings.locale_keys must be a table of locale = Facebook locale key "
            '(an integer), e.g. { "fr-FR" = 9 }'
        )
    return {str(locale): int(key) for locale, key in raw.items()}


def locale_key(locale: str, locale_keys: Mapping[str, int]) -> int | None:
    """The Facebook key of `locale`: from the channel's table, or the locale as digits."""
    if locale in locale_keys:
        return locale_keys[locale]
    return int(locale) if locale.isdigit() else None


def audience_problems(audience: Any, locale_keys: Mapping[str, int]) -> list[str]:
    """What keeps a targeting audience from becoming Graph targeting; empty when usable.

    Other audience kinds are left to the base validation, which refuses them.
    """
    if getattr(audience, "kind", None) != "targeting":
        return []
    problems = [
        f"audience country {code!r} is not an ISO 3166-1 code such as 'FR'"
        for code in audience.countries
        if not _COUNTRY.match(code)
    ]
    problems.extend(
        f"audience locale {locale!r} has no Facebook locale key: add it to "
        f'settings.locale_keys (e.g. "{locale}" = 9; look keys up with the Graph API '
        "search type=adlocale)"
        for locale in audience.locales
        if locale_key(locale, locale_keys) is None
    )
    return problems


def graph_targeting(countries: list[str], locales: list[int]) -> dict[str, Any]:
    """The Graph API `targeting` object (who may see the post)."""
    result: dict[str, Any] = {}
    if countries:
        result["geo_locations"] = {"countries": countries}
    if locales:
        result["locales"] = locales
    return result


def graph_feed_targeting(countries: list[str], locales: list[int]) -> dict[str, Any]:
    """The Graph API `feed_targeting` object (who is likelier to see it in feed)."""
    result: dict[str, Any] = {}
    if countries:
        result["countries"] = countries
    if locales:
        result["locales"] = locales
    return result
