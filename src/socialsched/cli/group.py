"""The `socialsched` click group, `main`: its global options, and how it reports errors.

The commands are added to it by `socialsched.cli` (the package's `__init__`), so that
the modules defining them import this one and never the package back."""

from __future__ import annotations

import logging
from typing import Any

import click

from socialsched.adapters import plugins
from socialsched.version import __version__

from .errors import invoke as invoke_reporting_errors
from .errors import make_context as make_context_reporting_errors
from .options import log_format_option, verbose_option


class Group(click.Group):
    """Turns socialsched's own errors into a message and exit code 1, not a traceback;
    with `--log-format json`, every error (click's usage errors too) as a JSON line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return make_context_reporting_errors(super().make_context, info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        # A broken plugin is named once, when found, instead of crashing the command.
        previous = plugins.set_failure_reporter(_warn_plugin_failure)
        try:
            return invoke_reporting_errors(super().invoke, ctx)
        finally:
            plugins.set_failure_reporter(previous)


def _warn_plugin_failure(failure: plugins.PluginFailure) -> None:
    from socialsched.runner.logs import write

    write(f"warning: {failure}", level=logging.WARNING, event="plugin_failure")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="socialsched")
@log_format_option(
    "How log lines on standard error look: text (default), or json, one object per "
    "line (time, level, worker, delivery, channel, event, error) for log collectors."
)
@verbose_option
@click.pass_context
def main(ctx: click.Context, log_format: str | None, verbose: bool) -> None:
    """Plan and publish social-media content calendars for many audience segments."""
    from socialsched.runner import logs

    ctx.obj = {"log_format": log_format or "text", "verbose": verbose}
    # current_format: a command's own --log-format json, read off the command line, so
    # that an error parsing that command's options is a JSON line too.
    logs.configure(log_format or logs.current_format(), level=logging.WARNING, verbose=verbose)
