"""Checking command lines written in files (deployment files, CI workflows, docs) with
the `socialsched` command line itself, without running them."""

from __future__ import annotations

import shlex

import click

from socialsched.cli import main

SHELL_OPERATORS = {">", ">>", "<", "|", "&&", "||", ";", "2>", "2>&1", "&"}


def command_names() -> list[str]:
    """The names of socialsched's commands (without importing their modules)."""
    return main.list_commands(click.Context(main))


def command(name: str) -> click.Command:
    """The command `socialsched NAME`, its module imported (the group loads a command
    when first asked for it: see `socialsched.cli.group.Group`)."""
    found = main.get_command(click.Context(main), name)
    assert found is not None, f"no command {name!r}"
    return found


def _unparsed(ctx: click.Context) -> list[str]:
    """What a group's context left for its subcommand: its name, then its arguments
    (Click 8.2 keeps the name in `_protected_args`; 8.1 in `protected_args`)."""
    name = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
    return [*name, *ctx.args]


def resolve(args: list[str]) -> list[str]:
    """Parse `socialsched ARGS` as the CLI would, without running it; returns the
    command path (e.g. ["run"]). Raises click's usage errors."""
    path: list[str] = []
    command: click.Command = main
    ctx = main.make_context("socialsched", list(args))
    while isinstance(command, click.Group):
        rest = _unparsed(ctx)
        assert rest, f"no subcommand in {args}"
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    assert not ctx.args, f"unexpected arguments {ctx.args} in {args}"
    return path


def socialsched_commands(script: str) -> list[list[str]]:
    """The arguments of each `socialsched ...` command in a shell script, up to the
    first redirection or pipe."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] != "socialsched":
            continue
        args = []
        for word in words[1:]:
            if word in SHELL_OPERATORS:
                break
            args.append(word)
        commands.append(args)
    return commands
