"""Options and arguments several commands share, declared once so that they read alike
everywhere, and the parsing of the values they take (dates, ranges, times)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
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


def parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Callback of an option taking a day as YYYY-MM-DD."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def date_range(start: date | None, end: date | None, default_days: int) -> tuple[date, date]:
    """--start and --end with their defaults: today, and `default_days` after the start."""
    start = start or date.today()
    end = end or start + timedelta(days=default_days)
    if end < start:
        raise click.UsageError(f"--end {end} is before --start {start}")
    return start, end


def parse_since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Callback of an option taking a time (UTC unless an offset is given) or an age."""
    if value is None:
        return None
    text = value.strip()
    match = re.fullmatch(r"(\d+)\s*(s|min|m|h|d)", text)
    if match:
        unit = {"s": "seconds", "min": "minutes", "m": "minutes", "h": "hours", "d": "days"}
        return datetime.now(UTC) - timedelta(**{unit[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC unless an "
            "offset is given) or an age such as 2h or 3d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


calendar_argument = click.argument(
    "calendar_file", metavar="CAL", type=click.Path(dir_okay=False, path_type=Path)
)
start_option = click.option(
    "--start", callback=parse_date, metavar="YYYY-MM-DD", help="First local day (default: today)."
)


def end_option(days: int) -> Any:
    return click.option(
        "--end",
        callback=parse_date,
        metavar="YYYY-MM-DD",
        help=f"Last local day, inclusive (default: start + {days} days).",
    )


def log_format_option(help_text: str) -> Any:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default=None,
        help=help_text,
    )


def verbose_option(function: Any) -> Any:
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Libraries' log lines too (APScheduler, httpx, SQLAlchemy...): WARNING and "
        "above only, without it.",
    )(function)


def db_option(function: Any) -> Any:
    return click.option(
        "--db",
        metavar="URL|FILE",
        help="Database: an SQLite file or a SQLAlchemy URL "
        "(default: $SOCIALSCHED_DB, else ./socialsched.db).",
    )(function)


def state_dir_option(function: Any) -> Any:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder of the receipt journal (receipts the network gave, kept until the "
        "database records them). Default: $STATE_DIRECTORY, else socialsched-state/ next "
        "to an SQLite file, else $XDG_STATE_HOME/socialsched.",
    )(function)
