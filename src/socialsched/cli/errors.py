"""How the command line reports what stops a command: socialsched's own errors, click's
usage errors, and (with `--log-format json`) anything unexpected.

In text, an error is one plain line ("error: ..."), a calendar's problems one line each
("file:line: error: message"), usage errors as click shows them. With
`--log-format json` (before or after the command's name), each is a JSON line with
`level` "error" and an `event` (`error`, `calendar_error`, `usage_error`,
`unexpected_error`), so a log collector can parse every line a command writes to
standard error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

from socialsched import failures
from socialsched.errors import CalendarError, SocialschedError
from socialsched.runner import logs

logger = logging.getLogger("socialsched.cli")


def make_context(
    make: Callable[..., click.Context],
    info_name: str | None,
    args: list[str],
    parent: click.Context | None,
    **extra: Any,
) -> click.Context:
    """`make(info_name, args, parent, **extra)` (click's parsing of the top-level
    options); a usage error as a JSON line when the command line asks for JSON."""
    if parent is None:
        # Read before parsing: the parse itself may fail, and must then answer in JSON.
        logs.prefer(logs.requested_format(args) or "text")
    try:
        return make(info_name, args, parent, **extra)
    except click.ClickException as error:
        if logs.current_format() != "json":
            raise
        _usage_error(error)
        raise click.exceptions.Exit(error.exit_code) from None


def invoke(call: Callable[[click.Context], Any], ctx: click.Context) -> Any:
    """`call(ctx)` (the group's invocation of a command) with socialsched's errors
    reported as one line each and exit code 1, never a traceback."""
    try:
        return call(ctx)
    except CalendarError as error:
        # Each problem already reads "file:line: error: message", like a compiler's.
        if logs.current_format() != "json":
            logs.write(str(error))
        for problem in error.problems if logs.current_format() == "json" else ():
            logs.write(
                str(problem),
                level=logging.ERROR if problem.severity == "error" else logging.WARNING,
                event="calendar_error",
                error=problem.message,
                data={
                    "file": None if problem.file is None else str(problem.file),
                    "line": problem.line,
                },
            )
        ctx.exit(1)
    except SocialschedError as error:
        logs.write(f"error: {error}", level=logging.ERROR, event="error", error=str(error))
        ctx.exit(1)
    except click.ClickException as error:
        if logs.current_format() != "json":
            raise
        _usage_error(error)
        ctx.exit(error.exit_code)
    except (click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        if logs.current_format() != "json" or failures.from_input(error):
            if failures.debugging():
                raise
            # Out of memory, too deep, an OS or image error: a message, never a traceback.
            message = failures.describe(error)
            logs.write(f"error: {message}", level=logging.ERROR, event="error", error=message)
            ctx.exit(1)
        # A bug: its traceback goes in the JSON line's `traceback` field.
        logger.error(
            "unexpected error: %s: %s",
            type(error).__name__,
            error,
            exc_info=True,
            extra={"event": "unexpected_error"},
        )
        ctx.exit(1)


def _usage_error(error: click.ClickException) -> None:
    message = error.format_message()
    context = getattr(error, "ctx", None)
    hint = ""
    if isinstance(error, click.UsageError) and context is not None:
        hint = f" (see {context.command_path} --help)"
    logs.write(
        f"error: {message}{hint}",
        level=logging.ERROR,
        event="usage_error",
        error=message,
        data={"exit_code": error.exit_code},
    )


__all__ = ["invoke", "make_context"]
