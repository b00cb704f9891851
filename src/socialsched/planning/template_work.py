"""A bound on the work of one rendering, so a calendar's template always stops.

Size caps (`socialsched.planning.template_limits`) stop a template from building a huge value
in one step, but not from taking many small steps: three nested `range(100000)` loops
never end. Each rendering gets a `WorkBudget`: every loop iteration, call (functions,
methods, macros, `caller()`, a recursive `loop(...)`) and include or import counts one
step, and a rendering past `MAX_TEMPLATE_STEPS` steps or `MAX_TEMPLATE_SECONDS`
seconds stops with a `TemplateTooLarge`. The step count is what makes a refusal the
same on every machine; the clock only backs it up for single steps that are slow.

Text written into a buffer (a macro's, `{% set %}` block's or `{% filter %}`
block's output, which Jinja joins with a plain `"".join`) goes through a
`CappedBuffer`, so that a loop cannot collect more than the size cap there either.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.sandbox import SecurityError

#: The most loop iterations, calls and includes one rendering may take. Post templates
#: take a few dozen; two nested loops over 1,000 items already take a million.
MAX_TEMPLATE_STEPS = 100_000
#: The most seconds one rendering may take (checked every few steps).
MAX_TEMPLATE_SECONDS = 10.0

# The clock is read once every this many steps: reading it is dearer than counting.
_CLOCK_EVERY = 256


class TemplateTooLarge(SecurityError):
    """A template asked for a string, list or number over the cap, or for more work
    than one rendering may take."""


class WorkBudget:
    """The steps and time left to one rendering."""

    __slots__ = ("deadline", "max_seconds", "max_steps", "steps")

    def __init__(self, max_steps: int, max_seconds: float) -> None:
        self.steps = 0
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        # Set when the clock is first read (after `_CLOCK_EVERY` steps): most renderings
        # never get there, and reading the clock for each would cost them.
        self.deadline: float | None = None

    def step(self, what: str) -> None:
        """Count one step of `what` (for the message), refusing past the budget."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise TemplateTooLarge(
                f"{what} took the rendering past {self.max_steps} steps (loop iterations, "
                "calls and includes; templates may take at most that many)"
            )
        if not self.steps % _CLOCK_EVERY and self._past_deadline():
            raise TemplateTooLarge(
                f"the rendering took more than {self.max_seconds:g} seconds "
                "(templates may take at most that long)"
            )

    def _past_deadline(self) -> bool:
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.max_seconds
        return now > self.deadline

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """The items of a template loop, each counted as a step."""
        for item in iterable:
            self.step("a loop")
            yield item


# The budget of the rendering under way in this thread or task, if any.
_CURRENT: contextvars.ContextVar[WorkBudget | None] = contextvars.ContextVar(
    "socialsched_template_budget", default=None
)


def current_budget() -> WorkBudget | None:
    """The budget of the rendering under way, None outside one."""
    return _CURRENT.get()


@contextlib.contextmanager
def rendering(max_steps: int, max_seconds: float) -> Iterator[WorkBudget]:
    """A fresh budget for one rendering; a rendering started inside another (a plugin
    global rendering a template) shares the outer one."""
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    budget = WorkBudget(max_steps, max_seconds)
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


class CappedBuffer(list[str]):
    """A template's output buffer that refuses to hold more than `limit` characters."""

    __slots__ = ("length", "limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.length = 0

    def append(self, piece: str) -> None:
        self._grow(len(piece))
        super().append(piece)

    def extend(self, pieces: Iterable[str]) -> None:
        pieces = tuple(pieces)
        self._grow(sum(len(piece) for piece in pieces))
        super().extend(pieces)

    def _grow(self, size: int) -> None:
        self.length += size
        if self.length > self.limit:
            raise TemplateTooLarge(
                f"a macro, call or block would build more than {self.limit} characters "
                f"(templates may build at most {self.limit})"
            )


def _is_budgeted(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name == "budgeted"
    )


def budget_loops(template: nodes.Template) -> nodes.Template:
    """`template` with every loop's iterable read through `environment.budgeted(...)`
    (Jinja has no custom nodes: the call is an ordinary one), once."""
    for loop in template.find_all(nodes.For):
        if not _is_budgeted(loop.iter):
            lineno = loop.iter.lineno
            function = nodes.EnvironmentAttribute("budgeted", lineno=lineno)
            loop.iter = nodes.Call(function, [loop.iter], [], None, None, lineno=lineno)
    return template


class WorkCodeGenerator(CodeGenerator):
    """Compiles output buffers as `CappedBuffer`s (see the module's docstring)."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.text_buffer()")


class BudgetedTemplate(Template):
    """A template whose every rendering runs under a `WorkBudget` of its environment's
    `max_steps` and `max_seconds`."""

    # The budget is set and reset by hand: a context manager costs a rendering of a
    # short post several times what setting the variable does.

    def render(self, *args: Any, **kwargs: Any) -> str:
        if _CURRENT.get() is not None:  # inside another rendering: its budget
            return super().render(*args, **kwargs)
        environment: Any = self.environment
        token = _CURRENT.set(WorkBudget(environment.max_steps, environment.max_seconds))
        try:
            return super().render(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        # Jinja's own `generate` (synchronous), inlined: one generator less per rendering.
        return self.generate_in(self.new_context(dict(*args, **kwargs)))

    def generate_in(self, context: Any) -> Iterator[str]:
        """`generate` in a context already made (`new_context`, e.g. with `shared=True`
        over a dict holding the template's globals and the variables: Jinja's own
        `new_context` copies the globals on every rendering), under a work budget."""
        environment: Any = self.environment
        token = None
        if _CURRENT.get() is None:
            token = _CURRENT.set(WorkBudget(environment.max_steps, environment.max_seconds))
        try:
            try:
                yield from self.root_render_func(context)
            except Exception:
                yield environment.handle_exception()
        finally:
            if token is not None:
                _CURRENT.reset(token)


def where_in_template(label: str, filename: str | None, traceback: TracebackType | None) -> str:
    """`label:line` of the template line an error was raised at (`label` naming the
    template rendered, whose file is `filename`; None for an inline template); an
    included template's own `file:line` when the error was raised there."""
    found: tuple[str, int] | None = None
    while traceback is not None:
        # Jinja rewrites a template's frames to point at the template's lines.
        if "__jinja_exception__" in traceback.tb_frame.f_globals:
            found = traceback.tb_frame.f_code.co_filename, traceback.tb_lineno
        traceback = traceback.tb_next
    if found is None:
        return label
    file, line = found
    if file in (filename, "<template>"):
        return f"{label}:{line}"
    return f"{file}:{line} (included from {label})"


__all__ = [
    "MAX_TEMPLATE_SECONDS",
    "MAX_TEMPLATE_STEPS",
    "BudgetedTemplate",
    "CappedBuffer",
    "TemplateTooLarge",
    "WorkBudget",
    "current_budget",
    "rendering",
    "where_in_template",
]
