"""The `--max-deliveries` option of the commands that plan (plan, lint, export,
preview, schedule): the most deliveries one run may plan (`socialsched.planning.volume`)."""

from __future__ import annotations

from typing import Any

import click

from socialsched.planning import volume


def _set_limit(ctx: click.Context, param: click.Parameter, value: int) -> int:
    # The limit holds for the whole command: every Planner it makes counts against it.
    volume.set_default_limit(value)
    return value


def max_deliveries_option(function: Any) -> Any:
    """Add `--max-deliveries N` to a command (not passed to the command's function)."""
    return click.option(
        "--max-deliveries",
        type=click.IntRange(1),
        default=volume.DEFAULT_MAX_DELIVERIES,
        show_default=True,
        metavar="N",
        expose_value=False,
        callback=_set_limit,
        help="Stop before planning when the range would hold more than N deliveries "
        "(counted first, so a runaway calendar cannot exhaust memory).",
    )(function)


__all__ = ["max_deliveries_option"]
