"""How often a template's text can change along one route, read from Jinja's own AST.

Along one (post, segment, channel) route only the delivery's time (`when`) and its
holiday change; `segment`, `post`, `channel`, `locale` and `vars` stay the same. So a
template that reads neither renders the same text for the whole route, one that reads
only the date (`when|date`, `when.year`, `when.weekday()`, `holiday`) the same text for a
whole local day, and any other use of `when` needs one rendering per slot. `RouteTexts`
renders once per distinct value of what the template reads and reuses the text.

Anything the analysis cannot vouch for makes the template render for every slot, as if
there were no cache: includes, imports and extends (the other template is not inspected),
context references, filters, tests or globals a plugin marks non-deterministic (an
attribute `socialsched_nondeterministic = True` on the function), and filters or globals
other than the built-ins that take the whole context (`jinja2.pass_context`), since they
may read `when` without the template naming it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import jinja2
import jinja2.meta
import jinja2.utils
from jinja2 import nodes

if TYPE_CHECKING:
    from socialsched.calendar.model import Channel, Post, Segment

    from .render import Renderer

#: The attribute a plugin sets to True on a filter, test or global whose result may
#: differ between two calls with the same arguments (random text, the current time).
NONDETERMINISTIC = "socialsched_nondeterministic"

#: Jinja's own globals whose result changes from call to call.
_JINJA_NONDETERMINISTIC: frozenset[Any] = frozenset({jinja2.utils.generate_lorem_ipsum})

#: Variables whose value changes from one delivery of a route to the next.
_SLOT_VARIABLES = frozenset({"when", "holiday"})

#: Attributes of `when` that read only its local date.
_DATE_ATTRIBUTES = frozenset({"year", "month", "day"})
#: Methods of `when` that, called without arguments, read only its local date.
_DATE_METHODS = frozenset({"date", "weekday", "isoweekday", "isocalendar", "toordinal"})

#: Constructs that bring in text or names the analysis cannot see.
_OPAQUE = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.ContextReference,
    nodes.DerivedContextReference,
    nodes.ExtensionAttribute,
    nodes.ImportedName,
    nodes.InternalName,
)


class Variance(enum.Enum):
    """How often a template's text may change along one route."""

    #: The same text for every delivery of the route.
    ROUTE = "route"
    #: The same text for every delivery of a local day.
    DAY = "day"
    #: One text per distinct local time (and holiday).
    SLOT = "slot"
    #: Not cacheable: render for every delivery.
    ALWAYS = "always"


def _walk(
    node: nodes.Node, parents: tuple[nodes.Node, ...] = ()
) -> Iterator[tuple[nodes.Node, tuple[nodes.Node, ...]]]:
    """Every node under `node` with its ancestors, nearest last."""
    yield node, parents
    for child in node.iter_child_nodes():
        yield from _walk(child, (*parents, node))


def _reads_whole_context(function: Any) -> bool:
    return jinja2.utils._PassArg.from_obj(function) is jinja2.utils._PassArg.context


def _date_only(name: nodes.Name, parents: tuple[nodes.Node, ...], date_filter: bool) -> bool:
    """Whether this read of `when` uses only its local date."""
    if not parents:
        return False
    parent = parents[-1]
    if isinstance(parent, nodes.Filter) and parent.node is name:
        return date_filter and parent.name == "date"
    if isinstance(parent, nodes.Getattr) and parent.node is name:
        if parent.attr in _DATE_ATTRIBUTES:
            return True
        if parent.attr in _DATE_METHODS and len(parents) >= 2:
            call = parents[-2]
            return (
                isinstance(call, nodes.Call)
                and call.node is parent
                and not (call.args or call.kwargs or call.dyn_args or call.dyn_kwargs)
            )
    return False


class Analysis(NamedTuple):
    """What a template's text depends on."""

    #: How often it may change along one route.
    variance: Variance
    #: Which of `segment`, `channel` and `vars` it may read: routes of one post and
    #: locale that agree on these (and on the slot) render the same text.
    reads: frozenset[str]


#: What routes of one post and locale may differ in, besides their slots.
ROUTE_NAMES = frozenset({"segment", "channel", "vars"})

_UNCACHEABLE = Analysis(Variance.ALWAYS, ROUTE_NAMES)


def analyse(
    environment: jinja2.Environment,
    source: str,
    builtin_filters: Mapping[str, Callable[..., Any]],
) -> Analysis:
    """What the text of template `source` depends on, in `environment` (whose
    filters, tests and globals it looks up)."""
    tree = environment.parse(source)
    undeclared = jinja2.meta.find_undeclared_variables(tree)
    date_filter = environment.filters.get("date") is builtin_filters.get("date")
    result = Variance.ROUTE
    reads = frozenset(undeclared & ROUTE_NAMES)
    for node, parents in _walk(tree):
        if isinstance(node, _OPAQUE):
            return _UNCACHEABLE
        used: list[Any] = []
        if isinstance(node, nodes.Filter):  # also the filter of a `{% filter %}` block
            used.append(environment.filters.get(node.name))
        elif isinstance(node, nodes.Test):
            used.append(environment.tests.get(node.name))
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            # `map('name')`, `select('name')` and the like call filters and tests by name.
            used.extend((environment.filters.get(node.value), environment.tests.get(node.value)))
        elif isinstance(node, nodes.Name) and node.name in undeclared:
            used.append(environment.globals.get(node.name))
            if node.name == "holiday":
                result = max(result, Variance.DAY, key=_ORDER.index)
            elif node.name == "when":
                granularity = (
                    Variance.DAY if _date_only(node, parents, date_filter) else Variance.SLOT
                )
                result = max(result, granularity, key=_ORDER.index)
        for function in used:
            if function is None:
                continue
            if getattr(function, NONDETERMINISTIC, False) or _is_jinja_random(function):
                return _UNCACHEABLE
            if _reads_whole_context(function) and function not in builtin_filters.values():
                # It may read anything in the context (the built-ins read the locale).
                result = max(result, Variance.SLOT, key=_ORDER.index)
                reads = ROUTE_NAMES
    return Analysis(result, reads)


def variance(
    environment: jinja2.Environment,
    source: str,
    builtin_filters: Mapping[str, Callable[..., Any]],
) -> Variance:
    """How often the text of template `source` may change along one route, in
    `environment` (whose filters, tests and globals it looks up)."""
    return analyse(environment, source, builtin_filters).variance


def _is_jinja_random(function: Any) -> bool:
    try:
        return function in _JINJA_NONDETERMINISTIC
    except TypeError:  # unhashable global value
        return False


_ORDER = [Variance.ROUTE, Variance.DAY, Variance.SLOT, Variance.ALWAYS]


def _slot_key(when: datetime, holiday: str | None) -> Hashable:
    # Two local times equal on the wall clock but on either side of a DST change compare
    # equal; the offset tells them apart. Routes in other zones share the cache, and a
    # time's format may name its zone: the zone is part of the key.
    return when.replace(tzinfo=None), when.utcoffset(), when.tzinfo, holiday


_KEYS: dict[Variance, Callable[[datetime, str | None], Hashable]] = {
    Variance.ROUTE: lambda when, holiday: None,
    Variance.DAY: lambda when, holiday: (when.date(), holiday),
    Variance.SLOT: _slot_key,
}


#: Texts rendered during one plan, by (post, locale, what the route reads) and then by
#: what the slot's time is read for (see `RouteTexts`).
TextCache = dict[tuple[str, str, str | None, str | None], dict[Hashable, str]]


class RouteTexts:
    """The rendered text of one post for one segment and channel, rendered once per
    distinct value of what its template reads (see `Analysis`).

    Routes given the same `shared` cache share texts: a template that reads neither
    `segment`, `vars` nor `channel` renders once for every segment of a locale."""

    def __init__(
        self,
        renderer: Renderer,
        post: Post,
        segment: Segment,
        channel: Channel,
        shared: TextCache | None = None,
    ) -> None:
        self.renderer = renderer
        self.post = post
        self.segment = segment
        self.channel = channel
        self._shared: TextCache = {} if shared is None else shared
        self._key: Callable[[datetime, str | None], Hashable] | None = None
        self._analysed = False
        self._texts: dict[Hashable, str] = {}
        self._context: Mapping[str, Any] | None = None

    def _analyse(self) -> None:
        analysis = self.renderer.analysis(self.post, self.segment.locale)
        self._key = _KEYS.get(analysis.variance)
        reads = analysis.reads
        route = (
            self.post.id,
            self.segment.locale,
            self.segment.name if reads & {"segment", "vars"} else None,
            self.channel.name if "channel" in reads else None,
        )
        self._texts = self._shared.setdefault(route, {})
        self._analysed = True

    def render(self, when: datetime, holiday: str | None) -> str:
        """The text for the delivery at local time `when` (holiday `holiday`); raises
        `RenderError` as `Renderer.render` does."""
        if not self._analysed:
            # Analysed on first use so that a missing template raises from here, as an
            # uncached rendering would.
            self._analyse()
        if self._key is None:
            return self.renderer.render_in_route(self._route(), when, holiday)
        key = self._key(when, holiday)
        text = self._texts.get(key)
        if text is None:
            text = self.renderer.render_in_route(self._route(), when, holiday)
            self._texts[key] = text
        return text

    def _route(self) -> Mapping[str, Any]:
        """The context shared by the route's renderings (`Renderer.route_context`),
        made on first use; each rendering gets its own copy."""
        if self._context is None:
            self._context = self.renderer.route_context(self.post, self.segment, self.channel)
        return self._context


__all__ = [
    "NONDETERMINISTIC",
    "Analysis",
    "RouteTexts",
    "TextCache",
    "Variance",
    "analyse",
    "variance",
]
