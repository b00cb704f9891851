"""Lint warnings about a cadence faster than a channel's network allows.

Every channel is one account on its network, and networks cap how often an account
may post. A calendar planning more than that (a post every minute to Mastodon, 200
posts a day to Instagram) is accepted by the planner, but the runner's publishes past
the cap fail as rate limited, again and again. `cadence_warnings` finds, per channel,
the busiest window of the network's length and warns when it holds more posts than the
network allows (each part of a thread counts as a post).

The rates come from the adapter class's `post_rate` (posts, seconds), when it declares
one, else from `NETWORK_RATES`: the networks' documented limits per account.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from socialsched.adapters.registry import UnknownAdapterError, adapter_class
from socialsched.errors import Problem

from .model import Calendar, Delivery

#: Documented posting limits per account, by adapter name: (posts, window in seconds).
NETWORK_RATES: dict[str, tuple[int, int]] = {
    # X: 2,400 posts a day per account (X Help Center, "X's limits").
    "x": (2_400, 86_400),
    # Mastodon: 300 statuses per 3 hours per account (docs: API rate limits).
    "mastodon": (300, 3 * 3_600),
    # Bluesky: 5,000 points an hour per account, 3 points per record created.
    "bluesky": (1_666, 3_600),
    # Instagram: 100 API-published posts in a moving 24 hours (content publishing).
    "instagram": (100, 86_400),
    # Threads: 250 API-published posts in a moving 24 hours.
    "threads": (250, 86_400),
    # LinkedIn: 150 member shares a day (Share API member throttle).
    "linkedin": (150, 86_400),
    # Slack: chat.postMessage, one message per second per channel (bursts tolerated).
    "slack": (60, 60),
    # Discord: a webhook takes about 30 messages a minute.
    "discord": (30, 60),
    # Telegram: about 20 messages a minute to one group or channel.
    "telegram": (20, 60),
}


def post_rate(adapter: str) -> tuple[int, int] | None:
    """The (posts, seconds) an account of `adapter`'s network may post, if known."""
    try:
        declared = getattr(adapter_class(adapter), "post_rate", None)
    except UnknownAdapterError:
        declared = None
    return declared if declared is not None else NETWORK_RATES.get(adapter)


def _window_text(seconds: int) -> str:
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return "24 hours" if days == 1 else f"{days} days"
    if seconds % 3_600 == 0:
        hours = seconds // 3_600
        return f"{hours} hour{'s' if hours > 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{seconds} seconds"


def cadence_warnings(calendar: Calendar, deliveries: Iterable[Delivery]) -> list[Problem]:
    """A warning per channel whose planned posts pass its network's rate in some
    window, naming the busiest window, its count and the network's limit."""
    rates = {channel.name: post_rate(channel.adapter) for channel in calendar.channels}
    instants: dict[str, list[tuple[float, int]]] = {}
    for delivery in deliveries:
        if rates.get(delivery.channel) is not None:
            posts = max(1, len(delivery.parts or ()))
            instants.setdefault(delivery.channel, []).append((delivery.utc.timestamp(), posts))
    warnings = []
    for channel in calendar.channels:
        rate, found = rates[channel.name], instants.get(channel.name)
        if rate is None or not found:
            continue
        limit, window = rate
        found.sort()
        busiest, busiest_start, held, first = 0, 0.0, 0, 0
        for when, posts in found:
            held += posts
            while found[first][0] <= when - window:
                held -= found[first][1]
                first += 1
            if held > busiest:
                busiest, busiest_start = held, found[first][0]
        if busiest > limit:
            start = datetime.fromtimestamp(busiest_start, UTC)
            span = _window_text(window)
            warnings.append(
                Problem(
                    f"channel {channel.name!r} plans {busiest} posts in {span} from "
                    f"{start:%Y-%m-%d %H:%M} UTC; {channel.adapter} allows about {limit} "
                    f"in {span} per account: publishes past that will be rate limited "
                    "(post less often, or spread posts over more channels)",
                    severity="warning",
                    file=calendar.source,
                )
            )
    return warnings


__all__ = ["NETWORK_RATES", "cadence_warnings", "post_rate"]
