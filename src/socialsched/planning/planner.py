"""The planner: from a calendar and a date range to every delivery.

Pure: no I/O beyond reading templates. Work that is identical for every segment
sharing a time zone, market and rules is done once per group and fanned out.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import attrs

from socialsched.adapters import Adapter, Message, plugins
from socialsched.adapters.registry import adapter_class
from socialsched.calendar.audiences import Audience, resolve_audience
from socialsched.calendar.holidays_table import DayTable, display_language
from socialsched.calendar.model import Calendar, Channel, Delivery, Post, Segment
from socialsched.calendar.post_problems import LocatedPlanError, route_error, text_key
from socialsched.errors import PlanError, Problem, RenderError, SocialschedError
from socialsched.media.library import MediaLibrary
from socialsched.media.model import Media, MediaCache

from . import series, volume
from .plans import Plan, Route, Slot, Timing, delivery_id
from .queue_plan import QueuePin, QueuePlanner
from .render import Renderer
from .route_extras import PlannedRoute as _Route
from .route_extras import RouteExtras
from .text_variance import TextCache

# A delivery moved by next_business_day can come from up to this many days before
# the planned range; candidates are generated from there and kept by their final day.
LOOKBACK_DAYS = 21


#: The most local days `Planner.plan_chunks` plans at a time unless told otherwise.
CHUNK_DAYS = volume.CHUNK_DAYS


class PlanChunk(NamedTuple):
    """The plan of local days [start, end] of a longer range (`Planner.plan_chunks`)."""

    start: date
    end: date
    plan: Plan


def _plan_order(delivery: Delivery) -> tuple[datetime, str, str, str]:
    return delivery.utc, delivery.post, delivery.segment, delivery.channel


@attrs.frozen
class Exclusion:
    """A post not planned for a segment because of the segment's avoided topics."""

    post: str
    segment: str
    topics: tuple[str, ...]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a plan's columns are built.

    What is built (texts, media, thread parts by the hundred thousand) is kept, so
    collections in between free nothing, yet each full collection walks all of it.
    The previous state is restored on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _candidates(
    post: Post, days: DayTable, first: date, last: date
) -> list[tuple[str, datetime, str | None, bool]]:
    """(slot key, naive local time, trigger holiday, policy applies) before moves."""
    found: list[tuple[str, datetime, str | None, bool]] = []
    if post.cron is not None:
        day = max(first, post.start) if post.start else first
        stop = min(last, post.end) if post.end else last
        while day <= stop:
            for index, moment in enumerate(post.cron.times_on(day)):
                found.append(
                    (f"{day.isoformat()}#{index}", datetime.combine(day, moment), None, True)
                )
            day += timedelta(days=1)
        found = series.select(post, found)  # count, skip and changed times
    elif post.dates:
        assert post.at is not None
        for day in post.dates:
            if first <= day <= last:
                found.append((day.isoformat(), datetime.combine(day, post.at), None, True))
    else:
        assert post.at is not None
        for query in post.on_holidays:
            for holiday_day, name in days.trigger_days(query):
                day = holiday_day + timedelta(days=post.offset_days)
                if first <= day <= last:
                    found.append(
                        (
                            f"{holiday_day.isoformat()}@{query}",
                            datetime.combine(day, post.at),
                            name,
                            False,
                        )
                    )
    return found


def _resolve(naive: datetime, segment: Segment) -> tuple[datetime, datetime]:
    # fold=0 (PEP 495): a time in a spring-forward gap is read with the offset before
    # the change (02:30 -> 03:30 EDT); an ambiguous fall-back time is the first one.
    utc = naive.replace(tzinfo=segment.timezone, fold=0).astimezone(UTC)
    return utc, utc.astimezone(segment.timezone)


def _after_quiet_hours(local: datetime, segment: Segment) -> datetime | None:
    """The naive local time a delivery moves to out of quiet hours, or None."""
    moved = None
    wall = local.replace(tzinfo=None)
    # Twice the windows: a window end in a spring-forward gap resolves an hour later,
    # which may fall inside another window.
    for _ in range(2 * len(segment.quiet_hours) + 1):
        window = next((w for w in segment.quiet_hours if w.contains(wall.time())), None)
        if window is None:
            return moved
        day = wall.date()
        if window.start > window.end and wall.time() >= window.start:
            day += timedelta(days=1)
        moved = datetime.combine(day, window.end)
        wall = _resolve(moved, segment)[1].replace(tzinfo=None)
    return moved


def _slots(post: Post, segment: Segment, days: DayTable, start: date, end: date) -> list[Slot]:
    slots: list[Slot] = []
    seen_utc: set[datetime] = set()
    first = start - timedelta(days=LOOKBACK_DAYS)
    for key, naive, trigger, policy_applies in _candidates(post, days, first, end):
        holiday, shifted_from, reason = trigger, None, None
        day = naive.date()
        if policy_applies:
            holiday = days.holiday(day)
            if holiday is not None and post.on_holiday != "post":
                if post.on_holiday == "skip":
                    continue
                shifted_from, reason = naive, "holiday"
                naive = datetime.combine(days.next_business_day(day), naive.time())
            elif days.is_weekend(day) and post.on_weekend != "post":
                if post.on_weekend == "skip":
                    continue
                shifted_from, reason = naive, "weekend"
                naive = datetime.combine(days.next_business_day(day), naive.time())
        utc, local = _resolve(naive, segment)
        if post.respect_quiet_hours and segment.quiet_hours:
            quiet_end = _after_quiet_hours(local, segment)
            if quiet_end is not None:
                shifted_from = shifted_from or naive
                reason = reason or "quiet_hours"
                utc, local = _resolve(quiet_end, segment)
        if not start <= local.date() <= end or utc in seen_utc:
            # Two wall times in a DST gap can land on one instant: post it once.
            continue
        seen_utc.add(utc)
        original = _resolve(shifted_from, segment)[1] if shifted_from is not None else None
        slots.append(Slot(key, utc, local, holiday, original, reason))
    return slots


def _group_key(segment: Segment, calendar: Calendar) -> tuple:
    observances = tuple(i for i, o in enumerate(calendar.observances) if o.applies_to(segment))
    return (
        segment.timezone.key,
        segment.country,
        segment.subdivision_code,
        segment.quiet_hours,
        observances,
        display_language(segment.country, segment.locale),
    )


class Planner:
    """Plans a calendar; keeps per-market tables and compiled templates between calls."""

    def __init__(
        self,
        calendar: Calendar,
        renderer: Renderer | None = None,
        adapters: Callable[[Channel], Adapter] | None = None,
        media_cache: MediaCache | None = None,
        max_deliveries: int | None = None,
        *,
        today: date | None = None,
        pins: Iterable[QueuePin] = (),
    ) -> None:
        self.calendar = calendar
        #: Queued posts' slots. `today`, the day of scheduling: a queue without a start
        #: begins then (default: the real today), and queued posts take no slot before
        #: it (default: no limit); `pins`: queued deliveries already out keep theirs.
        self.queues = QueuePlanner(calendar, self.day_table, today, pins)
        #: The most deliveries one `plan` or `plan_chunks` may plan, counted before
        #: planning (`socialsched.planning.volume`); None: `volume.default_limit()`.
        self.max_deliveries = max_deliveries
        self.renderer = renderer or Renderer(calendar)
        #: Reads, fetches and fits posts' media; `media_cache` keeps what it read and
        #: fitted (the store passes a persistent one).
        self.media = MediaLibrary(calendar, media_cache, renderer=self.renderer)
        self._make_adapter = adapters or (lambda channel: adapter_class(channel.adapter)(channel))
        self._adapters: dict[str, Adapter] = {}
        self._tables: dict[tuple, DayTable] = {}
        self.exclusions: list[Exclusion] = []
        self._texts: TextCache = {}
        self.series = series.Variants(self.renderer)

    def adapter(self, channel: Channel) -> Adapter:
        """The adapter instance for a channel (created once)."""
        if channel.name not in self._adapters:
            self._adapters[channel.name] = self._make_adapter(channel)
        return self._adapters[channel.name]

    def day_table(self, segment: Segment, years: Sequence[int]) -> DayTable:
        """Holidays, observances and weekends for a segment's market."""
        key = (*_group_key(segment, self.calendar), tuple(years))
        table = self._tables.get(key)
        if table is None:
            table = DayTable(
                segment.country,
                segment.subdivision_code,
                years,
                [o for o in self.calendar.observances if o.applies_to(segment)],
                language=display_language(segment.country, segment.locale),
            )
            self._tables[key] = table
        return table

    def plan(
        self,
        start: date | str,
        end: date | str,
        *,
        segments: Iterable[str] | None = None,
        channels: Iterable[str] | None = None,
        render: bool = True,
        problems: list[Problem] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Plan:
        """Deliveries whose local date is within [start, end], sorted by UTC instant.

        With `problems` given, errors (render failures, limits) are appended to it and
        planning goes on; otherwise the first one raises. `progress(done, total)` is
        called as each (post, segment, channel) route is built, for progress bars.

        When rendering, each delivery also gets its post's media for its segment's
        locale, fitted to its channel with alt text rendered, and its thread parts
        (`Delivery.media`, `Delivery.parts`).
        """
        start, end = _as_date(start), _as_date(end)
        if start > end:
            raise PlanError(f"start {start} is after end {end}")
        wanted_segments = set(segments) if segments is not None else None
        wanted_channels = set(channels) if channels is not None else None
        volume.check(
            self.calendar, start, end, limit=self.max_deliveries,
            segments=wanted_segments, channels=wanted_channels,
        )  # fmt: skip
        years = tuple(range(start.year - 1, end.year + 2))
        self.exclusions = []
        # Texts are shared by routes within one plan only: a long range planned chunk
        # by chunk keeps one chunk's texts.
        self._texts = {}
        routes: list[_Route] = []
        for post in self.calendar.posts:
            groups: dict[tuple, list[Segment]] = {}
            for segment in self.calendar.segments_for(post):
                if wanted_segments is not None and segment.name not in wanted_segments:
                    continue
                avoided = tuple(t for t in post.topics if t in segment.avoid_topics)
                if avoided:
                    self.exclusions.append(Exclusion(post.id, segment.name, avoided))
                    continue
                groups.setdefault(_group_key(segment, self.calendar), []).append(segment)
            for members in groups.values():
                if post.queue is not None:
                    for segment, channel, timing in self.queues.timings(post, members, start, end):
                        if wanted_channels is None or channel.name in wanted_channels:
                            routes.append(_Route(post, segment, channel, timing))
                    continue
                table = self.day_table(members[0], years)
                slots = _slots(post, members[0], table, start, end)
                # A series' changed occurrences go out as variants of the post.
                for variant, chosen in self.series.split(post, slots):
                    timing = Timing.of(chosen)
                    for segment in members:
                        for channel in self.calendar.channels_for(variant, segment):
                            if wanted_channels is None or channel.name in wanted_channels:
                                routes.append(_Route(variant, segment, channel, timing))
        planned: list[Route] = []
        with _collector_paused():
            for done, route in enumerate(routes, 1):
                columns = self._columns(route, render, problems)
                if columns is not None:
                    planned.append(columns)
                if progress is not None:
                    progress(done, len(routes))
        planned = self.series.merge(planned)
        # Planned in the calendar's order, so that the first problem raised is the first
        # one met there; held in the plan's order of (post, segment, channel).
        planned.sort(key=lambda route: (route.post, route.segment, route.channel))
        return Plan(planned)

    def plan_chunks(
        self,
        start: date | str,
        end: date | str,
        *,
        chunk_days: int | None = None,
        segments: Iterable[str] | None = None,
        channels: Iterable[str] | None = None,
        render: bool = True,
        problems: list[Problem] | None = None,
    ) -> Iterator[PlanChunk]:
        """The plan of [start, end] as consecutive plans of at most `chunk_days` local
        days each, planned one at a time: a range too large to hold at once is planned
        in memory bounded by one chunk. Without `chunk_days`, chunks are sized by the
        deliveries they hold (`volume.chunk_ranges`: about `volume.CHUNK_DELIVERIES`,
        one day to `CHUNK_DAYS` days). The whole range is counted first against the
        delivery limit (`max_deliveries`), before any chunk is planned.

        Each delivery belongs to the chunk of its local day, after every move; a chunk's
        deliveries are sorted, but the last instants of one chunk may come after the
        first of the next (time zones differ): `iter_plan` gives one sorted stream.
        With `problems`, each distinct problem is added once, whatever chunks meet it.
        """
        start, end = _as_date(start), _as_date(end)
        if start > end:
            raise PlanError(f"start {start} is after end {end}")
        if chunk_days is not None and chunk_days < 1:
            raise PlanError(f"chunk_days must be at least 1, not {chunk_days}")
        segments = None if segments is None else list(segments)
        channels = None if channels is None else list(channels)
        volume.check(
            self.calendar, start, end, limit=self.max_deliveries,
            segments=segments, channels=channels,
        )  # fmt: skip
        ranges = volume.chunk_ranges(
            self.calendar, start, end, days=chunk_days, segments=segments, channels=channels
        )
        for first, last in ranges:
            met: list[Problem] | None = None if problems is None else []
            plan = self.plan(
                first, last, segments=segments, channels=channels, render=render, problems=met
            )
            if problems is not None and met:
                problems.extend(problem for problem in met if problem not in problems)
            yield PlanChunk(first, last, plan)

    def iter_plan(self, start: date | str, end: date | str, **options: Any) -> Iterator[Delivery]:
        """Every delivery of [start, end], in the order `plan` gives, planned chunk by
        chunk (`plan_chunks`, whose options it takes): memory holds one chunk's plan and
        the few deliveries of its last day that must wait for the next chunk's first."""
        waiting: list[Delivery] = []
        for chunk in self.plan_chunks(start, end, **options):
            # No delivery of a later chunk is due before this instant: its local day is
            # after `chunk.end`, and no zone is more than a day ahead of UTC.
            settled = datetime.combine(chunk.end, time(), UTC)
            merged = heapq.merge(waiting, chunk.plan, key=_plan_order)
            waiting = []
            for delivery in merged:
                if delivery.utc < settled:
                    yield delivery
                else:
                    waiting.append(delivery)
        yield from waiting

    def _columns(self, route: _Route, render: bool, problems: list[Problem] | None) -> Route | None:
        """The planned columns of one route; None when its audience cannot be resolved
        (the problem recorded)."""
        post, segment, channel, timing = route
        try:
            audience = resolve_audience(channel, segment)
        except PlanError as error:
            if problems is None:
                raise
            problems.append(Problem(str(error), where=f"channel {channel.name!r}"))
            return None
        columns: dict[str, Any] = {}
        if render:
            texts, kept, extras = self._render(route, audience, problems)
            columns["texts"] = texts
            if extras is not None:
                columns["media"], columns["parts"] = extras
            if len(kept) != len(timing.slots):
                timing = Timing.of(kept)
        return Route.make(
            self.calendar.name,
            post.id,
            segment.name,
            channel.name,
            channel.adapter,
            audience,
            post.tags,
            timing,
            **columns,
        )

    def _render(
        self, route: _Route, audience: Audience | None, problems: list[Problem] | None
    ) -> tuple[list[str], list[Slot], tuple[list[tuple[Media, ...]], list[tuple[str, ...]]] | None]:
        """The text of each slot of a route that renders and fits the channel's limits,
        and those slots; for posts with media or threads also each kept slot's media
        and thread parts (else None)."""
        post, segment, channel, timing = route
        texts: list[str] = []
        kept: list[Slot] = []
        adapter = self._route_adapter(channel, problems)
        if adapter is None:
            return texts, kept, None
        extras = None
        if post.media or post.thread:
            extras = self._route_extras(route, adapter, problems)
            if extras is None:
                return texts, kept, None
        media: tuple[Media, ...] = ()
        parts: tuple[str, ...] = ()
        thread_issues: list[str] = []
        route_texts = self.series.texts(post, segment, channel, self._texts)
        # Checks that cannot read the time pass or fail alike for every slot with the
        # same text, media and thread: each such combination is checked once.
        passed: set[tuple[str | int, int]] | None = None
        content_checks = plugins.has_content_checks()  # once per route, not per slot
        if not adapter.validates_time() and not content_checks:
            passed = set()
        # The base `validate`, counting characters with the base `text_length`, reads of
        # the text only its length: texts of one length pass or fail alike (a text that
        # changes every day, such as a date, is then checked once per length, not per
        # slot). Not with media or a thread: their checks read more of the text.
        by_length = extras is None and _checks_only_length(adapter)
        for slot in timing.slots:
            try:
                text = route_texts.render(slot.local, slot.holiday)
                if extras is not None:
                    media, parts, thread_issues = extras.for_slot(slot, text)
                # Media tuples are memoised by the route's extras, so their ids are
                # stable; thread parts follow from the text.
                checked = (len(text) if by_length else text, id(media))
                if passed is None or checked not in passed:
                    self._check_limits(
                        adapter, post, segment, channel, slot, text, audience, media, parts,
                        thread_issues, content_checks,
                    )  # fmt: skip
                    if passed is not None:
                        passed.add(checked)
            except SocialschedError as error:
                # At the post's text line, naming the post once (the message does).
                problem = self.media.lines.problem(post, str(error), key=text_key(post))
                if problems is None:
                    if isinstance(error, RenderError):
                        raise
                    raise LocatedPlanError(problem) from None
                problems.append(problem)
                if isinstance(error, RenderError):
                    break  # the same template fails the same way for every slot
                continue
            texts.append(text)
            kept.append(slot)
            if extras is not None:
                extras.media_column.append(media)
                extras.parts_column.append(parts)
        if extras is None:
            return texts, kept, None
        return texts, kept, (extras.media_column, extras.parts_column)

    def _route_extras(
        self, route: _Route, adapter: Adapter, problems: list[Problem] | None
    ) -> RouteExtras | None:
        """The route's media and thread settings, checked once for the route; None
        (the problem recorded) when they cannot go to the channel."""
        post, segment, channel, _ = route
        key = "media"
        try:
            if post.thread is True and not adapter.capabilities.threads:
                key = "thread"
                raise PlanError(f"{adapter.name} cannot publish threads (thread = true)")
            return RouteExtras.of(self.renderer, self.media, route, adapter)
        except SocialschedError as error:
            located = route_error(self.media.lines, post, segment, channel, error, key)
            if problems is None:
                raise located from None
            problems.append(located.problem)
            return None

    def _route_adapter(self, channel: Channel, problems: list[Problem] | None) -> Adapter | None:
        """The channel's adapter; None (the problem recorded) when it cannot be made."""
        try:
            return self.adapter(channel)
        except SocialschedError as error:  # e.g. a channel missing a required setting
            if problems is None:
                raise
            problem = Problem(str(error), where=f"channel {channel.name!r}")
            if problem not in problems:
                problems.append(problem)
            return None

    @staticmethod
    def _check_limits(
        adapter: Adapter,
        post: Post,
        segment: Segment,
        channel: Channel,
        slot: Slot,
        text: str,
        audience: object,
        media: tuple[Media, ...] = (),
        parts: tuple[str, ...] = (),
        thread_issues: Sequence[str] = (),
        content_checks: bool = True,
    ) -> None:
        """Adapter limits and plugin content checks (asked for only when
        `content_checks`: some plugin has them); `PlanError` listing every issue.

        A thread's length is checked part by part (media go with part 1)."""
        message = Message(
            delivery_id="",
            post=post.id,
            segment=segment.name,
            channel=channel.name,
            locale=segment.locale,
            text=text,
            utc=slot.utc,
            local=slot.local,
            audience=audience,
            tags=post.tags,
            attachments=media,
        )
        if parts:
            issues = [*thread_issues]
            for number, part in enumerate(parts, 1):
                part_message = attrs.evolve(
                    message,
                    text=part,
                    attachments=media if number == 1 else (),
                    part=number,
                    parts=len(parts),
                )
                issues.extend(
                    f"part {number}/{len(parts)}: {issue}"
                    for issue in adapter.validate(part_message)
                )
        else:
            issues = [*thread_issues, *adapter.validate(message)]
        if content_checks:
            issues.extend(plugins.check_message(message, segment, channel))
        if issues:
            raise PlanError(
                f"post {post.id!r} for segment {segment.name!r} on channel {channel.name!r} "
                f"({channel.adapter}) at {slot.local:%Y-%m-%d %H:%M}: {'; '.join(issues)}"
            )


def _checks_only_length(adapter: Adapter) -> bool:
    """Whether `adapter.validate` reads of a message's text only its length in code
    points: neither `validate` nor `text_length` is overridden (a subclass's override
    may read the words, so those are checked for each distinct text)."""
    kind = type(adapter)
    return kind.validate is Adapter.validate and kind.text_length is Adapter.text_length


def plan(
    calendar: Calendar,
    start: date | str,
    end: date | str,
    *,
    segments: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    render: bool = True,
) -> Plan:
    """Every delivery of `calendar` whose local date is in [start, end] (inclusive),
    sorted by UTC instant. Raises `RenderError` or `PlanError` on the first problem."""
    return Planner(calendar).plan(start, end, segments=segments, channels=channels, render=render)


__all__ = ["CHUNK_DAYS", "Exclusion", "Plan", "PlanChunk", "Planner", "Slot", "delivery_id", "plan"]
