"""Organization post targeting: a segment's `targeting` audience as the Posts API's
`distribution.targetEntities` (interface locales, and geographies by geo URN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def target_entities(audience: Any, geo_urns: Mapping[str, str]) -> list[dict[str, Any]]:
    """`targetEntities` for a targeting audience (empty: everyone who follows)."""
    if getattr(audience, "kind", None) != "targeting":
        return []
    entity: dict[str, Any] = {}
    if audience.countries:
        entity["geoLocations"] = [geo_urns[country] for country in audience.countries]
    if audience.locales:
        entity["interfaceLocales"] = [_locale(locale) for locale in audience.locales]
    return [entity] if entity else []


def targeting_problems(audience: Any, geo_urns: Mapping[str, str], organization: bool) -> list[str]:
    """What keeps a targeting audience from becoming LinkedIn targeting."""
    if getattr(audience, "kind", None) != "targeting":
        return []
    if not organization:
        return ["linkedin targets audiences only in organization posts, not a member's"]
    return [
        f"audience country {country!r} has no LinkedIn geo URN: add it to settings.geo_urns "
        f'(e.g. {country} = "urn:li:geo:105015875"; look URNs up with the Geo Typeahead API)'
        for country in audience.countries
        if country not in geo_urns
    ]


def _locale(locale: str) -> dict[str, str]:
    language, _, country = locale.replace("_", "-").partition("-")
    result = {"language": language.lower()}
    if country:
        result["country"] = country.upper()
    return result
