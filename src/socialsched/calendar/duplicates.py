"""Lint warnings about duplicate posts and posts that take the same slot.

Networks refuse or bury a repeated message: X rejects a post whose text equals one
of the account's recent posts ("duplicate content"), and followers of any network
see the repeat. `duplicate_warnings` finds, per channel and audience (the account
and the group of followers a delivery reaches), two deliveries with the same
*normalised* text less than the calendar's `duplicate_window` apart (default 7
days). A post that repeats its own text (a recurrence, or one text for several
segments reaching the same account) is warned about only on networks that refuse
duplicates (X): elsewhere the repeat is on purpose. `slot_warnings`
finds two posts planned for the same segment and channel at the same instant.

Texts are compared after `normalise`: case folded, runs of white space made one
space, and each link reduced to its host and path: the scheme, a leading `www.`, a
trailing slash, a `#fragment` and tracking parameters (`utm_*`, `fbclid`, `gclid`
...) are dropped, other query parameters kept. So
`Sale! https://www.shop.example/a/?utm_source=x` and `sale!  http://shop.example/a`
are the same text, while links to two different pages are not.

Both scans group first and sort by time inside a group, then compare neighbours
only: a plan of a million deliveries takes one sort, never a comparison of all pairs.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import attrs

from socialsched.errors import Problem

if TYPE_CHECKING:  # model.py imports this module for `duplicate_window`
    from .model import Calendar, Delivery

DEFAULT_DUPLICATE_WINDOW = timedelta(days=7)
#: Query parameters that only track the click, dropped when links are compared.
TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga"}
)
_LINK = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# Sentence punctuation right after a link belongs to the sentence, not the link.
_TRAILING = ".,;:!?)]}'\""
_SPACE = re.compile(r"\s+")
# Networks whose API refuses a post equal to a recent one of the same account.
_REFUSES_DUPLICATES = {"x": "X"}


def duplicate_window(value: Any) -> timedelta:
    """The `duplicate_window` value as a positive `timedelta` ("7d", "36h", "90min")."""
    if isinstance(value, timedelta):
        window = value
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(s|min|h|d)\s*", str(value))
        if isinstance(value, bool) or not match:
            raise ValueError(
                f'duplicate_window = {value!r}: must be a duration such as "7d", "36h" or "90min"'
            )
        unit = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}[match[2]]
        window = timedelta(**{unit: int(match[1])})
    if window <= timedelta(0):
        raise ValueError(f"duplicate_window = {value!r}: must be longer than zero")
    return window


def header_problems(header: Mapping[str, Any], path: Path, lines: Any) -> list[Problem]:
    """A [calendar] `duplicate_window` that is not a positive duration, at its line
    (`lines`: the loader's `LineIndex`)."""
    if "duplicate_window" not in header:
        return []
    try:
        duplicate_window(header["duplicate_window"])
    except ValueError as error:
        line = lines.line("calendar", 0, "duplicate_window")
        return [Problem(f"[calendar] {error}", file=path, line=line)]
    return []


def _link(match: re.Match[str]) -> str:
    link = match[0]
    stripped = link.rstrip(_TRAILING)
    tail = link[len(stripped) :]
    link = re.sub(r"^(?:https?://)?(?:www\.)?", "", stripped, flags=re.IGNORECASE)
    link = link.split("#", 1)[0]
    address, _, query = link.partition("?")
    kept = [
        (key, value)
        for key, value in parse_qsl(query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMETERS
    ]
    address = address.rstrip("/")
    return address + (f"?{urlencode(kept)}" if kept else "") + tail


def normalise(text: str) -> str:
    """`text` as duplicates are compared: links reduced (see the module's docs), case
    folded, white space collapsed."""
    return _SPACE.sub(" ", _LINK.sub(_link, text)).strip().casefold()


@attrs.frozen
class _Pair:
    first: Delivery
    second: Delivery
    more: int = 0


def _audience_key(delivery: Delivery) -> str:
    audience = delivery.audience
    if hasattr(audience, "to_dict"):
        audience = audience.to_dict()
    return json.dumps(audience, sort_keys=True, default=str)


def _origin(calendar: Calendar, post: str) -> str:
    found = calendar.post_origins.get(post)
    if found is None:
        return f"post {post!r}"
    file, line = found
    return f"post {post!r} ({file}{f':{line}' if line is not None else ''})"


def _location(calendar: Calendar, post: str) -> tuple[Path | None, int | None]:
    return calendar.post_origins.get(post, (calendar.source, None))


def _local(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname() or ''}".rstrip()


def _pairs(calendar: Calendar, groups: Iterable[list[Delivery]], close: Any) -> list[_Pair]:
    """Neighbours in time inside each group that `close(a, b)` accepts, one `_Pair` per
    (post, post) with the earliest occurrence and how many more there are. At one
    instant, posts come in the calendar's order."""
    order = {post.id: index for index, post in enumerate(calendar.posts)}
    found: dict[tuple[str, ...], _Pair] = {}
    for group in groups:
        if len(group) < 2:
            continue
        group.sort(key=lambda d: (d.utc, order.get(d.post, -1), d.post, d.segment))
        for earlier, later in itertools.pairwise(group):
            if not close(earlier, later):
                continue
            key = (earlier.post, later.post, later.channel, earlier.segment, later.segment)
            pair = found.get(key)
            found[key] = (
                _Pair(earlier, later) if pair is None else attrs.evolve(pair, more=pair.more + 1)
            )
    return sorted(found.values(), key=lambda p: (p.first.utc, order.get(p.first.post, -1)))


def duplicate_warnings(calendar: Calendar, deliveries: Iterable[Delivery]) -> list[Problem]:
    """A warning per pair of posts that send the same normalised text to the same
    channel and audience less than `duplicate_window` apart (a post repeating its own
    text: only on a network that refuses duplicates)."""
    window = calendar.duplicate_window
    adapters = {channel.name: channel.adapter for channel in calendar.channels}
    groups: dict[tuple[str, str, str], list[Delivery]] = {}
    audiences: dict[int, tuple[Any, str]] = {}
    for delivery in deliveries:
        if not delivery.text:
            continue
        # Resolved audiences are shared objects: each one's key is worked out once (the
        # object is kept with it, so its id cannot be reused by another).
        found = audiences.get(id(delivery.audience))
        if found is None:
            found = audiences[id(delivery.audience)] = (delivery.audience, _audience_key(delivery))
        key = found[1]
        groups.setdefault((delivery.channel, key, normalise(delivery.text)), []).append(delivery)
    warnings = []

    def close(earlier: Delivery, later: Delivery) -> bool:
        if later.utc - earlier.utc >= window:
            return False
        # A post repeating its own text (a recurrence, or one text for several segments
        # on one account) does so on purpose: worth a word only where the network
        # refuses the repeat.
        return earlier.post != later.post or adapters.get(later.channel) in _REFUSES_DUPLICATES

    for pair in _pairs(calendar, groups.values(), close):
        first, second = pair.first, pair.second
        segments = (
            f"segment {first.segment!r}"
            if first.segment == second.segment
            else f"segments {first.segment!r} and {second.segment!r} (the same audience)"
        )
        network = _REFUSES_DUPLICATES.get(adapters.get(first.channel, ""))
        refusal = f"; {network} refuses duplicate posts" if network else ""
        more = f" (and {pair.more} more time{'s' if pair.more > 1 else ''})" if pair.more else ""
        who = (
            f"{_origin(calendar, first.post)} sends the same text twice"
            if first.post == second.post
            else f"{_origin(calendar, first.post)} and {_origin(calendar, second.post)} "
            "send the same text"
        )
        file, line = _location(calendar, first.post)
        warnings.append(
            Problem(
                f"{who} to channel {first.channel!r} for {segments} within "
                f"duplicate_window ({_duration(window)}): {_local(first.local)} and "
                f"{_local(second.local)}{more}{refusal}",
                severity="warning",
                file=file,
                line=line,
            )
        )
    return warnings


def slot_warnings(calendar: Calendar, deliveries: Iterable[Delivery]) -> list[Problem]:
    """A warning per pair of posts planned for the same segment and channel at the
    same instant (but two posts of one queue whose `per_slot` allows it)."""
    groups: dict[tuple[str, str, datetime], list[Delivery]] = {}
    for delivery in deliveries:
        groups.setdefault((delivery.segment, delivery.channel, delivery.utc), []).append(delivery)
    # A queue with `per_slot` above 1 puts several posts in one slot on purpose.
    shared = {queue.name for queue in calendar.queues if queue.per_slot > 1}
    queue_of = {post.id: post.queue for post in calendar.posts if post.queue in shared}

    def clash(earlier: Delivery, later: Delivery) -> bool:
        queue = queue_of.get(earlier.post)
        return earlier.post != later.post and (queue is None or queue != queue_of.get(later.post))

    warnings = []
    for pair in _pairs(calendar, groups.values(), clash):
        first, second = pair.first, pair.second
        more = f" (and {pair.more} more time{'s' if pair.more > 1 else ''})" if pair.more else ""
        file, line = _location(calendar, first.post)
        warnings.append(
            Problem(
                f"{_origin(calendar, first.post)} and {_origin(calendar, second.post)} take "
                f"the same slot: channel {first.channel!r}, segment {first.segment!r}, "
                f"{_local(first.local)}{more}",
                severity="warning",
                file=file,
                line=line,
            )
        )
    return warnings


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


__all__ = [
    "DEFAULT_DUPLICATE_WINDOW",
    "TRACKING_PARAMETERS",
    "duplicate_warnings",
    "duplicate_window",
    "header_problems",
    "normalise",
    "slot_warnings",
]
