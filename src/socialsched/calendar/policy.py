"""The failure policy: retry delays (exponential backoff with jitter) and rate limits."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import attrs

from socialsched.errors import SocialschedError

_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}
BASE_DELAY = 30.0
MAX_DELAY = 3600.0


class RateError(SocialschedError):
    """A channel's `rate` is not of the form "COUNT/PERIOD" (e.g. "300/5min")."""


@attrs.frozen
class Rate:
    """At most `count` attempts per `period` on one channel."""

    count: int
    period: timedelta

    @classmethod
    def parse(cls, text: str, channel: str = "?") -> Rate:
        """Parse "300/5min", "10/s", "1000/1d"."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|min|m|h|d)\s*", text)
        if not match or int(match[1]) == 0 or match[2] == "0":
            raise RateError(
                f"channel {channel!r}: rate {text!r} must look like '300/5min' "
                "(a positive count per s, min, h or d)"
            )
        period = int(match[2] or 1) * _UNITS[match[3]]
        return cls(int(match[1]), timedelta(seconds=period))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    rng: random.Random | None = None,
    base: float = BASE_DELAY,
    cap: float = MAX_DELAY,
) -> float:
    """Seconds to wait before attempt `attempt + 1` after `attempt` failed transiently.

    Exponential (base * 2**(attempt-1), capped) with jitter drawn from the upper half,
    so retries of many deliveries spread out; never sooner than `retry_after`."""
    rng = rng or random.Random()
    exponential = min(cap, base * 2 ** max(0, attempt - 1))
    delay = exponential * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay
