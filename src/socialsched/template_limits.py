"""Caps on what a template can build, so a calendar cannot exhaust the machine.

Jinja's sandbox stops templates from reaching outside, but not from asking for a
300-million-character string (`{{ 'x' * 300000000 }}`) or doubling one in a loop. The
`LimitedSandbox` checks, before it is built, the size of every string or list that
`*`, `+`, `~`, `%`, `str.format`, the string methods and filters that can multiply
text (`center`, `ljust`, `rjust`, `zfill`, `expandtabs`, `replace`, `join`,
`indent`, `wordwrap`, `format`) and `list.extend` would make, and the bit length of
numbers made by `*` and `**`; `Renderer` also stops a rendering whose output passes
the cap. Each refusal is a `TemplateTooLarge` saying what would have been built.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

#: The most characters (or list items) a template may build or render. Posts are far
#: shorter; this only stops runaway templates.
MAX_TEMPLATE_TEXT = 100_000
#: The largest whole number a template may build, in bits (about 30,000 digits).
MAX_TEMPLATE_INT_BITS = 100_000

_SIZED = (str, list, tuple)
# %-format conversions: the width and precision may be numbers or "*" (taken from args).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class TemplateTooLarge(SecurityError):
    """A template asked for a string, list or number over the cap."""


def _too_large(what: str, size: int, limit: int, unit: str = "characters") -> TemplateTooLarge:
    return TemplateTooLarge(
        f"{what} would build {size} {unit} (templates may build at most {limit})"
    )


class _LimitedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a checked join instead of Jinja's plain one."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class LimitedSandbox(SandboxedEnvironment):
    """A `SandboxedEnvironment` that refuses to build text, lists or numbers over
    `max_text` characters (items) or `max_int_bits` bits."""

    intercepted_binops = frozenset({"*", "+", "**", "%"})
    code_generator_class = _LimitedCodeGenerator
    max_text = MAX_TEMPLATE_TEXT
    max_int_bits = MAX_TEMPLATE_INT_BITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
        return super().call_binop(context, operator, left, right)

    def concat(self, parts: Iterable[Any]) -> str:
        """`a ~ b ~ ...`: the parts joined as text, refused when over the cap."""
        texts = [str(part) for part in parts]
        self._check_size("joining with ~", sum(len(text) for text in texts))
        return "".join(texts)

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
            result = wrapped(*args, **kwargs)
            self._check_size("str.format", len(result))
            return result

        return functools.update_wrapper(checked, value)

    # ---- calls and filters ----

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
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
            self._check_size(f"the {name} filter", estimate(bound))
            return function(*bound.args, **bound.kwargs)

        return capped

    def _checked_format_filter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
            self._check_percent_format(str(value), args or kwargs)
            return function(value, *args, **kwargs)

        return checked


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
    return sum(len(str(item)) for item in items) + len(owner) * max(0, len(items) - 1)


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


def _wordwrap_size(bound: inspect.BoundArguments) -> int:
    text = str(bound.arguments["s"])
    width = max(1, _int(bound.arguments["width"], 79))
    wrapstring = bound.arguments.get("wrapstring") or "\n"
    # Words broken at `width`, plus a break at each space at worst.
    breaks = len(text) // width + text.count(" ") + text.count("\n") + 1
    return len(text) + breaks * len(str(wrapstring))


__all__ = [
    "MAX_TEMPLATE_INT_BITS",
    "MAX_TEMPLATE_TEXT",
    "LimitedSandbox",
    "TemplateTooLarge",
]
