"""The `socialsched` click group, `main`: its global options, how it reports errors,
and how it loads its commands.

The commands are added to it by `socialsched.cli` (the package's `__init__`), by name
and "module:attribute", and each module is imported only when its command runs or its
help is shown: a command loads what it uses (`socialsched plan` no SQLAlchemy), and
`socialsched --version` almost nothing. The modules defining commands import this one
and never the package back."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

import click

from socialsched.version import __version__

from .errors import invoke as invoke_reporting_errors
from .errors import make_context as make_context_reporting_errors
from .options import log_format_option, verbose_option

if TYPE_CHECKING:
    from socialsched.adapters import plugins


class Group(click.Group):
    """Turns socialsched's own errors into a message and exit code 1, not a traceback;
    with `--log-format json`, every error (click's usage errors too) as a JSON line.

    Its commands are loaded when first asked for (click's lazy group: `list_commands`
    names them without importing, `get_command` imports one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, where: str) -> None:
        """Add the command `name`, the click command at `where` ("module:attribute"),
        imported when first asked for."""
        self.lazy_commands[name] = where

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            # click suggests a close name ("Did you mean 'status'?") among the commands
            # loaded: load them all and ask again (a mistyped command is rare).
            for name in self.lazy_commands:
                self.get_command(ctx, name)
            return super().resolve_command(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return make_context_reporting_errors(super().make_context, info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        from socialsched.adapters import plugins

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
