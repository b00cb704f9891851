"""The calendar model: segments, channels, observances, posts and deliveries.

All classes are frozen attrs classes validated on construction, so a
`Calendar` built in Python is checked exactly like one loaded from a file.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, cast

import attrs
import babel
import holidays
from holidays.registry import EntityLoader

from socialsched.errors import CalendarError, Problem
from socialsched.media.model import MediaSpec, media_spec

from .cron import Cron, CronError
from .deliveries import Delivery as Delivery
from .deliveries import build_delivery as build_delivery
from .deliveries import lazy_delivery as lazy_delivery
from .duplicates import DEFAULT_DUPLICATE_WINDOW, duplicate_window
from .locale_keys import text_value, unused_key_problems
from .observances import Observance
from .occurrences import Occurrence, occurrences, reference_problems
from .occurrences import check as check_series
from .queues import Evergreen, Queue, evergreen_setting
from .timezones import to_zoneinfo
from .values import (
    QuietWindow,
    date_list,
    duration,
    frozen_mapping,
    is_bool,
    optional_clock,
    optional_date,
    quiet_windows,
    string_tuple,
)

ON_HOLIDAY_POLICIES = ("post", "skip", "next_business_day")
THREAD_MODES: tuple[bool | str, ...] = (False, True, "auto")
LATE_POLICIES = ("skip", "publish")
ON_DOUBT_POLICIES = ("resend", "hold")
# An environment variable name: what secrets and webhook audiences must be.
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@functools.cache
def _supported_countries() -> frozenset[str]:
    # The codes and aliases that `holidays.list_supported_countries()` gives, read from
    # the registry: that function imports all 250 country modules (0.5 s of CPU in
    # every command that loads a calendar) to list their subdivisions.
    return frozenset(EntityLoader.get_country_codes(include_aliases=True))


@functools.cache
def _subdivisions(country: str) -> list[str]:
    """The subdivision codes of `country`, importing its module alone."""
    return list(getattr(holidays, country).subdivisions)


def _check_locale(instance: Any, attribute: Any, value: str) -> None:
    try:
        babel.Locale.parse(value, sep="-" if "-" in value else "_")
    except (ValueError, babel.UnknownLocaleError):
        raise ValueError(f"unknown locale {value!r} (use a BCP 47 tag such as 'fr-DZ')") from None


def _upper(value: str) -> str:
    return str(value).strip().upper()


def _subdivision(value: str | None) -> str | None:
    if value is None:
        return None
    return str(value).strip().upper()


@attrs.frozen
class Segment:
    """An audience segment: one market with its locale, time zone, holidays and customs."""

    name: str
    locale: str = attrs.field(validator=_check_locale)
    timezone: zoneinfo.ZoneInfo = attrs.field(converter=to_zoneinfo)
    country: str = attrs.field(converter=_upper)
    subdivision: str | None = attrs.field(default=None, converter=_subdivision)
    circles: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    quiet_hours: tuple[QuietWindow, ...] = attrs.field(default=(), converter=quiet_windows)
    avoid_topics: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, repr=False)

    @country.validator
    def _check_country(self, attribute: Any, value: str) -> None:
        if value not in _supported_countries():
            raise ValueError(f"unknown country code {value!r} (use ISO 3166-1 alpha-2, e.g. 'US')")

    @subdivision.validator
    def _check_subdivision(self, attribute: Any, value: str | None) -> None:
        if value is None or self.country not in _supported_countries():
            return
        known = _subdivisions(self.country)
        code = value.removeprefix(f"{self.country}-")
        if code not in known:
            listed = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
            raise ValueError(
                f"unknown subdivision {value!r} for country {self.country!r}"
                + (f" (known: {listed})" if known else " (it has none)")
            )

    @property
    def subdivision_code(self) -> str | None:
        """The subdivision without its country prefix, as the holidays package wants it."""
        return self.subdivision.removeprefix(f"{self.country}-") if self.subdivision else None


def _check_secret_names(instance: Any, attribute: Any, value: Mapping[str, str]) -> None:
    for key, env_name in value.items():
        if not isinstance(env_name, str) or not ENV_VAR_NAME.match(env_name):
            # Never echo the value: it may be the secret pasted in by mistake.
            raise ValueError(
                f'secret {key!r} must be the name of a secret (e.g. {key} = "MYNET_'
                f'{key.upper()}", granted as SOCIALSCHED_SECRET_MYNET_{key.upper()}), '
                "not the secret itself"
            )


@attrs.frozen
class Channel:
    """Where posts go: a network adapter plus, per segment, the audience it reaches there.

    `secrets` maps a secret's role to the *name* of the environment variable holding it;
    secret values are read only when publishing and never stored or shown.

    `on_doubt` says what the runner does with a delivery whose worker died while
    publishing it when the network cannot be asked whether it went out: "resend" it
    (under the same idempotency key) or "hold" it until `socialsched resolve`. None
    (the default) means "resend" for adapters that declare `idempotent`, else "hold".
    """

    name: str
    adapter: str
    audiences: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    secrets: Mapping[str, str] = attrs.field(
        factory=dict, converter=frozen_mapping, validator=_check_secret_names
    )
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    rate: str | None = None
    max_attempts: int = 5
    on_doubt: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(ON_DOUBT_POLICIES))
    )


@attrs.frozen
class Post:
    """A message and when it goes out.

    Text comes from `template` (a file in the calendar's templates folder) or inline
    `text` (a string or a mapping keyed by locale). Timing is exactly one of: `schedule`
    (5-field cron in each segment's local time, between `start` and `end`), `dates` +
    `at` (one-offs), `on_holidays` + `at` (+ `offset_days`), or `queue` (the named
    queue's next free slot; `evergreen` recycles it, see `socialsched.calendar.queues`). A
    `schedule` post can be a finite series: `count`, `skip` and `occurrence` (see
    `socialsched.calendar.occurrences`).

    `media` is a list of `MediaItem`s, or lists keyed by locale with the same fallback
    as text (fr-DZ, fr, default). `thread = true` sends a text too long for one post as
    a reply chain of parts that each fit the network, and needs a network with threads;
    `"auto"` does the same and needs threads only where the text is too long;
    `number_parts` appends " 1/3" to each part.
    """

    id: str
    text: str | Mapping[str, str] | None = attrs.field(default=None, converter=text_value)
    template: str | None = None
    segments: tuple[str, ...] = attrs.field(default=("*",), converter=string_tuple)
    channels: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    schedule: str | None = None
    start: date | None = attrs.field(default=None, converter=optional_date)
    end: date | None = attrs.field(default=None, converter=optional_date)
    at: time | None = attrs.field(default=None, converter=optional_clock)
    dates: tuple[date, ...] = attrs.field(default=(), converter=date_list)
    on_holidays: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    offset_days: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    on_holiday: str = attrs.field(
        default="post", validator=attrs.validators.in_(ON_HOLIDAY_POLICIES)
    )
    on_weekend: str = attrs.field(
        default="post", validator=attrs.validators.in_(ON_HOLIDAY_POLICIES)
    )
    respect_quiet_hours: bool = attrs.field(default=True, validator=is_bool)
    topics: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, repr=False)
    misfire_grace: timedelta | None = attrs.field(default=None, converter=duration)
    late: str = attrs.field(default="skip", validator=attrs.validators.in_(LATE_POLICIES))
    requires_approval: bool = attrs.field(default=False, validator=is_bool)
    media: MediaSpec = attrs.field(default=(), converter=media_spec)
    thread: bool | str = attrs.field(
        default=False,
        validator=attrs.validators.in_(THREAD_MODES),  # type: ignore[arg-type]
    )
    number_parts: bool = attrs.field(default=True, validator=is_bool)
    #: A `[[queue]]` name: the post takes that queue's next free slot (see `queues`).
    queue: str | None = None
    evergreen: Evergreen | None = attrs.field(default=None, converter=evergreen_setting)
    #: A finite series (`socialsched.calendar.occurrences`): the first `count` occurrences from
    #: `start`, none on `skip` dates, and `[[post.occurrence]]` changes to single ones.
    count: int | None = None
    skip: tuple[date, ...] = attrs.field(default=(), converter=date_list)
    occurrence: tuple[Occurrence, ...] = attrs.field(default=(), converter=occurrences)
    cron: Cron | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if (self.text is None) == (self.template is None):
            raise ValueError(f"post {self.id!r} needs exactly one of text or template")
        modes = [self.schedule is not None, bool(self.dates), bool(self.on_holidays)]
        modes.append(self.queue is not None)
        if sum(modes) != 1:
            raise ValueError(
                f"post {self.id!r} needs exactly one timing: schedule (cron), "
                "dates + at, on_holidays + at, or queue"
            )
        if self.evergreen is not None and self.queue is None:
            raise ValueError(f"post {self.id!r}: evergreen needs queue = 'NAME' (a queued post)")
        if self.queue is not None and self.at is not None:
            raise ValueError(f"post {self.id!r}: at does not go with queue (the queue sets times)")
        if self.queue is not None and (self.start or self.end):
            # Silently ignored, it would publish before the day the user meant.
            raise ValueError(
                f"post {self.id!r}: start and end do not go with queue (set start on the [[queue]])"
            )
        if self.queue is None and self.schedule is None and self.at is None:
            raise ValueError(f"post {self.id!r} needs at = 'HH:MM' with dates or on_holidays")
        if self.schedule is not None and self.at is not None:
            raise ValueError(f"post {self.id!r}: at does not go with schedule (cron sets the time)")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"post {self.id!r}: start {self.start} is after end {self.end}")
        cron = None
        if self.schedule is not None:
            try:
                cron = Cron.parse(self.schedule)
            except CronError as error:
                raise ValueError(
                    f"post {self.id!r}: bad schedule {self.schedule!r}: {error}"
                ) from None
        object.__setattr__(self, "cron", cron)
        if self.count is not None or self.skip or self.occurrence:
            check_series(self)


def _alert_window(value: Any) -> timedelta:
    window = duration(value)
    if window is None or window <= timedelta(0):
        raise ValueError(f"alert_window {value!r} must be a positive duration, e.g. '15min'")
    return window


#: When engagement is collected by default: these ages after publishing.
DEFAULT_COLLECT_AFTER = (timedelta(hours=1), timedelta(hours=24), timedelta(days=7))


def _collect_after(value: Any) -> tuple[timedelta, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"collect_after {value!r} must be a list of ages, e.g. ['1h', '24h']")
    ages = [duration(age) for age in value]
    if any(age is None or age <= timedelta(0) for age in ages):
        raise ValueError(f"collect_after {value!r}: each age must be a positive duration")
    return tuple(sorted(set(cast(list[timedelta], ages))))


@attrs.frozen
class RunnerSettings:
    """The calendar's `[runner]` table: how the runner reports trouble.

    `alert_channels` name channels of the calendar (any adapter) that receive alerts:
    failed and missed deliveries, credential holds, deliveries held in doubt and a
    database the runner cannot reach. Alerts are grouped per kind and channel and sent
    at most once per `alert_window` each. An alert channel gets no posts unless a post
    names it in its `channels`. `collect_after`: the ages after publishing at which
    engagement is collected (`socialsched.analytics.collect`; empty: never by age).
    """

    alert_channels: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    alert_window: timedelta = attrs.field(default=timedelta(minutes=15), converter=_alert_window)
    collect_after: tuple[timedelta, ...] = attrs.field(
        default=DEFAULT_COLLECT_AFTER, converter=_collect_after
    )


def _check_unique(kind: str, names: list[str], problems: list[Problem], key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            problems.append(Problem(f"duplicate {kind} {key} {name!r}", where=f"{kind}[{index}]"))
        seen.add(name)


@attrs.frozen
class Calendar:
    """A whole content calendar. Construction checks every cross-reference and raises
    `CalendarError` listing all problems."""

    segments: tuple[Segment, ...] = attrs.field(converter=tuple)
    channels: tuple[Channel, ...] = attrs.field(converter=tuple)
    posts: tuple[Post, ...] = attrs.field(converter=tuple)
    observances: tuple[Observance, ...] = attrs.field(default=(), converter=tuple)
    name: str = "calendar"
    templates: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    max_gap_days: int | None = None
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, repr=False)
    source: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    runner: RunnerSettings = attrs.field(factory=RunnerSettings)
    #: Same text to the same channel and audience closer than this is a lint warning.
    duplicate_window: timedelta = attrs.field(
        default=DEFAULT_DUPLICATE_WINDOW, converter=duplicate_window
    )
    #: Where each post was written: post id -> (file, line). The loader fills it (the
    #: calendar file's `[[post]]` line, or a spreadsheet's row) so that problems found
    #: later (limits, media) can name file and line; empty for calendars built in Python.
    post_origins: Mapping[str, tuple[Path, int | None]] = attrs.field(
        factory=dict, converter=frozen_mapping, repr=False, eq=False
    )
    #: The `[[queue]]` tables: posting times that queued posts fill (`socialsched.calendar.queues`).
    queues: tuple[Queue, ...] = attrs.field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        problems = self.reference_problems()
        if problems:
            raise CalendarError(problems)

    def reference_problems(self) -> list[Problem]:
        """Every broken cross-reference (unknown names, duplicates), as problems."""
        problems: list[Problem] = []
        _check_unique("segment", [s.name for s in self.segments], problems, "name")
        _check_unique("channel", [c.name for c in self.channels], problems, "name")
        _check_unique("post", [p.id for p in self.posts], problems, "id")
        queue_names = {q.name for q in getattr(self, "queues", ())}
        _check_unique("queue", [q.name for q in getattr(self, "queues", ())], problems, "name")
        segment_names = {s.name for s in self.segments}
        channel_names = {c.name for c in self.channels}
        circles = {circle for s in self.segments for circle in s.circles}
        for index, channel in enumerate(self.channels):
            for segment in channel.audiences:
                if segment not in segment_names:
                    problems.append(
                        Problem(
                            f"channel {channel.name!r} has an audience for unknown segment "
                            f"{segment!r}{_known(segment_names)}",
                            where=f"channel[{index}].audiences",
                        )
                    )
        runner = getattr(self, "runner", None)
        for name in runner.alert_channels if runner is not None else ():
            if name not in channel_names:
                problems.append(
                    Problem(
                        f"[runner] alert_channels names unknown channel {name!r}"
                        f"{_known(channel_names)}",
                        where="runner[0].alert_channels",
                    )
                )
        for index, post in enumerate(self.posts):
            for selector in post.segments:
                if selector == "*":
                    continue
                if selector.startswith("circle:"):
                    if selector[7:] not in circles:
                        problems.append(
                            Problem(
                                f"post {post.id!r} selects unknown circle {selector[7:]!r}"
                                f"{_known(circles)}",
                                where=f"post[{index}].segments",
                            )
                        )
                elif selector not in segment_names:
                    problems.append(
                        Problem(
                            f"post {post.id!r} names unknown segment {selector!r}"
                            f"{_known(segment_names)}",
                            where=f"post[{index}].segments",
                        )
                    )
            queue = getattr(post, "queue", None)
            if queue is not None and queue not in queue_names:
                problems.append(
                    Problem(
                        f"post {post.id!r} names unknown queue {queue!r}"
                        + (_known(queue_names) if queue_names else " (add a [[queue]] table)"),
                        where=f"post[{index}].queue",
                    )
                )
            problems.extend(reference_problems(index, post, channel_names))
            for channel_name in post.channels:
                if channel_name not in channel_names:
                    problems.append(
                        Problem(
                            f"post {post.id!r} names unknown channel {channel_name!r}"
                            f"{_known(channel_names)}",
                            where=f"post[{index}].channels",
                        )
                    )
        if all(isinstance(segment, Segment) for segment in self.segments):
            # A key of `text`, `media` or `alt` no selected segment can reach ('fe' for
            # 'fr') would quietly send the default instead.
            problems.extend(
                unused_key_problems(self.posts, lambda post: Calendar.segments_for(self, post))
            )
        return problems

    def segment(self, name: str) -> Segment:
        """The segment called `name`."""
        return self._segments_by_name[name]

    def channel(self, name: str) -> Channel:
        """The channel called `name`."""
        return next(c for c in self.channels if c.name == name)

    def queue(self, name: str) -> Queue:
        """The queue called `name`."""
        return next(q for q in self.queues if q.name == name)

    def post(self, post_id: str) -> Post:
        """The post with id `post_id`."""
        return next(p for p in self.posts if p.id == post_id)

    @functools.cached_property
    def _segments_by_name(self) -> dict[str, Segment]:
        return {s.name: s for s in self.segments}

    def segments_for(self, post: Post) -> list[Segment]:
        """Segments a post selects (names, "*" or "circle:NAME"), in calendar order,
        before topic exclusions."""
        chosen: list[Segment] = []
        for segment in self.segments:
            for selector in post.segments:
                if (
                    selector == "*"
                    or selector == segment.name
                    or (selector.startswith("circle:") and selector[7:] in segment.circles)
                ):
                    chosen.append(segment)
                    break
        return chosen

    def channels_for(self, post: Post, segment: Segment) -> list[Channel]:
        """Channels a post goes to for a segment: the post's channels (all but the alert
        channels when it names none) that reach the segment (an audience for it, or no
        audiences at all)."""
        alerts = self.runner.alert_channels
        names = post.channels or tuple(c.name for c in self.channels if c.name not in alerts)
        return [
            channel
            for channel in self.channels
            if channel.name in names
            and (not channel.audiences or segment.name in channel.audiences)
        ]


def _known(names: set[str]) -> str:
    return f" (known: {', '.join(sorted(names))})" if names else ""
