"""Caps on what a template can build, so a calendar cannot exhaust the machine.

Jinja's sandbox stops templates from reaching outside, but not from asking for a
300-million-character string (`{{ 'x' * 300000000 }}`) or doubling one in a loop. The
`LimitedSandbox` checks, before it is built, the size of every string or list that
`*`, `+`, `~`, `%`, `str.format`, the string methods and filters that can multiply
text (`center`, `ljust`, `rjust`, `zfill`, `expandtabs`, `replace`, `join`,
`indent`, `wordwrap`, `format`) and `list.extend` would make, and the bit length of
numbers made by `*` and `**`; `Renderer` also stops a rendering whose output passes
the cap. Each refusal is a `TemplateTooLarge` saying what would have been built.

Sizes are estimated from what goes in, not measured on what came out: doubling a
value (`'%s%s' % (s, s)`, `'%s%s'|format(s, s)`, `|sum(start=[])`) is refused before
the doubled value exists. A value's printed size (`text_size`) counts what `str()`
would make of it, lists and dicts included, without building it; every `{{ ... }}`
output, `~` part and filter that turns its input into text is checked that way. The
work of one rendering is bounded too (`socialsched.planning.template_work`).
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from jinja2 import nodes, pass_environment
from jinja2.compiler import Frame
from jinja2.environment import Environment, Template
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

from .template_work import (
    MAX_TEMPLATE_SECONDS,
    MAX_TEMPLATE_STEPS,
    BudgetedTemplate,
    CappedBuffer,
    TemplateTooLarge,
    WorkCodeGenerator,
    budget_loops,
    current_budget,
)
from .text_variance import NONDETERMINISTIC

#: The most characters (or list items) a template may build or render. Posts are far
#: shorter; this only stops runaway templates.
MAX_TEMPLATE_TEXT = 100_000
#: The largest whole number a template may build, in bits (about 30,000 digits).
MAX_TEMPLATE_INT_BITS = 100_000

_SIZED = (str, list, tuple)
# Dates and times (these exact types, not subclasses): the attributes templates read of
# them, which the sandbox's checks always allow (no "_", not internal, not str.format),
# and of those, the methods it always lets templates call. `getattr` and `call` skip
# the checks for these alone, as they would pass: the same result, faster (a text that
# reads `when.strftime(...)` is rendered for each delivery).
_TIME_TYPES = frozenset({date, datetime, time})
_TIME_METHODS = frozenset({"strftime", "isoformat", "weekday", "isoweekday", "date", "time"})
_TIME_ATTRIBUTES = _TIME_METHODS | {"year", "month", "day", "hour", "minute", "second"}
_BUILTIN_METHOD: Any = type(date.today)
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})
# %-format conversions: the width and precision may be numbers or "*" (taken from args).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")
# A whole %-format conversion, its type included (`%%` is one that takes no value).
_CONVERSION = re.compile(
    r"%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)


# Filters that turn their input into text (or walk it as text): their input's printed
# size is checked first, so that `([s] * 100000)|upper` is refused before `str()`.
_STRINGIFYING_FILTERS = (
    "capitalize", "e", "escape", "forceescape", "lower", "pprint", "safe", "string",
    "striptags", "title", "tojson", "trim", "truncate", "upper", "urlencode", "urlize",
    "wordcount", "xmlattr",
)  # fmt: skip


def _too_large(what: str, size: int, limit: int, unit: str = "characters") -> TemplateTooLarge:
    return TemplateTooLarge(
        f"{what} would build {size} {unit} (templates may build at most {limit})"
    )


class _LimitedCodeGenerator(WorkCodeGenerator):
    """Compiles `a ~ b` to a checked join instead of Jinja's plain one, loops counted
    and buffers capped (`WorkCodeGenerator`)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class LimitedSandbox(SandboxedEnvironment):
    """A `SandboxedEnvironment` that refuses to build text, lists or numbers over
    `max_text` characters (items) or `max_int_bits` bits, and to render with more than
    `max_steps` loop iterations, calls and includes or for more than `max_seconds`."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})
    code_generator_class = _LimitedCodeGenerator
    template_class = BudgetedTemplate
    max_text = MAX_TEMPLATE_TEXT
    max_int_bits = MAX_TEMPLATE_INT_BITS
    max_steps = MAX_TEMPLATE_STEPS
    max_seconds = MAX_TEMPLATE_SECONDS
    #: Exact types whose named fields hold data (`Renderer`: the calendar's models):
    #: `getattr` returns those of plain values without the checks, which pass them.
    plain_fields: Mapping[type, frozenset[str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.finalize is None:
            self.finalize = self._checked_output
        for name in _STRINGIFYING_FILTERS:
            self.filters[name] = self._text_input_filter(name, self.filters[name])
        self.filters["sum"] = self._capped_sum()
        for name in ("batch", "slice"):
            self.filters[name] = self._capped_filter(name, self.filters[name], _pieces_size)
        lipsum: Any = self.globals["lipsum"]
        self.globals["lipsum"] = self._capped_lipsum(lipsum)
        estimates: dict[str, Callable[[inspect.BoundArguments], int]] = {
            "center": _center_size,
            "indent": _indent_size,
            "join": _join_size,
            "replace": _replace_size,
            "wordwrap": _wordwrap_size,
        }
        for name, estimate in estimates.items():
            self.filters[name] = self._capped_filter(name, self.filters[name], estimate)
        self.filters["format"] = self._checked_format_filter(self.filters["format"])

    # ---- operators ----

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_repeat(left, right)
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                self._check_size(f"{_kind(left)} + {_kind(right)}", len(left) + len(right), left)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                self._check_bits(f"{left} ** {right}", max(1, abs(left).bit_length() - 1) * right)
        elif operator == "%" and isinstance(left, str):
            self._check_percent_format(left, right)
            self._check_size("%-formatting", _percent_size(left, right, self.max_text))
        return super().call_binop(context, operator, left, right)

    def concat(self, parts: Iterable[Any]) -> str:
        """`a ~ b ~ ...` (and a whole rendering's pieces): the parts joined as text,
        refused as soon as they pass the cap, before a part too large is made text."""
        texts, length = [], 0
        for part in parts:
            length += len(part) if isinstance(part, str) else text_size(part, self.max_text)
            self._check_size("joining with ~", length)
            texts.append(str(part))
        return "".join(texts)

    # ---- the work of one rendering ----

    def budgeted(self, iterable: Iterable[Any]) -> Iterable[Any]:
        """A `{% for %}` loop's items, each counted against the rendering's budget."""
        budget = current_budget()
        return iterable if budget is None else budget.iterate(iterable)

    def text_buffer(self) -> CappedBuffer:
        """A buffer for a macro's or block's output, capped at `max_text`."""
        return CappedBuffer(self.max_text)

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Loops are wrapped when compiled, not when parsed: the text analysis
        # (socialsched.planning.text_variance) reads the tree `parse` gives.
        return super()._generate(budget_loops(source), name, filename, defer_init=defer_init)

    def _load_template(self, name: str, globals: Any) -> Template:
        budget = current_budget()
        if budget is not None:  # an include or import while rendering
            budget.step(f"including {name!r}")
        return super()._load_template(name, globals)

    def _checked_output(self, value: Any) -> Any:
        """`{{ value }}`: refused when its text would pass the cap, before it is made."""
        if not isinstance(value, str):
            self._check_size("printing a value", text_size(value, self.max_text))
        return value

    def _check_repeat(self, left: Any, right: Any) -> None:
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, _SIZED) and isinstance(times, int):
                self._check_size(
                    f"{_kind(sequence)} * {times}", len(sequence) * max(0, times), sequence
                )
                return
        if isinstance(left, int) and isinstance(right, int):
            bits = abs(left).bit_length() + abs(right).bit_length()
            self._check_bits(f"{left} * {right}", bits)

    def _check_size(self, what: str, size: int, sample: Any = "") -> None:
        if size > self.max_text:
            unit = "characters" if isinstance(sample, str) else "items"
            raise _too_large(what, size, self.max_text, unit)

    def _check_bits(self, what: str, bits: int) -> None:
        if bits > self.max_int_bits:
            shown = what if len(what) <= 60 else what[:57] + "..."
            raise _too_large(f"the number {shown}", bits, self.max_int_bits, "bits")

    # ---- format strings ----

    def _check_percent_format(self, template: str, values: Any) -> None:
        for match in _PERCENT_SPEC.finditer(template):
            for field in match.groups():
                if field == "*":
                    raise TemplateTooLarge(
                        "a %-format width or precision taken from the arguments ('*') is "
                        "not allowed in templates"
                    )
                if field is not None:
                    self._check_size(f"the %-format width {field}", int(field))

    def _check_format_spec(self, template: str) -> None:
        for _, _, spec, _ in string.Formatter().parse(template):
            if not spec:
                continue
            if "{" in spec:
                raise TemplateTooLarge(
                    "a format width taken from the arguments ('{:{...}}') is not allowed "
                    "in templates"
                )
            for number in _DIGITS.findall(spec):
                self._check_size(f"the format width {number}", int(number))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            self._check_format_spec(template)
            if value.__name__ == "format_map" and args and isinstance(args[0], Mapping):
                names: Mapping[str, Any] = args[0]
            else:
                names = kwargs
            size = _format_size(template, args, names, self.max_text)
            self._check_size("str.format", size)
            result = wrapped(*args, **kwargs)
            self._check_size("str.format", len(result))
            return result

        return functools.update_wrapper(checked, value)

    # ---- calls and filters ----

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in _TIME_TYPES and attribute in _TIME_ATTRIBUTES:
            return getattr(obj, attribute)  # allowed by the checks below (see _TIME_TYPES)
        if attribute in self.plain_fields.get(type(obj), ()) and attribute[0] != "_":
            value = getattr(obj, attribute)
            if type(value) in _PLAIN_VALUES:  # not a method, type or other internal
                return value
        return super().getattr(obj, attribute)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        if (
            type(__obj) is _BUILTIN_METHOD
            and type(getattr(__obj, "__self__", None)) in _TIME_TYPES
            and __obj.__name__ in _TIME_METHODS
        ):
            # A date's or time's own method (see _TIME_TYPES): still a counted step.
            if budget is not None:
                budget.step(f"calling {__obj.__name__}")
            return __obj(*args, **kwargs)
        if getattr(__obj, "__func__", None) is LimitedSandbox.budgeted:
            return __obj(*args)  # a loop starting: its items are the steps
        if budget is not None:
            name = getattr(__obj, "__name__", None) or getattr(__obj, "name", "a function")
            budget.step(f"calling {name}")
            if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
                args = (budget.iterate(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _STR_METHODS:
            if name == "join" and args:
                args = (list(args[0]), *args[1:])  # a generator would be used up
            size = _STR_METHODS[name](owner, args)
            __self._check_size(f"str.{name}", size)
        elif isinstance(owner, list) and name == "extend" and args:
            items = list(args[0])
            __self._check_size("list.extend", len(owner) + len(items), owner)
            args = (items,)
        return super().call(__context, __obj, *args, **kwargs)

    def _capped_filter(
        self,
        name: str,
        function: Callable[..., Any],
        estimate: Callable[[inspect.BoundArguments], int],
    ) -> Callable[..., Any]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def capped(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            if name == "join":  # a generator would be used up by the estimate
                bound.arguments["value"] = list(bound.arguments["value"])
            sample = [] if name in ("batch", "slice") else ""  # these build list items
            self._check_size(f"the {name} filter", estimate(bound), sample)
            return function(*bound.args, **bound.kwargs)

        return capped

    def _checked_format_filter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
            self._check_size("the format filter", text_size(value, self.max_text))
            template = str(value)
            self._check_percent_format(template, args or kwargs)
            values = kwargs or args
            self._check_size("the format filter", _percent_size(template, values, self.max_text))
            return function(value, *args, **kwargs)

        return checked

    def _text_input_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` (a filter taking its value first) refusing a value whose text
        would pass the cap; Jinja's context or environment argument is passed through."""
        skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if len(args) > skip and not isinstance(args[skip], str):
                self._check_size(f"the {name} filter", text_size(args[skip], self.max_text))
            return function(*args, **kwargs)

        return checked

    def _capped_sum(self) -> Callable[..., Any]:
        """The `sum` filter, refusing to build a list or tuple over the cap (and
        building it in one pass rather than one copy per item)."""
        limit = self.max_text

        @pass_environment
        def capped_sum(
            environment: Environment, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
        ) -> Any:
            if attribute is not None:
                iterable = map(make_attrgetter(environment, attribute), iterable)
            if not isinstance(start, (list, tuple)):
                return sum(iterable, start)
            total, kind = list(start), type(start)
            for item in iterable:
                if not isinstance(item, kind):
                    raise TypeError(
                        f"the sum filter adds {kind.__name__}s to a {kind.__name__} "
                        f"start, not {type(item).__name__}"
                    )
                if len(total) + len(item) > limit:
                    raise _too_large("the sum filter", len(total) + len(item), limit, "items")
                total.extend(item)
            return total if kind is list else tuple(total)

        return functools.update_wrapper(capped_sum, self.filters["sum"])

    def _capped_lipsum(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def capped(n: Any = 5, html: bool = True, min: Any = 20, max: Any = 100) -> Any:
            # At most `max` words of at most 15 characters per paragraph.
            self._check_size("lipsum", _int(n) * (_int(max) + 1) * 16)
            return function(n, html, min, max)

        # Random text: the text analysis must not share one rendering between deliveries.
        setattr(capped, NONDETERMINISTIC, True)
        return capped


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"a {len(value)}-character string"
    return f"a {len(value)}-item {type(value).__name__}"


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _padded(owner: str, args: tuple[Any, ...]) -> int:
    return max(len(owner), _int(args[0]) if args else 0)


def _expanded(owner: str, args: tuple[Any, ...]) -> int:
    tab = _int(args[0], 8) if args else 8
    return len(owner) + owner.count("\t") * max(0, tab)


def _replaced(owner: str, args: tuple[Any, ...]) -> int:
    if len(args) < 2:
        return len(owner)
    old, new = str(args[0]), str(args[1])
    count = owner.count(old) if old else len(owner) + 1
    if len(args) > 2 and _int(args[2], -1) >= 0:
        count = min(count, _int(args[2]))
    return len(owner) + count * max(0, len(new) - len(old))


def _joined(owner: str, args: tuple[Any, ...]) -> int:
    items = args[0] if args else []
    size = len(owner) * max(0, len(items) - 1)
    for item in items:
        size += len(item) if isinstance(item, str) else text_size(item, MAX_TEMPLATE_TEXT)
        if size > MAX_TEMPLATE_TEXT:
            break  # over any cap already: no need to look at the rest
    return size


def text_size(value: Any, limit: int) -> int:
    """How many characters `str(value)` would have, at least (an upper bound), without
    building it; counting stops past `limit`, returning a number over it. Lists, tuples,
    sets, dicts and namespaces are walked (a value reached again inside itself prints
    as `[...]`); a number's digits come from its bit length."""
    if isinstance(value, str):
        return len(value)
    return _item_size(value, limit, set())


def _item_size(value: Any, limit: int, path: set[int]) -> int:
    """The size of `value` printed inside a container (strings in quotes)."""
    if isinstance(value, str):
        if value.isprintable():
            # Quotes around it, a backslash before each quote and backslash at worst.
            return len(value) + value.count("\\") + value.count("'") + 2
        return len(repr(value))
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return len(str(value))
    if id(value) in path:
        return 5
    path.add(id(value))
    size = 16
    try:
        pairs = value.items() if isinstance(value, dict) else ((None, item) for item in value)
        for key, item in pairs:
            size += 4 + _item_size(item, limit - size, path)
            if key is not None:
                size += _item_size(key, limit - size, path)
            if size > limit:
                break
    finally:
        path.discard(id(value))
    return size


def _percent_size(template: str, values: Any, limit: int) -> int:
    """The most `template % values` can build: the template plus, per conversion, the
    printed size of the value it takes (as `%r`, the larger, and at least its width);
    counting stops past `limit`."""
    size = len(template)
    positional = iter(values if isinstance(values, tuple) else (values,))
    sizes: dict[Any, int] = {}
    for match in _CONVERSION.finditer(template):
        spec = match[0]
        if spec[-1] == "%":
            continue
        if spec.startswith("%(") and isinstance(values, Mapping):
            key: Any = spec[2 : spec.index(")")]
            value = values.get(key)
        else:
            key = value = next(positional, None)
            key = id(value)
        if key not in sizes:
            sizes[key] = _item_size(value, limit, set())
        widths = [int(number) for number in _DIGITS.findall(spec)]
        size += max([sizes[key], *widths])
        if size > limit:
            break
    return size


def _format_size(
    template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int
) -> int:
    """The most `template.format(*args, **kwargs)` can build: the template plus, per
    field, the printed size of the value it names (an attribute or item of it counted
    as the whole value); counting stops past `limit`."""
    size = len(template)
    automatic = 0
    sizes: dict[Any, int] = {}
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return size  # str.format raises on it: nothing is built
    for _, name, _, _ in fields:
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if base == "":
            base, automatic = str(automatic), automatic + 1
        if base not in sizes:
            if base.isdigit():
                value = args[int(base)] if int(base) < len(args) else None
            else:
                value = kwargs.get(base)
            sizes[base] = _item_size(value, limit, set())
        size += sizes[base]
        if size > limit:
            break
    return size


# What each string method could build, from the string and the call's arguments.
_STR_METHODS: dict[str, Callable[[str, tuple[Any, ...]], int]] = {
    "center": _padded,
    "ljust": _padded,
    "rjust": _padded,
    "zfill": _padded,
    "expandtabs": _expanded,
    "replace": _replaced,
    "join": _joined,
}


def _center_size(bound: inspect.BoundArguments) -> int:
    return _padded(str(bound.arguments["value"]), (bound.arguments["width"],))


def _indent_size(bound: inspect.BoundArguments) -> int:
    text = str(bound.arguments["s"])
    width = bound.arguments["width"]
    per_line = len(width) if isinstance(width, str) else _int(width)
    return len(text) + (text.count("\n") + 1) * max(0, per_line)


def _join_size(bound: inspect.BoundArguments) -> int:
    items = bound.arguments["value"]
    separator = str(bound.arguments["d"])
    if bound.arguments.get("attribute") is not None:
        # Items are looked up by attribute; count only what the separator adds.
        return len(separator) * max(0, len(items) - 1)
    return _joined(separator, (items,))


def _replace_size(bound: inspect.BoundArguments) -> int:
    arguments = bound.arguments
    count = arguments.get("count")
    extra = () if count is None else (count,)
    return _replaced(str(arguments["s"]), (arguments["old"], arguments["new"], *extra))


def _pieces_size(bound: inspect.BoundArguments) -> int:
    # batch(n) pads its last piece to n items, slice(n) makes n pieces.
    count = bound.arguments.get("linecount", bound.arguments.get("slices"))
    return _int(count)


def _wordwrap_size(bound: inspect.BoundArguments) -> int:
    text = str(bound.arguments["s"])
    width = max(1, _int(bound.arguments["width"], 79))
    wrapstring = bound.arguments.get("wrapstring") or "\n"
    # Words broken at `width`, plus a break at each space at worst.
    breaks = len(text) // width + text.count(" ") + text.count("\n") + 1
    return len(text) + breaks * len(str(wrapstring))


__all__ = [
    "MAX_TEMPLATE_INT_BITS",
    "MAX_TEMPLATE_SECONDS",
    "MAX_TEMPLATE_STEPS",
    "MAX_TEMPLATE_TEXT",
    "LimitedSandbox",
    "TemplateTooLarge",
    "text_size",
]
