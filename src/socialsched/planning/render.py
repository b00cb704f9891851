"""Message rendering: sandboxed, strict Jinja with per-locale templates and Babel filters.

Template lookup falls back by locale: `name.fr-DZ.j2`, then `name.fr.j2`, then `name.j2`.
Inline text keyed by locale falls back the same way, ending at `default`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Hashable, Mapping
from datetime import date, datetime, time
from types import TracebackType
from typing import Any, TypeVar

import attrs
import babel
import babel.dates
import babel.numbers
import jinja2
import jinja2.meta
from jinja2 import StrictUndefined, pass_context
from jinja2.sandbox import SecurityError

from socialsched.adapters import plugins
from socialsched.calendar.locale_keys import locale_chain, lookup
from socialsched.calendar.model import Calendar, Channel, Post, Segment
from socialsched.errors import RenderError
from socialsched.trust.paths import confined_loader

from .template_limits import LimitedSandbox, TemplateTooLarge
from .template_work import where_in_template
from .text_variance import Analysis, Variance, analyse

T = TypeVar("T")


#: The models a template reads (`segment.name`, `post.id`) and their public fields: the
#: sandbox reads these without its per-read checks when the value is plain data.
_MODEL_FIELDS: dict[type, frozenset[str]] = {
    model: frozenset(f.name for f in attrs.fields(model) if not f.name.startswith("_"))
    for model in (Segment, Post, Channel)
}


@functools.cache
def babel_locale(tag: str) -> babel.Locale:
    """The Babel locale for a BCP 47 tag such as 'fr-DZ'."""
    return babel.Locale.parse(tag, sep="-" if "-" in tag else "_")


def by_locale(table: Mapping[str, T], locale: str) -> tuple[str, T] | None:
    """The entry of a table keyed by locale that `locale` falls back to ('fr-DZ', then
    'fr', then 'default'), with its key; None when there is none. Keys compare as
    locales (`socialsched.calendar.locale_keys`): 'fr-Fr' and 'fr_FR' are 'fr-FR'."""
    return lookup(table, locale)


def _locale_of(context: Any) -> babel.Locale:
    return babel_locale(_locale_tag(context))


def _locale_tag(context: Any) -> str:
    segment = context.get("segment")
    return segment.locale if segment is not None else "en"


#: Dates and times already formatted, by (filter, locale, format, value): a plan formats
#: the same local times for every segment of a market. Babel's result depends on nothing
#: else, so a cached text is the one babel would give (a wall time, its UTC offset and its
#: zone all in the key: a format may print the zone). Cleared when full.
_FORMATTED: dict[Hashable, str] = {}
FORMATTED_CACHE_SIZE = 100_000


def _value_key(value: Any) -> Hashable:
    if isinstance(value, datetime):
        return datetime, value.replace(tzinfo=None), value.utcoffset(), value.tzinfo
    if isinstance(value, time):
        return time, value.replace(tzinfo=None), value.tzinfo
    return type(value), value


def _formatted(
    kind: str, context: Any, format: str, value: Any, render: Callable[[babel.Locale], str]
) -> str:
    """`render(locale)` for `value`, cached by filter `kind`, locale, format and value."""
    tag = _locale_tag(context)
    try:
        key = (kind, tag, format, _value_key(value))
        found = _FORMATTED.get(key)
    except TypeError:  # an unhashable format or value: not cached
        return render(babel_locale(tag))
    if found is None:
        found = render(babel_locale(tag))
        if len(_FORMATTED) >= FORMATTED_CACHE_SIZE:
            _FORMATTED.clear()
        _FORMATTED[key] = found
    return found


@pass_context
def _date_filter(context: Any, value: date | datetime, format: str = "medium") -> str:
    if isinstance(value, datetime):
        value = value.date()
    day = value
    return _formatted(
        "date", context, format, day, lambda locale: babel.dates.format_date(day, format, locale)
    )


@pass_context
def _datetime_filter(context: Any, value: datetime, format: str = "medium") -> str:
    return _formatted(
        "datetime",
        context,
        format,
        value,
        lambda locale: babel.dates.format_datetime(
            value, format, tzinfo=value.tzinfo, locale=locale
        ),
    )


@pass_context
def _time_filter(context: Any, value: datetime | time, format: str = "short") -> str:
    tzinfo = getattr(value, "tzinfo", None)
    return _formatted(
        "time",
        context,
        format,
        value,
        lambda locale: babel.dates.format_time(value, format, tzinfo=tzinfo, locale=locale),
    )


@pass_context
def _number_filter(context: Any, value: float, format: str | None = None) -> str:
    return babel.numbers.format_decimal(value, format, locale=_locale_of(context))


@pass_context
def _currency_filter(context: Any, value: float, currency: str, format: str | None = None) -> str:
    return babel.numbers.format_currency(value, currency, format, locale=_locale_of(context))


@pass_context
def _percent_filter(context: Any, value: float, format: str | None = None) -> str:
    return babel.numbers.format_percent(value, format, locale=_locale_of(context))


BUILTIN_FILTERS: dict[str, Callable[..., Any]] = {
    "date": _date_filter,
    "datetime": _datetime_filter,
    "time": _time_filter,
    "number": _number_filter,
    "currency": _currency_filter,
    "percent": _percent_filter,
}


def _template_line(traceback: TracebackType | None, filename: str | None) -> int | None:
    line = None
    while traceback is not None:
        if filename and traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


class Renderer:
    """Renders posts for a calendar. Templates are compiled once per (post, locale).

    Filters and globals from plugins (`template_filters`, `template_globals` hooks) are
    added after the built-ins; `filters` and `globals` given here win over both.
    """

    def __init__(
        self,
        calendar: Calendar,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.calendar = calendar
        # Templates are calendar-named files: no symlink out of the folder, no FIFO.
        loader = confined_loader(calendar.templates) if calendar.templates else None
        self.environment = LimitedSandbox(
            undefined=StrictUndefined, loader=loader, autoescape=False, keep_trailing_newline=False
        )
        self.environment.plain_fields = _MODEL_FIELDS
        self.environment.filters.update(BUILTIN_FILTERS)
        self.environment.filters.update(plugins.template_filters())
        self.environment.filters.update(filters or {})
        self.environment.globals.update(plugins.template_globals())
        self.environment.globals.update(globals or {})
        self._templates: dict[tuple[str, str], tuple[jinja2.Template, str]] = {}
        self._inline: dict[str, jinja2.Template] = {}
        self._inline_variables: dict[jinja2.Template, frozenset[str]] = {}
        self._variances: dict[tuple[str, str], Analysis] = {}
        self._globals: dict[jinja2.Template, dict[str, Any]] = {}

    def fork(self) -> Renderer:
        """A renderer with this one's environment (filters, globals, templates) and
        empty per-post caches: for a variant of a post that keeps its id but not its
        text (a changed occurrence of a series)."""
        twin = copy.copy(self)
        twin._templates, twin._variances = {}, {}
        return twin

    def template_names(self, name: str, locale: str) -> list[str]:
        """File names tried, in order, for template `name` in `locale`."""
        return [f"{name}.{tag}.j2" for tag in locale_chain(locale)] + [f"{name}.j2"]

    def _compile(self, post: Post, locale: str) -> tuple[jinja2.Template, str]:
        key = (post.id, locale)
        cached = self._templates.get(key)
        if cached is not None:
            return cached
        try:
            if post.template is not None:
                names = self.template_names(post.template, locale)
                if self.environment.loader is None:
                    raise RenderError(
                        f"post {post.id!r} uses template {post.template!r} but the calendar "
                        "has no templates folder"
                    )
                try:
                    template = self.environment.select_template(names)
                except jinja2.TemplatesNotFound:
                    raise RenderError(
                        f"post {post.id!r}: no template for locale {locale!r}: looked for "
                        f"{', '.join(names)} in {self.calendar.templates}"
                    ) from None
                label = template.filename or template.name or post.template
            else:
                source, label = self._inline_source(post, locale)
                template = self.environment.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            where = f"{error.filename or 'post ' + repr(post.id)}:{error.lineno}"
            raise RenderError(f"{where}: template syntax error: {error.message}") from None
        self._templates[key] = (template, label)
        return template, label

    def _inline_source(self, post: Post, locale: str) -> tuple[str, str]:
        text = post.text
        if isinstance(text, str):
            return text, f"post {post.id!r} text"
        assert text is not None
        found = by_locale(text, locale)
        if found is not None:
            tag, source = found
            return source, f"post {post.id!r} text[{tag!r}]"
        raise RenderError(
            f"post {post.id!r} has no text for locale {locale!r} "
            f"(has: {', '.join(text)}; add one of them or 'default')"
        )

    def variance(self, post: Post, locale: str) -> Variance:
        """How often the text of `post` in `locale` may change along one route, from
        what its template reads (see `socialsched.planning.text_variance`)."""
        return self.analysis(post, locale).variance

    def analysis(self, post: Post, locale: str) -> Analysis:
        """What the text of `post` in `locale` depends on, from what its template reads
        (see `socialsched.planning.text_variance`)."""
        key = (post.id, locale)
        found = self._variances.get(key)
        if found is None:
            template, _ = self._compile(post, locale)
            if post.template is not None:
                assert self.environment.loader is not None and template.name is not None
                source = self.environment.loader.get_source(self.environment, template.name)[0]
            else:
                source = self._inline_source(post, locale)[0]
            found = self._variances[key] = analyse(self.environment, source, BUILTIN_FILTERS)
        return found

    def check(self, post: Post, locale: str) -> None:
        """Compile the template a post uses for `locale`, raising `RenderError` if broken."""
        self._compile(post, locale)

    def render(
        self,
        post: Post,
        segment: Segment,
        channel: Channel,
        when: datetime,
        holiday: str | None = None,
    ) -> str:
        """Render a post for one segment and channel at local time `when`."""
        template, label = self._compile(post, segment.locale)
        return self._run(template, label, post, segment, channel, when, holiday)

    def render_in_route(
        self,
        route: Mapping[str, Any],
        when: datetime,
        holiday: str | None = None,
    ) -> str:
        """`render` with the route's context made once (`route_context`)."""
        post, segment = route["post"], route["segment"]
        template, label = self._compile(post, segment.locale)
        return self._run(template, label, post, segment, route["channel"], when, holiday, route)

    def render_alt(
        self,
        post: Post,
        source: str,
        label: str,
        segment: Segment,
        channel: Channel,
        when: datetime,
        holiday: str | None = None,
    ) -> str:
        """Render the alt text template `source` of one of `post`'s media, with the
        same context as the post's text; `label` names it in errors."""
        template = self._compile_inline(source, label)
        return self._run(template, label, post, segment, channel, when, holiday)

    def check_inline(self, source: str, label: str) -> None:
        """Compile inline template `source` (e.g. alt text), raising `RenderError`
        naming `label` and the line when its syntax is broken."""
        self._compile_inline(source, label)

    def uses_time(self, source: str, label: str) -> bool:
        """Whether inline template `source` reads the date or time (`when`, `holiday`),
        so that its rendering may differ from one delivery of a route to the next."""
        template = self._compile_inline(source, label)
        return bool(self._inline_variables[template] & {"when", "holiday"})

    def _compile_inline(self, source: str, label: str) -> jinja2.Template:
        template = self._inline.get(source)
        if template is None:
            try:
                parsed = self.environment.parse(source)
                template = self.environment.from_string(parsed)
            except jinja2.TemplateSyntaxError as error:
                raise RenderError(
                    f"{label}:{error.lineno}: template syntax error: {error.message}"
                ) from None
            self._inline[source] = template
            self._inline_variables[template] = frozenset(
                jinja2.meta.find_undeclared_variables(parsed)
            )
        return template

    def route_context(self, post: Post, segment: Segment, channel: Channel) -> dict[str, Any]:
        """What the context of every rendering of `post` for `segment` on `channel`
        holds but the time (`when`, `holiday`): made once per route (`RouteTexts`)."""
        return {
            "segment": segment,
            "post": post,
            "channel": channel,
            "locale": segment.locale,
            "vars": {**self.calendar.vars, **segment.vars, **post.vars},
        }

    def _run(
        self,
        template: jinja2.Template,
        label: str,
        post: Post,
        segment: Segment,
        channel: Channel,
        when: datetime,
        holiday: str | None,
        route: Mapping[str, Any] | None = None,
    ) -> str:
        if route is None:
            route = self.route_context(post, segment, channel)
        # A fresh context (and `vars` dict: the sandbox lets a template change a dict)
        # for every rendering: nothing one rendering does is seen by the next.
        context = {
            **self._template_globals(template),
            **route,
            "vars": dict(route["vars"]),
            "when": when,
            "holiday": holiday,
        }
        try:
            return self._capped_render(template, context).strip()
        except TemplateTooLarge as error:
            where = where_in_template(label, template.filename, error.__traceback__)
            raise RenderError(
                f"{where}: {error}, rendering post {post.id!r} for segment {segment.name!r}"
            ) from None
        except SecurityError as error:
            raise RenderError(
                f"{label}: blocked by the sandbox ({error}) rendering post {post.id!r} "
                f"for segment {segment.name!r}"
            ) from None
        except jinja2.UndefinedError as error:
            line = _template_line(error.__traceback__, template.filename)
            where = f"{label}:{line}" if line else label
            raise RenderError(
                f"{where}: undefined variable ({error.message}) rendering post {post.id!r} "
                f"for segment {segment.name!r}"
            ) from None
        except RecursionError:
            raise RenderError(
                f"{label}: the template calls or includes itself too deeply (a macro, "
                f"include or recursive loop without end), rendering post {post.id!r} "
                f"for segment {segment.name!r}"
            ) from None
        except Exception as error:
            raise RenderError(
                f"{label}: {type(error).__name__}: {error} rendering post {post.id!r} "
                f"for segment {segment.name!r}"
            ) from None

    def _template_globals(self, template: jinja2.Template) -> dict[str, Any]:
        """The template's globals (the environment's and its own) as one dict, made
        once per template: Jinja would merge them for every rendering."""
        found = self._globals.get(template)
        if found is None:
            found = self._globals[template] = dict(template.globals)
        return found

    def _capped_render(self, template: jinja2.Template, context: dict[str, Any]) -> str:
        """The rendered text, stopped as soon as it passes the cap (a loop can emit
        far more than any one expression builds)."""
        limit = self.environment.max_text
        pieces, length = [], 0
        # `context` holds the template's globals already: Jinja's `new_context` would
        # merge them again and read their names from a ChainMap on every rendering.
        environment = template.environment
        made = environment.context_class(
            environment,
            context,
            template.name,
            template.blocks,
            globals=self._template_globals(template),
        )
        generate = template.generate_in(made)  # type: ignore[attr-defined]
        for piece in generate:
            length += len(piece)
            if length > limit:
                raise TemplateTooLarge(
                    f"the rendered text passed {limit} characters (the most a template may render)"
                )
            pieces.append(piece)
        return "".join(pieces)
