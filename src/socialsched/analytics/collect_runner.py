"""The runner's collection of engagement by age, in small steps between publishing.

`Runner` calls `AgeCollection.step` only when a pass found nothing to publish, and a
step makes at most one `Adapter.engagement` call per channel before the runner looks
for due deliveries again: collection never keeps a due delivery waiting for more than
one call. A channel whose collection failed, whose rate is used up or whose network
gives no counts is left alone for `BACKOFF`; after a step that found nothing due, the
store is asked again only `RECHECK` later (a runner idles through many passes).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .collect import Collector

if TYPE_CHECKING:
    from socialsched.runner import Runner

logger = logging.getLogger("socialsched.runner")

BACKOFF = timedelta(minutes=5)
"""How long the runner leaves a channel alone after its collection failed."""
RECHECK = timedelta(minutes=1)
"""How long after a step that found nothing due the runner looks again."""


class AgeCollection:
    """Collects due engagement snapshots for `runner`, one bounded step at a time,
    through the runner's own adapters (so only to approved destinations)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.collector = Collector(runner.store, runner._adapter)
        self._resting: dict[tuple[str, str], datetime] = {}
        self._idle_until: datetime | None = None

    def step(self) -> int:
        """One step: at most one engagement call per channel. Returns how many
        deliveries were collected (0: nothing was due, or nothing could be)."""
        runner = self.runner
        if runner.stopping:
            return 0
        now = runner.store.clock()
        if self._idle_until is not None and now < self._idle_until:
            return 0
        self._resting = {key: until for key, until in self._resting.items() if until > now}
        result = self.collector.collect(
            max_calls=1, stopping=lambda: runner.stopping, skip=set(self._resting)
        )
        for stop in result.stopped:
            self._resting[stop.calendar, stop.channel] = now + BACKOFF
            if stop.error:
                logger.warning(
                    "engagement of channel %s not collected: %s",
                    stop.channel,
                    stop.reason,
                    extra=runner._fields(event="engagement_failed", channel=stop.channel),
                )
        collected = result.totals.collected
        if collected:
            logger.info(
                "collected engagement of %d deliveries",
                collected,
                extra=runner._fields(event="engagement_collected", collected=collected),
            )
        # Skipped deliveries (no counts to give) are progress too: look again.
        done = collected + result.totals.skipped
        self._idle_until = None if done else now + RECHECK
        return done


__all__ = ["BACKOFF", "RECHECK", "AgeCollection"]
