"""The calendar model: segments, channels, observances, posts and deliveries.

All classes are frozen attrs classes validated on construction, so a
`Calendar` built in Python is checked exactly like one loaded from a file.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as _datetime
import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs
import babel
import holidays

from .cron import Cron, CronError
from .duplicates import DEFAULT_DUPLICATE_WINDOW, duplicate_window
from .errors import CalendarError, Problem
from .locale_keys import locale_table, unused_key_problems
from .media import Media, MediaSpec, media_spec
from .queues import Evergreen, Queue, evergreen_setting
from .timezones import to_zoneinfo

if TYPE_CHECKING:
    from .series import Occurrence

ON_HOLIDAY_POLICIES = ("post", "skip", "next_business_day")
THREAD_MODES: tuple[bool | str, ...] = (False, True, "auto")
LATE_POLICIES = ("skip", "publish")
ON_DOUBT_POLICIES = ("resend", "hold")
# An environment variable name: what secrets and webhook audiences must be.
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def string_tuple(value: Any) -> tuple[str, ...]:
    """A string or a list of them (as TOML gives) as a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _is_bool(instance: Any, attribute: Any, value: Any) -> None:
    # TOML has real booleans; "no" or 0 is a mistake that must not read as true.
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, not {value!r}")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


def parse_clock(text: str | time) -> time:
    """Parse "HH:MM" (24-hour) into a `time`."""
    if isinstance(text, time):
        return text
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a time of day in HH:MM form")
    return time(int(match[1]), int(match[2]))


def _to_date(value: str | date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a date in YYYY-MM-DD form") from None


def _optional_date(value: str | date | None) -> date | None:
    return None if value is None else _to_date(value)


def _optional_clock(value: str | time | None) -> time | None:
    return None if value is None else parse_clock(value)


def _dates(value: Any) -> tuple[date, ...]:
    return tuple(_to_date(item) for item in string_tuple(value) if item) if value else ()


@attrs.frozen
class QuietWindow:
    """A local time window (e.g. 22:00-08:00, may cross midnight) with no posting."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str | QuietWindow) -> QuietWindow:
        """Parse "HH:MM-HH:MM"."""
        if isinstance(text, QuietWindow):
            return text
        parts = str(text).split("-")
        if len(parts) != 2:
            raise ValueError(f"quiet hours {text!r} must look like 'HH:MM-HH:MM'")
        start, end = (parse_clock(part) for part in parts)
        if start == end:
            raise ValueError(f"quiet hours {text!r} start and end at the same time")
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time is inside the window (end excluded)."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def quiet_windows(value: Any) -> tuple[QuietWindow, ...]:
    """Quiet windows from None, one window or a list ("HH:MM-HH:MM" or `QuietWindow`)."""
    if value is None:
        return ()
    if isinstance(value, str | QuietWindow):
        value = [value]
    return tuple(QuietWindow.parse(item) for item in value)


@functools.cache
def _supported_countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


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
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, repr=False)

    @country.validator
    def _check_country(self, attribute: Any, value: str) -> None:
        if value not in _supported_countries():
            raise ValueError(f"unknown country code {value!r} (use ISO 3166-1 alpha-2, e.g. 'US')")

    @subdivision.validator
    def _check_subdivision(self, attribute: Any, value: str | None) -> None:
        if value is None or self.country not in _supported_countries():
            return
        known = _supported_countries()[self.country]
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
                f"secret {key!r} must name an environment variable (e.g. "
                f"{key.upper()}_TOKEN), not hold the secret itself"
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
    audiences: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    secrets: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_secret_names
    )
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    rate: str | None = None
    max_attempts: int = 5
    on_doubt: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(ON_DOUBT_POLICIES))
    )


def _weekday_index(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    name = str(value).lower()
    for index, weekday in enumerate(_WEEKDAY_NAMES):
        if weekday.startswith(name[:3]) and len(name) >= 3:
            return index
    raise ValueError(f"unknown weekday {value!r}")


def _month_day(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", str(value))
    if not match:
        raise ValueError(f"observance date {value!r} must be 'MM-DD' (every year)")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(f"observance date {value!r} is not a day of the year") from None
    return month, day


@attrs.frozen
class Observance:
    """A user-defined day (Ferragosto, a country's Mother's Day, a brand anniversary).

    Give exactly one of: `date` ("MM-DD", every year), `dates` (explicit days), or
    `month` + `weekday` + `nth` (e.g. the 2nd Sunday of May; `nth = -1` is the last).
    It applies to segments of `countries` (or of `segments`); with neither, to all.
    `holiday = true` makes it count as a holiday for `on_holiday` policies.
    """

    name: str
    date: tuple[int, int] | None = attrs.field(default=None, converter=_month_day)
    # `_datetime.date`: inside this class `date` is the field above, not the type.
    dates: tuple[_datetime.date, ...] = attrs.field(default=(), converter=_dates)
    month: int | None = None
    weekday: int | None = attrs.field(default=None, converter=_weekday_index)
    nth: int | None = None
    countries: tuple[str, ...] = attrs.field(
        default=(), converter=lambda v: tuple(c.upper() for c in string_tuple(v))
    )
    segments: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    holiday: bool = attrs.field(default=False, validator=_is_bool)

    def __attrs_post_init__(self) -> None:
        rule = self.month is not None or self.weekday is not None or self.nth is not None
        given = sum([self.date is not None, bool(self.dates), rule])
        if given != 1:
            raise ValueError(
                f"observance {self.name!r} needs exactly one of date = 'MM-DD', "
                "dates = [...], or month + weekday + nth"
            )
        if rule and (self.month is None or self.weekday is None or self.nth is None):
            raise ValueError(f"observance {self.name!r} needs month, weekday and nth together")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"observance {self.name!r}: month {self.month} is not 1-12")
        if self.nth is not None and self.nth not in (-1, 1, 2, 3, 4, 5):
            raise ValueError(f"observance {self.name!r}: nth {self.nth} must be 1-5 or -1 (last)")

    def applies_to(self, segment: Segment) -> bool:
        """Whether this observance is observed by `segment`."""
        if not self.countries and not self.segments:
            return True
        return segment.country in self.countries or segment.name in self.segments

    def dates_in(self, year: int) -> list[_datetime.date]:
        """The days this observance falls on in `year`."""
        if self.date is not None:
            month, day = self.date
            if month == 2 and day == 29 and not _calendar.isleap(year):
                return []
            return [date(year, month, day)]
        if self.dates:
            return [d for d in self.dates if d.year == year]
        assert self.month is not None and self.weekday is not None and self.nth is not None
        weeks = _calendar.Calendar().monthdatescalendar(year, self.month)
        matching = [
            d
            for week in weeks
            for d in week
            if d.month == self.month and d.weekday() == self.weekday
        ]
        index = self.nth - 1 if self.nth > 0 else self.nth
        return [matching[index]] if -len(matching) <= index < len(matching) else []


def _timedelta(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = re.fullmatch(r"\s*(\d+)\s*(s|sec|min|m|h|d)\s*", str(value))
    if not match:
        raise ValueError(f"duration {value!r} must look like '90s', '30min', '2h' or '1d'")
    unit = {"s": "seconds", "sec": "seconds", "min": "minutes", "m": "minutes", "h": "hours"}
    return timedelta(**{unit.get(match[2], "days"): int(match[1])})


def _occurrences(value: Any) -> tuple[Occurrence, ...]:
    from .series import occurrences  # series builds on this module

    return occurrences(value)


def series_references(index: int, post: Any, channel_names: set[str]) -> list[Problem]:
    """Unknown channels named by a post's changed occurrences (`series`)."""
    from .series import reference_problems

    return reference_problems(index, post, channel_names)


def _text(value: Any) -> str | Mapping[str, str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        # Keys are locales however written: 'fr-Fr' and 'es_MX' are 'fr-FR' and 'es-MX'.
        return locale_table({str(k): str(v) for k, v in value.items()}, "text")
    raise ValueError("text must be a string or a table keyed by locale")


@attrs.frozen
class Post:
    """A message and when it goes out.

    Text comes from `template` (a file in the calendar's templates folder) or inline
    `text` (a string or a mapping keyed by locale). Timing is exactly one of: `schedule`
    (5-field cron in each segment's local time, between `start` and `end`), `dates` +
    `at` (one-offs), `on_holidays` + `at` (+ `offset_days`), or `queue` (the named
    queue's next free slot; `evergreen` recycles it, see `socialsched.queues`). A
    `schedule` post can be a finite series: `count`, `skip` and `occurrence` (see
    `socialsched.series`).

    `media` is a list of `MediaItem`s, or lists keyed by locale with the same fallback
    as text (fr-DZ, fr, default). `thread = true` sends a text too long for one post as
    a reply chain of parts that each fit the network, and needs a network with threads;
    `"auto"` does the same and needs threads only where the text is too long;
    `number_parts` appends " 1/3" to each part.
    """

    id: str
    text: str | Mapping[str, str] | None = attrs.field(default=None, converter=_text)
    template: str | None = None
    segments: tuple[str, ...] = attrs.field(default=("*",), converter=string_tuple)
    channels: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    schedule: str | None = None
    start: date | None = attrs.field(default=None, converter=_optional_date)
    end: date | None = attrs.field(default=None, converter=_optional_date)
    at: time | None = attrs.field(default=None, converter=_optional_clock)
    dates: tuple[date, ...] = attrs.field(default=(), converter=_dates)
    on_holidays: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    offset_days: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    on_holiday: str = attrs.field(
        default="post", validator=attrs.validators.in_(ON_HOLIDAY_POLICIES)
    )
    on_weekend: str = attrs.field(
        default="post", validator=attrs.validators.in_(ON_HOLIDAY_POLICIES)
    )
    respect_quiet_hours: bool = attrs.field(default=True, validator=_is_bool)
    topics: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, repr=False)
    misfire_grace: timedelta | None = attrs.field(default=None, converter=_timedelta)
    late: str = attrs.field(default="skip", validator=attrs.validators.in_(LATE_POLICIES))
    requires_approval: bool = attrs.field(default=False, validator=_is_bool)
    media: MediaSpec = attrs.field(default=(), converter=media_spec)
    thread: bool | str = attrs.field(
        default=False,
        validator=attrs.validators.in_(THREAD_MODES),  # type: ignore[arg-type]
    )
    number_parts: bool = attrs.field(default=True, validator=_is_bool)
    #: A `[[queue]]` name: the post takes that queue's next free slot (see `queues`).
    queue: str | None = None
    evergreen: Evergreen | None = attrs.field(default=None, converter=evergreen_setting)
    #: A finite series (`socialsched.series`): the first `count` occurrences from
    #: `start`, none on `skip` dates, and `[[post.occurrence]]` changes to single ones.
    count: int | None = None
    skip: tuple[date, ...] = attrs.field(default=(), converter=_dates)
    occurrence: tuple[Occurrence, ...] = attrs.field(default=(), converter=_occurrences)
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
            from .series import check

            check(self)


# No __weakref__ slot: it would keep `_DeliveryFields` below from sharing the layout.
@attrs.frozen(slots=True, weakref_slot=False)
class Delivery:
    """One planned message: a post, to a segment, on a channel, at one instant."""

    id: str
    post: str
    segment: str
    channel: str
    adapter: str
    utc: datetime
    local: datetime
    text: str | None
    holiday: str | None = None
    shifted_from: datetime | None = None
    reason: str | None = None
    audience: Any = None
    tags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()
    parts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 strings for times); `media` and `parts` only
        when the delivery has them."""
        extra: dict[str, Any] = {}
        if self.media:
            extra["media"] = [media.to_dict() for media in self.media]
        if self.parts:
            extra["parts"] = list(self.parts)
        return {
            "id": self.id,
            "post": self.post,
            "segment": self.segment,
            "channel": self.channel,
            "adapter": self.adapter,
            "utc": self.utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local": self.local.isoformat(),
            "text": self.text,
            "holiday": self.holiday,
            "shifted_from": self.shifted_from.isoformat() if self.shifted_from else None,
            "reason": self.reason,
            # A resolved `Audience` (planner output) becomes its dict; anything else as is.
            "audience": (
                self.audience.to_dict() if hasattr(self.audience, "to_dict") else self.audience
            ),
            "tags": list(self.tags),
            **extra,
        }


class _DeliveryFields:
    """A mutable twin of `Delivery` with the same slots, hence the same memory layout.

    Attrs' frozen `__init__` stores each field through `object.__setattr__`, which is
    most of the cost of planning a large calendar. Plain slot stores followed by a
    switch of `__class__` build an equal `Delivery` about three times faster.
    """

    __slots__ = Delivery.__slots__

    def __init__(
        self,
        id: str,
        post: str,
        segment: str,
        channel: str,
        adapter: str,
        utc: datetime,
        local: datetime,
        text: str | None,
        holiday: str | None,
        shifted_from: datetime | None,
        reason: str | None,
        audience: Any,
        tags: tuple[str, ...],
        media: tuple[Media, ...],
        parts: tuple[str, ...],
    ) -> None:
        self.id = id
        self.post = post
        self.segment = segment
        self.channel = channel
        self.adapter = adapter
        self.utc = utc
        self.local = local
        self.text = text
        self.holiday = holiday
        self.shifted_from = shifted_from
        self.reason = reason
        self.audience = audience
        self.tags = tags
        self.media = media
        self.parts = parts
        self.__class__ = Delivery  # type: ignore[assignment]


if _DeliveryFields.__init__.__code__.co_varnames[1:16] != tuple(
    field.name for field in attrs.fields(Delivery)
):
    raise ImportError("_DeliveryFields must take exactly Delivery's fields, in order")


#: `Delivery(*fields)`, all fifteen fields given positionally, built faster (bulk planning).
build_delivery = cast(Callable[..., Delivery], _DeliveryFields)


def _alert_window(value: Any) -> timedelta:
    window = _timedelta(value)
    if window is None or window <= timedelta(0):
        raise ValueError(f"alert_window {value!r} must be a positive duration, e.g. '15min'")
    return window


@attrs.frozen
class RunnerSettings:
    """The calendar's `[runner]` table: how the runner reports trouble.

    `alert_channels` name channels of the calendar (any adapter) that receive alerts:
    failed and missed deliveries, credential holds, deliveries held in doubt and a
    database the runner cannot reach. Alerts are grouped per kind and channel and sent
    at most once per `alert_window` each. An alert channel gets no posts unless a post
    names it in its `channels`.
    """

    alert_channels: tuple[str, ...] = attrs.field(default=(), converter=string_tuple)
    alert_window: timedelta = attrs.field(default=timedelta(minutes=15), converter=_alert_window)


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
    vars: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, repr=False)
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
        factory=dict, converter=_frozen_mapping, repr=False, eq=False
    )
    #: The `[[queue]]` tables: posting times that queued posts fill (`socialsched.queues`).
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
            problems.extend(series_references(index, post, channel_names))
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
