"""Options several commands share, declared once so that they read alike everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def format_option(*choices: str, help: str | None = None) -> Callable[[Any], Any]:
    """`--format CHOICE` (into `output_format`), the first choice the default."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=help or "Output format.",
    )
