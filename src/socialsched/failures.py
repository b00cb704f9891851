"""Plain messages for failures that are not socialsched's own errors, so that no input
(a calendar, a media file, a database) ever ends a command with a traceback.

`describe` turns an exception the command line did not expect (out of memory, a
recursion too deep, an operating-system error, an image library's or TOML parser's
error) into one sentence saying what happened and what to do; `toml_problem` turns
what Python's TOML parser raises besides `TOMLDecodeError` into a calendar problem
with the line it is about. Setting `SOCIALSCHED_DEBUG=1` makes the command line
re-raise instead, for a developer who wants the traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import Problem

#: Set to 1 to get the traceback of an unexpected error instead of a message.
DEBUG_VARIABLE = "SOCIALSCHED_DEBUG"

# A number longer than Python converts from text (sys.get_int_max_str_digits()).
_LONG_NUMBER = re.compile(r"[0-9_]{4000,}")


def debugging() -> bool:
    """Whether the operator asked for tracebacks (`SOCIALSCHED_DEBUG=1`)."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def from_input(error: BaseException) -> bool:
    """Whether `error` is one that input can cause (out of memory, too deep, an OS,
    image or TOML error) rather than a bug: reported as a message even in JSON logs."""
    module = type(error).__module__.split(".")[0]
    return isinstance(error, (MemoryError, RecursionError, OSError)) or module in ("PIL", "tomllib")


def describe(error: BaseException) -> str:
    """One sentence for an unexpected `error`, naming its kind and what to do."""
    if isinstance(error, MemoryError):
        return (
            "out of memory: the command needed more memory than the machine allows "
            "(a calendar planning too many deliveries, or a media file or template too "
            "large); try a shorter range (--end) or smaller media"
        )
    if isinstance(error, RecursionError):
        return (
            "input nested too deeply (arrays, tables or templates nested thousands of "
            "levels): simplify it"
        )
    module = type(error).__module__.split(".")[0]
    if module == "PIL":  # before OSError: some of Pillow's errors are OSErrors
        return f"image error: {error}"
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        reason = error.strerror or str(error) or type(error).__name__
        return f"operating-system error{where}: {reason}"
    if module == "tomllib":
        return f"invalid TOML: {error}"
    text = str(error)
    return (
        f"unexpected {type(error).__name__}{': ' + text if text else ''} (set "
        f"{DEBUG_VARIABLE}=1 for the traceback and report it as a bug)"
    )


def toml_problem(error: Exception, text: str, path: Path) -> Problem:
    """The calendar problem for what `tomllib.loads(text)` raised other than
    `TOMLDecodeError`: nesting too deep (RecursionError) or a number too long for
    Python (ValueError), with the line when it can be found."""
    if isinstance(error, RecursionError):
        line = _deepest_line(text)
        message = (
            "invalid TOML: arrays or tables nested too deeply (more than a few hundred "
            "levels); a calendar never needs that"
        )
    else:
        found = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        message = f"invalid TOML: a number too long ({error})"
    return Problem(message, file=path, line=line)


def _deepest_line(text: str) -> int | None:
    """The line where bracket nesting is deepest (where a parser runs out of stack)."""
    depth = deepest = 0
    line = best = 1
    for character in text:
        if character in "[{":
            depth += 1
            if depth > deepest:
                deepest, best = depth, line
        elif character in "]}":
            depth = max(0, depth - 1)
        elif character == "\n":
            line += 1
    return best if deepest else None


__all__ = ["DEBUG_VARIABLE", "debugging", "describe", "from_input", "toml_problem"]
