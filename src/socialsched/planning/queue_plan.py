"""Planning queues: each segment's queue slots, and the queued posts that fill them.

Pure functions, called by the planner (`QueuePlanner`, one per `Planner`):

- `queue_slots`: a queue's slots in one segment's market, from the queue's start day:
  its `times` (local wall-clock, read as the planner reads times: in a spring-forward
  gap, with the offset before the change; an ambiguous time, the first one) on its
  `days`, none on a holiday of the market (public, or an observance with
  `holiday = true`) unless `on_holiday = "post"`, none inside quiet hours.
- `fill`: for one segment and channel, the queued posts that go there take the free
  slots in the order the file lists them (`per_slot` each); then evergreen posts fill
  the slots left, least recently used first (ties: file order), never within their
  `min_gap` nor more than `max_repeats` times, and never the text that went out just
  before. Published (and in-flight) deliveries, the *pins*, keep their slots and the
  rest flow around them.

The fill starts at the queue's start whatever range is planned, so planning [s, e]
gives the same deliveries for those days as planning a longer range. Slot keys hold
no time ("queue", "queue#2"), so a post that re-flows keeps its delivery id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import attrs

from socialsched.calendar.holidays_table import DayTable
from socialsched.calendar.line_index import LineIndex
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.calendar.queues import QUEUE_KEY, Queue, slot_key
from socialsched.errors import PlanError, Problem

from .plans import Slot, Timing, delivery_id
from .render import by_locale


class QueuePin(NamedTuple):
    """A delivery of a queued post that went out (or is going out): it keeps its slot."""

    post: str
    segment: str
    channel: str
    key: str
    utc: datetime
    local: datetime


class Placement(NamedTuple):
    """A queued post on a slot of one segment and channel: `use` 1 is its first
    delivery there, 2 its first evergreen repeat, and so on."""

    post: str
    use: int
    slot: Slot
    pinned: bool


def _resolve(naive: datetime, segment: Segment) -> tuple[datetime, datetime]:
    # As the planner reads local times (PEP 495 fold=0): a time in a spring-forward gap
    # takes the offset before the change, an ambiguous fall-back time is the first one.
    utc = naive.replace(tzinfo=segment.timezone, fold=0).astimezone(UTC)
    return utc, utc.astimezone(segment.timezone)


def queue_slots(
    queue: Queue, segment: Segment, days: DayTable, first: date, last: date
) -> list[Slot]:
    """The queue's slots in `segment`'s market on local days [first, last], in time
    order (keys are filled in by `fill`)."""
    slots: list[Slot] = []
    seen: set[datetime] = set()
    day = first
    while day <= last:
        if day.weekday() in queue.days:
            holiday = days.holiday(day)
            if holiday is None or queue.on_holiday == "post":
                for moment in queue.times:
                    utc, local = _resolve(datetime.combine(day, moment), segment)
                    wall = local.time().replace(tzinfo=None)
                    if queue.respect_quiet_hours and any(
                        window.contains(wall) for window in segment.quiet_hours
                    ):
                        continue
                    if utc in seen:  # two gap times on one instant: one slot
                        continue
                    seen.add(utc)
                    slots.append(Slot(QUEUE_KEY, utc, local, holiday, None, None))
        day += timedelta(days=1)
    slots.sort(key=lambda slot: slot.utc)
    return slots


def text_source(post: Post, locale: str) -> tuple[str, Any]:
    """What a post's text is made from for `locale`: its template's name or its inline
    text (the locale's entry): two posts with the same source say the same thing."""
    if post.template is not None:
        return ("template", post.template)
    if isinstance(post.text, Mapping):
        found = by_locale(post.text, locale)
        return ("text", found[1] if found else None)
    return ("text", post.text)


def fill(
    queue: Queue,
    posts: Sequence[Post],
    slots: Sequence[Slot],
    locale: str,
    last: date,
    pins: Sequence[QueuePin] = (),
    first: date | None = None,
) -> list[Placement]:
    """The queued `posts` (in file order) placed on `slots` (one segment and channel,
    in time order) up to local day `last`; `pins` keep their slots, and no other post
    takes a slot before local day `first` (the day of scheduling). Pure."""
    evergreen = [post for post in posts if post.evergreen is not None]
    sources = {post.id: text_source(post, locale) for post in posts}
    order = {post.id: index for index, post in enumerate(posts)}
    by_id = {post.id: post for post in posts}
    pins = sorted((pin for pin in pins if pin.post in by_id), key=lambda pin: pin.utc)
    pinned_keys: dict[str, set[str]] = {}
    for pin in pins:
        pinned_keys.setdefault(pin.post, set()).add(pin.key)
    fresh = [post for post in posts if QUEUE_KEY not in pinned_keys.get(post.id, ())]
    taken = Counter(pin.utc for pin in pins)
    pinned_at: dict[datetime, set[str]] = {}
    for pin in pins:
        pinned_at.setdefault(pin.utc, set()).add(pin.post)
    uses: Counter[str] = Counter()
    numbers: dict[str, int] = {}
    last_use: dict[str, datetime] = {}
    previous: tuple[str, Any] | None = None
    placements: list[Placement] = []
    pending = iter(pins)
    next_pin = next(pending, None)

    def record(post_id: str, use: int, slot: Slot, pinned: bool) -> None:
        nonlocal previous
        uses[post_id] += 1
        numbers[post_id] = max(numbers.get(post_id, 0), use)
        last_use[post_id] = slot.local.replace(tzinfo=None)
        previous = sources[post_id]
        placements.append(Placement(post_id, use, slot, pinned))

    def take_pin(pin: QueuePin) -> None:
        use = 1 if pin.key == QUEUE_KEY else int(pin.key.rpartition("#")[2])
        record(pin.post, use, Slot(pin.key, pin.utc, pin.local, None, None, None), True)

    for slot in slots:
        while next_pin is not None and next_pin.utc <= slot.utc:
            take_pin(next_pin)
            next_pin = next(pending, None)
        if slot.local.date() > last or (not fresh and not evergreen):
            break
        if first is not None and slot.local.date() < first:
            continue  # gone by: a post added now must not land in the past
        here = set(pinned_at.get(slot.utc, ()))
        for _ in range(queue.per_slot - taken[slot.utc]):
            if fresh:
                post = fresh.pop(0)
                use = 1
            else:
                chosen = _evergreen_choice(evergreen, slot, uses, last_use, previous, here, sources)
                if chosen is None:
                    break
                post = chosen
                use = max(uses[post.id], numbers.get(post.id, 0)) + 1
                while slot_key(use) in pinned_keys.get(post.id, ()):
                    use += 1
            here.add(post.id)
            record(post.id, use, slot._replace(key=slot_key(use)), False)
    while next_pin is not None:
        take_pin(next_pin)
        next_pin = next(pending, None)
    placements.sort(key=lambda placement: (placement.slot.utc, order[placement.post]))
    return placements


def _evergreen_choice(
    evergreen: Sequence[Post],
    slot: Slot,
    uses: Mapping[str, int],
    last_use: Mapping[str, datetime],
    previous: tuple[str, Any] | None,
    here: set[str],
    sources: Mapping[str, tuple[str, Any]],
) -> Post | None:
    """The evergreen post that takes `slot`: among those that went out before (their
    first, fresh run), have repeats left, are past their gap and do not say what went
    out last, the least recently used (ties: file order)."""
    wall = slot.local.replace(tzinfo=None)
    best: Post | None = None
    for post in evergreen:
        settings = post.evergreen
        assert settings is not None
        if post.id in here or post.id not in last_use:
            continue
        if uses[post.id] >= settings.max_uses or wall - last_use[post.id] < settings.min_gap:
            continue
        if sources[post.id] == previous:
            continue
        if best is None or last_use[post.id] < last_use[best.id]:
            best = post
    return best


def pin_key(calendar: str, post: Post, segment: str, channel: str, delivery: str) -> str | None:
    """The queue slot key a stored delivery of a queued post was planned with (found
    from its id, which hashes it), or None when it was not a queued delivery."""
    # Repeats past today's max_repeats may have gone out before it was lowered: they
    # still count.
    uses = max(post.evergreen.max_uses, _PIN_KEYS) if post.evergreen is not None else 1
    for use in range(1, uses + 1):
        if delivery_id(calendar, post.id, segment, channel, slot_key(use)) == delivery:
            return slot_key(use)
    return None


#: How many evergreen repeat keys a stored delivery's id is tried against at least.
_PIN_KEYS = 64
#: How far past a plan's last day a queue is filled, for the chunks that follow.
_AHEAD_DAYS = 366


class QueuePlanner:
    """The queue side of one `Planner`: slots per market and fills per segment and
    channel, kept for one `plan` call's range."""

    def __init__(
        self,
        calendar: Calendar,
        day_table: Callable[[Segment, Sequence[int]], DayTable],
        today: date | None = None,
        pins: Iterable[QueuePin] = (),
    ) -> None:
        self.calendar = calendar
        self.day_table = day_table
        #: The first day of a queue without a `start`: the day it is scheduled.
        self.today = today or date.today()
        #: Given a day of scheduling, posts not yet out take no slot before it.
        self.cutoff = today
        self.pins: dict[tuple[str, str], list[QueuePin]] = {}
        for pin in pins:
            self.pins.setdefault((pin.segment, pin.channel), []).append(pin)
        # Fills up to `_last`; a plan reaching past it starts them afresh.
        self._fills: dict[tuple[str, str, str], list[Placement]] = {}
        self._by_post: dict[tuple[str, str, str], dict[str, list[Slot]]] = {}
        self._shared: dict[tuple[Any, ...], list[Placement]] = {}
        self._last: date | None = None

    def start(self, queue: Queue) -> date:
        """The first day with slots."""
        return queue.start or self.today

    def members(self, queue: Queue, segment: Segment, channel: Channel) -> list[Post]:
        """The posts of `queue` going to `segment` on `channel`, in file order."""
        calendar = self.calendar
        return [
            post
            for post in calendar.posts
            if post.queue == queue.name
            and any(s.name == segment.name for s in calendar.segments_for(post))
            and not any(topic in segment.avoid_topics for topic in post.topics)
            and any(c.name == channel.name for c in calendar.channels_for(post, segment))
        ]

    def slots(self, queue: Queue, segment: Segment, last: date) -> list[Slot]:
        """The queue's slots in `segment` from its start to local day `last`."""
        first = self.start(queue)
        if first > last:
            return []
        table = self.day_table(segment, tuple(range(first.year - 1, last.year + 2)))
        return queue_slots(queue, segment, table, first, last)

    def fill(self, queue: Queue, segment: Segment, channel: Channel, last: date) -> list[Placement]:
        """Every placement of `queue` for `segment` and `channel` up to day `last` at
        least (callers keep the days they want)."""
        if self._last is None or last > self._last:
            # A fill up to a day is the start of any longer one (each slot is decided by
            # the slots before it), so one fill a year ahead serves the chunks after.
            self._fills, self._by_post, self._shared = {}, {}, {}
            self._last = last + timedelta(days=_AHEAD_DAYS)
        last = self._last
        key = (queue.name, segment.name, channel.name)
        found = self._fills.get(key)
        if found is None:
            posts = self.members(queue, segment, channel)
            pins = self.pins.get((segment.name, channel.name), [])
            # Segments of one market, locale, posts and pins have the same fill.
            shared = (
                queue.name,
                channel.name,
                segment.timezone.key,
                segment.country,
                segment.subdivision_code,
                segment.quiet_hours,
                tuple(o.name for o in self.calendar.observances if o.applies_to(segment)),
                segment.locale,
                tuple(post.id for post in posts),
                tuple((pin.post, pin.key, pin.utc, pin.local) for pin in pins),
            )
            found = self._shared.get(shared)
            if found is None:
                slots = self.slots(queue, segment, last) if posts else []
                found = fill(queue, posts, slots, segment.locale, last, pins, self.cutoff)
                self._shared[shared] = found
            self._fills[key] = found
        return found

    def timings(
        self, post: Post, segments: Sequence[Segment], start: date, end: date
    ) -> Iterable[tuple[Segment, Channel, Timing]]:
        """(segment, channel, timing of `post` there in local days [start, end]) for a
        queued post, as the planner's routes want them."""
        if post.queue is None:
            raise PlanError(f"post {post.id!r} is not queued")
        queue = self.calendar.queue(post.queue)
        for segment in segments:
            for channel in self.calendar.channels_for(post, segment):
                placed = self._post_slots(queue, segment, channel, end).get(post.id, [])
                slots = [slot for slot in placed if start <= slot.local.date() <= end]
                yield segment, channel, Timing.of(slots)

    def _post_slots(
        self, queue: Queue, segment: Segment, channel: Channel, last: date
    ) -> dict[str, list[Slot]]:
        """The fill of `queue` for `segment` and `channel`, as each post's slots."""
        placements = self.fill(queue, segment, channel, last)
        key = (queue.name, segment.name, channel.name)
        found = self._by_post.get(key)
        if found is None:
            found = self._by_post[key] = {}
            for placement in placements:
                found.setdefault(placement.post, []).append(placement.slot)
        return found


@attrs.frozen
class QueueSlot:
    """One slot of a queue in one segment and channel, and what fills it (`queue show`)."""

    queue: str
    segment: str
    channel: str
    local: datetime
    utc: datetime
    posts: tuple[tuple[str, int], ...]
    free: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "queue": self.queue,
            "segment": self.segment,
            "channel": self.channel,
            "local": self.local.isoformat(),
            "utc": self.utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "posts": [{"post": post, "use": use} for post, use in self.posts],
            "free": self.free,
        }


#: How many days from its start a queue must have a slot in each segment it serves.
EMPTY_QUEUE_DAYS = 28


def queue_warnings(calendar: Calendar, queues: QueuePlanner) -> list[Problem]:
    """Queues with no slot at all for a segment their posts go to, in the
    `EMPTY_QUEUE_DAYS` days from their start (every time inside the segment's quiet
    hours, or every day a holiday there): those posts would silently never go out."""
    lines = None
    if calendar.source is not None:
        try:
            lines = LineIndex(calendar.source.read_text(encoding="utf-8"))
        except OSError:
            lines = None
    warnings = []
    for index, queue in enumerate(calendar.queues):
        first = queues.start(queue)
        last = first + timedelta(days=EMPTY_QUEUE_DAYS - 1)
        for segment in calendar.segments:
            if not any(queues.members(queue, segment, channel) for channel in calendar.channels):
                continue
            if queues.slots(queue, segment, last):
                continue
            quiet = ", ".join(str(window) for window in segment.quiet_hours) or "none"
            warnings.append(
                Problem(
                    f"queue {queue.name!r} has no slot for segment {segment.name!r} from "
                    f"{first} to {last} (its quiet hours: {quiet}; holidays have no slots): "
                    "its posts never go out there",
                    severity="warning",
                    file=calendar.source,
                    line=lines.line("queue", index, "times") if lines else None,
                )
            )
    return warnings


def pin_rows_to_pins(
    calendar: Calendar, rows: Iterable[tuple[str, str, str, str, datetime, datetime]]
) -> list[QueuePin]:
    """Pins from stored (id, post, segment, channel, utc, local) rows of `calendar`:
    those whose id is one of a queued post's slot keys."""
    posts = {post.id: post for post in calendar.posts if post.queue is not None}
    pins = []
    for delivery, post_id, segment, channel, utc, local in rows:
        post = posts.get(post_id)
        if post is None:
            continue
        key = pin_key(calendar.name, post, segment, channel, delivery)
        if key is not None:
            pins.append(QueuePin(post_id, segment, channel, key, utc, local))
    return pins


__all__ = [
    "Placement",
    "QueuePin",
    "QueuePlanner",
    "QueueSlot",
    "fill",
    "pin_key",
    "pin_rows_to_pins",
    "queue_slots",
    "queue_warnings",
    "text_source",
]
