"""Observations for reports, built from what the store recorded: the one place where
reports meet the store (`socialsched.analytics.reports` and
`socialsched.analytics.best_times` are pure).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from socialsched.store.markets import markets

from .reports import Observation


def observations_from_store(
    store: Any, since: datetime | None = None, until: datetime | None = None
) -> list[Observation]:
    """Each published delivery of `store` with engagement recorded, with its latest
    snapshot (`Store.engagement_facts`), published in [since, until).

    Local times are the publication time in the segment's time zone as last scheduled
    (`store.markets`); for a segment the store has no market for (scheduled before
    markets were recorded), at the UTC offset the delivery was planned with, and with
    no country."""
    found = markets(store.engine)
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    observations = []
    for fact in store.engagement_facts(since=since, until=until):
        market = found.get((fact.calendar, fact.segment))
        local = fact.published_local
        if market is not None:
            zone = zones.get(market.timezone)
            if zone is None:
                zone = zones[market.timezone] = zoneinfo.ZoneInfo(market.timezone)
            local = fact.published_at.astimezone(zone)
        observations.append(
            Observation.of(
                fact.engagement,
                delivery_id=fact.delivery_id,
                post=fact.post,
                segment=fact.segment,
                locale=fact.locale,
                country=market.country if market else None,
                channel=fact.channel,
                tags=fact.tags,
                utc=fact.utc,
                local=local,
                published_at=fact.published_at,
            )
        )
    return observations


__all__ = ["observations_from_store"]
