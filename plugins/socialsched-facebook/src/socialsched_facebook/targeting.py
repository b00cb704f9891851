"""Audience tables to Graph API `targeting` / `feed_targeting` objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KINDS = ("targeting", "feed_targeting")
FIELDS = ("countries", "locales")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def audience_problems(audience: Any) -> list[str]:
    """What is wrong with an audience table; empty when it is usable.

    An audience is absent (everyone who follows the page) or a table with `targeting`
    (only these people can see the post) and/or `feed_targeting` (these people are
    likelier to see it in their feed), each with `countries` (ISO 3166-1 alpha-2
    codes) and/or `locales` (Facebook's numeric locale keys, e.g. 6 for en_US).
    """
    if audience is None:
        return []
    if not isinstance(audience, Mapping):
        return ["the audience must be a table with targeting and/or feed_targeting"]
    problems = [
        f"audience key {key!r} is not one of {', '.join(KINDS)}"
        for key in audience
        if key not in KINDS
    ]
    for kind in KINDS:
        block = audience.get(kind)
        if block is None:
            continue
        if not isinstance(block, Mapping) or not block:
            problems.append(f"audience {kind} must be a table with countries and/or locales")
            continue
        problems.extend(
            f"audience {kind}.{key} is not one of {', '.join(FIELDS)}"
            for key in block
            if key not in FIELDS
        )
        countries = block.get("countries", [])
        if not isinstance(countries, list | tuple) or not all(
            isinstance(code, str) and _COUNTRY.match(code) for code in countries
        ):
            problems.append(
                f"audience {kind}.countries must be ISO country codes such as ['FR', 'BE']"
            )
        locales = block.get("locales", [])
        if not isinstance(locales, list | tuple) or not all(
            isinstance(key, int) and not isinstance(key, bool) for key in locales
        ):
            problems.append(
                f"audience {kind}.locales must be Facebook locale keys (integers, e.g. 6 for "
                "en_US; look them up with the Graph API search type=adlocale)"
            )
    return problems


def graph_targeting(block: Mapping[str, Any]) -> dict[str, Any]:
    """The Graph API `targeting` object (who may see the post)."""
    result: dict[str, Any] = {}
    if block.get("countries"):
        result["geo_locations"] = {"countries": list(block["countries"])}
    if block.get("locales"):
        result["locales"] = list(block["locales"])
    return result


def graph_feed_targeting(block: Mapping[str, Any]) -> dict[str, Any]:
    """The Graph API `feed_targeting` object (who is likelier to see it in feed)."""
    return {field: list(block[field]) for field in FIELDS if block.get(field)}
