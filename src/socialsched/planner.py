"""The planner: from a calendar and a date range to every delivery.

Pure: no I/O beyond reading templates. Work that is identical for every segment
sharing a time zone, market and rules is done once per group and fanned out.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import repeat
from typing import NamedTuple

import attrs

from . import plugins
from .adapters import Adapter, Message
from .audiences import Audience, resolve_audience
from .errors import MediaError, PlanError, Problem, RenderError, SocialschedError
from .holidays_table import DayTable, display_language
from .media import Media, MediaCache
from .media_library import MediaLibrary, alt_source, items_for, keep_metadata
from .model import Calendar, Channel, Delivery, Post, Segment, build_delivery
from .registry import adapter_class
from .render import Renderer
from .text_variance import RouteTexts
from .threads import split_thread

# A delivery moved by next_business_day can come from up to this many days before
# the planned range; candidates are generated from there and kept by their final day.
LOOKBACK_DAYS = 21


class Slot(NamedTuple):
    """One occurrence of a post in one market, after every move."""

    key: str
    utc: datetime
    local: datetime
    holiday: str | None
    shifted_from: datetime | None
    reason: str | None


class _Route(NamedTuple):
    """One post going to one segment on one channel, with the group's slots."""

    post: Post
    segment: Segment
    channel: Channel
    timing: _GroupTiming


class _GroupTiming(NamedTuple):
    """A group's slots plus what every delivery of them needs, computed once."""

    slots: list[Slot]
    columns: tuple[tuple, ...]  # the slots transposed: keys, utcs, locals, holidays, ...
    order: list[int]  # each slot's `_order_base`
    id_keys: list[bytes]  # each slot's key as it goes into delivery ids

    @classmethod
    def of(cls, slots: list[Slot]) -> _GroupTiming:
        columns = tuple(zip(*slots, strict=True)) or ((),) * len(Slot._fields)
        order = [_order_base(slot.utc) for slot in slots]
        return cls(slots, columns, order, [slot.key.encode() for slot in slots])


# Deliveries are ordered by (UTC instant, post, segment, channel). Each delivery gets one
# integer for that: the instant in microseconds in the high bits, the rank of its
# (post, segment, channel) among all planned in the low ones. Sorting a few hundred
# thousand of those is much cheaper than sorting tuples.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_RANK_BITS = 32


def _order_base(utc: datetime) -> int:
    return ((utc - _EPOCH) // _MICROSECOND) << _RANK_BITS


@attrs.frozen
class Exclusion:
    """A post not planned for a segment because of the segment's avoided topics."""

    post: str
    segment: str
    topics: tuple[str, ...]


def delivery_id(calendar: str, post: str, segment: str, channel: str, slot: str) -> str:
    """Stable id of a delivery: the same inputs give the same id on every machine."""
    raw = "\x1f".join((calendar, post, segment, channel, slot)).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def _id_prefix(calendar: str, post: str, segment: str, channel: str) -> bytes:
    """What `delivery_id` hashes before the slot key."""
    return "\x1f".join((calendar, post, segment, channel, "")).encode()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while deliveries are built.

    Every delivery built is kept, so collections in between free nothing; yet each full
    collection walks every delivery built so far, which was about a third of the time
    for a large calendar. The previous state is restored on the way out.
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
    ) -> None:
        self.calendar = calendar
        self.renderer = renderer or Renderer(calendar)
        #: Reads, fetches and fits posts' media; `media_cache` keeps what it read and
        #: fitted (the store passes a persistent one).
        self.media = MediaLibrary(calendar, media_cache, renderer=self.renderer)
        self._make_adapter = adapters or (lambda channel: adapter_class(channel.adapter)(channel))
        self._adapters: dict[str, Adapter] = {}
        self._tables: dict[tuple, DayTable] = {}
        self.exclusions: list[Exclusion] = []

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
    ) -> list[Delivery]:
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
        years = tuple(range(start.year - 1, end.year + 2))
        self.exclusions = []
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
                table = self.day_table(members[0], years)
                timing = _GroupTiming.of(_slots(post, members[0], table, start, end))
                for segment in members:
                    for channel in self.calendar.channels_for(post, segment):
                        if wanted_channels is not None and channel.name not in wanted_channels:
                            continue
                        routes.append(_Route(post, segment, channel, timing))
        by_name = sorted(
            range(len(routes)),
            key=lambda i: (routes[i].post.id, routes[i].segment.name, routes[i].channel.name),
        )
        rank = [0] * len(routes)
        for position, index in enumerate(by_name):
            rank[index] = position
        deliveries: list[Delivery] = []
        order_keys: list[int] = []
        with _collector_paused():
            for done, (route, route_rank) in enumerate(zip(routes, rank, strict=True), 1):
                order_bases = self._deliveries(route, render, problems, deliveries)
                order_keys.extend(map(route_rank.__or__, order_bases))
                if progress is not None:
                    progress(done, len(routes))
        # Sorting indices rather than (key, delivery) pairs allocates no tuples for the
        # garbage collector to walk.
        order = sorted(range(len(deliveries)), key=order_keys.__getitem__)
        return [deliveries[index] for index in order]

    def _deliveries(
        self,
        route: _Route,
        render: bool,
        problems: list[Problem] | None,
        deliveries: list[Delivery],
    ) -> list[int]:
        """Append the deliveries of one route to `deliveries`; return the `_order_base`
        of each, in the same order."""
        post, segment, channel, timing = route
        try:
            audience = resolve_audience(channel, segment)
        except PlanError as error:
            if problems is None:
                raise
            problems.append(Problem(str(error), where=f"channel {channel.name!r}"))
            return []
        texts: Iterable[str | None] = repeat(None)
        media: Iterable[tuple[Media, ...]] = repeat(())
        parts: Iterable[tuple[str, ...]] = repeat(())
        if render:
            texts, kept, extras = self._render(route, audience, problems)
            if extras is not None:
                media, parts = extras
            if len(kept) != len(timing.slots):
                timing = _GroupTiming.of(kept)
        # Built column by column: this is the part of planning that runs once per
        # delivery, hundreds of thousands of times for a large calendar.
        id_prefix = _id_prefix(self.calendar.name, post.id, segment.name, channel.name)
        ids = [hashlib.sha256(id_prefix + key).hexdigest()[:20] for key in timing.id_keys]
        _, utcs, locals_, holidays, shifted_froms, reasons = timing.columns
        deliveries.extend(
            map(
                build_delivery,
                ids,
                repeat(post.id),
                repeat(segment.name),
                repeat(channel.name),
                repeat(channel.adapter),
                utcs,
                locals_,
                texts,
                holidays,
                shifted_froms,
                reasons,
                repeat(audience),
                repeat(post.tags),
                media,
                parts,
            )
        )
        return timing.order

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
        route_texts = RouteTexts(self.renderer, post, segment, channel)
        for slot in timing.slots:
            try:
                text = route_texts.render(slot.local, slot.holiday)
                if extras is not None:
                    media, parts, thread_issues = extras.for_slot(slot, text)
                self._check_limits(
                    adapter, post, segment, channel, slot, text, audience, media, parts,
                    thread_issues,
                )  # fmt: skip
            except SocialschedError as error:
                if problems is None:
                    raise
                problems.append(Problem(str(error), where=f"post {post.id!r}"))
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
    ) -> _RouteExtras | None:
        """The route's media and thread settings, checked once for the route; None
        (the problem recorded) when they cannot go to the channel."""
        post = route.post
        try:
            if post.thread is True and not adapter.capabilities.threads:
                raise PlanError(f"{adapter.name} cannot publish threads (thread = true)")
            return _RouteExtras.of(self, route, adapter)
        except SocialschedError as error:
            if problems is None:
                raise _route_error(route, error) from None
            problems.append(Problem(str(_route_error(route, error)), where=f"post {post.id!r}"))
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
    ) -> None:
        """Adapter limits and plugin content checks; `PlanError` listing every issue.

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
        issues.extend(plugins.check_message(message, segment, channel))
        if issues:
            raise PlanError(
                f"post {post.id!r} for segment {segment.name!r} on channel {channel.name!r} "
                f"({channel.adapter}) at {slot.local:%Y-%m-%d %H:%M}: {'; '.join(issues)}"
            )


def _route_error(route: _Route, error: SocialschedError) -> PlanError:
    """`error` as a `PlanError` naming the route's post, segment and channel."""
    post, segment, channel, _ = route
    return PlanError(
        f"post {post.id!r} for segment {segment.name!r} on channel {channel.name!r} "
        f"({channel.adapter}): {str(error).removeprefix(f'post {post.id!r}: ')}"
    )


def _thread_parts(adapter: Adapter, post: Post, text: str) -> tuple[tuple[str, ...], list[str]]:
    """(the thread parts of `text`, empty for a single post; problems with threading it)."""
    if not post.thread:
        return (), []
    capabilities = adapter.capabilities
    limit = capabilities.max_length
    if limit is None or adapter.text_length(text) <= limit:
        return (), []
    if not capabilities.threads:
        return (), [f"{adapter.name} cannot publish threads, so the text must fit in one post"]
    try:
        parts = split_thread(text, limit, adapter.text_length, post.number_parts)
    except ValueError as error:
        return (), [str(error)]
    return tuple(parts), []


class _RouteExtras:
    """A route's media, fitted to its channel once, and thread parts. Alt text is
    rendered once, or per slot (memoised by local time and holiday) when an alt
    template reads the date; a text is split into parts once."""

    def __init__(
        self,
        planner: Planner,
        route: _Route,
        adapter: Adapter,
        fitted: tuple[Media, ...],
        alts: list[tuple[str, str]],
    ) -> None:
        self.planner = planner
        self.route = route
        self.adapter = adapter
        self.fitted = fitted
        self.alts = alts
        renderer = planner.renderer
        self.timed = any(renderer.uses_time(source, label) for source, label in alts)
        self._rendered: dict[tuple[datetime, str | None], tuple[Media, ...]] = {}
        self._split: dict[str, tuple[tuple[str, ...], list[str]]] = {}
        #: What the kept slots carry, filled in by `Planner._render`.
        self.media_column: list[tuple[Media, ...]] = []
        self.parts_column: list[tuple[str, ...]] = []

    @classmethod
    def of(cls, planner: Planner, route: _Route, adapter: Adapter) -> _RouteExtras:
        """Read and fit the route's media; raises `MediaError` or `PlanError` for a file
        that cannot be used or media the channel's network refuses."""
        post, segment, channel, timing = route
        items = items_for(post.media, segment.locale)
        if not items or not timing.slots:
            return cls(planner, route, adapter, (), [])
        library = planner.media
        capabilities = adapter.capabilities
        keep = keep_metadata(channel)
        fitted = []
        errors = []
        for item in items:
            source = library.source(item, post)
            try:
                fitted.append(library.fitted(source, capabilities.limits(source.kind), keep))
            except MediaError as error:
                errors.append(f"{error}")
        alts = [alt_source(item, post, segment.locale) for item in items]
        route_media = cls(planner, route, adapter, tuple(fitted), alts)
        if errors:
            raise MediaError("; ".join(errors))
        if not route_media.timed:
            # Alt text is the same for every slot: check the media once for the route.
            media = route_media.media_for(timing.slots[0])
            issues = adapter.media_problems(media)
            if issues:
                files = ", ".join(item.source for item in media)
                raise PlanError(f"{'; '.join(issues)} (media: {files})")
        return route_media

    def for_slot(
        self, slot: Slot, text: str
    ) -> tuple[tuple[Media, ...], tuple[str, ...], list[str]]:
        """(media, thread parts, problems threading `text`) for `slot`."""
        split = self._split.get(text)
        if split is None:
            split = self._split[text] = _thread_parts(self.adapter, self.route.post, text)
        return self.media_for(slot), *split

    def media_for(self, slot: Slot) -> tuple[Media, ...]:
        """The media with alt text rendered for `slot`."""
        if not self.fitted:
            return ()
        key = (slot.local, slot.holiday) if self.timed else (_EPOCH, None)
        media = self._rendered.get(key)
        if media is None:
            post, segment, channel, _ = self.route
            render = self.planner.renderer.render_alt
            media = tuple(
                attrs.evolve(
                    variant,
                    alt=render(post, source, label, segment, channel, slot.local, slot.holiday),
                )
                for variant, (source, label) in zip(self.fitted, self.alts, strict=True)
            )
            self._rendered[key] = media
        return media


def plan(
    calendar: Calendar,
    start: date | str,
    end: date | str,
    *,
    segments: Iterable[str] | None = None,
    channels: Iterable[str] | None = None,
    render: bool = True,
) -> list[Delivery]:
    """Every delivery of `calendar` whose local date is in [start, end] (inclusive),
    sorted by UTC instant. Raises `RenderError` or `PlanError` on the first problem."""
    return Planner(calendar).plan(start, end, segments=segments, channels=channels, render=render)


__all__ = ["Exclusion", "Planner", "Slot", "delivery_id", "plan"]
