"""The `socialsched` command line: a thin layer over the Python API."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from . import __version__, plugins
from .errors import CalendarError, SocialschedError
from .export import to_ics
from .lint import lint
from .loader import load
from .model import Delivery
from .planner import Planner
from .preview import render_html

FORMATS = ("table", "json", "jsonl", "csv")


class Group(click.Group):
    """Turns socialsched's own errors into a message and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CalendarError as error:
            # Each problem already reads "file:line: error: message", like a compiler's.
            click.echo(str(error), err=True)
            ctx.exit(1)
        except SocialschedError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)
        finally:
            # A broken plugin is named once, after the command, instead of crashing it.
            for failure in plugins.failures_so_far():
                click.echo(f"warning: {failure}", err=True)


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def _range(start: date | None, end: date | None, default_days: int) -> tuple[date, date]:
    start = start or date.today()
    end = end or start + timedelta(days=default_days)
    if end < start:
        raise click.UsageError(f"--end {end} is before --start {start}")
    return start, end


calendar_argument = click.argument(
    "calendar_file", metavar="CAL", type=click.Path(dir_okay=False, path_type=Path)
)
start_option = click.option(
    "--start", callback=_date, metavar="YYYY-MM-DD", help="First local day (default: today)."
)


def end_option(days: int) -> Any:
    return click.option(
        "--end",
        callback=_date,
        metavar="YYYY-MM-DD",
        help=f"Last local day, inclusive (default: start + {days} days).",
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="socialsched")
def main() -> None:
    """Plan and publish social-media content calendars for many audience segments."""


@main.command("plan")
@calendar_argument
@start_option
@end_option(30)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--segment", "segments", multiple=True, metavar="NAME", help="Only this segment (repeatable)."
)
@click.option(
    "--channel", "channels", multiple=True, metavar="NAME", help="Only this channel (repeatable)."
)
def plan_command(
    calendar_file: Path,
    start: date | None,
    end: date | None,
    output_format: str,
    segments: Sequence[str],
    channels: Sequence[str],
) -> None:
    """Show every delivery of CAL between --start and --end."""
    start, end = _range(start, end, 30)
    calendar = load(calendar_file)
    for option, names, known in (
        ("--segment", segments, {s.name for s in calendar.segments}),
        ("--channel", channels, {c.name for c in calendar.channels}),
    ):
        for name in names:
            if name not in known:
                raise click.BadParameter(
                    f"unknown {option[2:]} {name!r} (known: {', '.join(sorted(known))})",
                    param_hint=option,
                )
    deliveries = Planner(calendar).plan(
        start, end, segments=segments or None, channels=channels or None
    )
    click.echo(format_deliveries(deliveries, output_format), nl=False)


def format_deliveries(deliveries: Sequence[Delivery], output_format: str) -> str:
    """Deliveries as a table, JSON array, JSON lines or CSV."""
    rows = [d.to_dict() for d in deliveries]
    if output_format == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    if output_format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    columns = [
        "id",
        "post",
        "segment",
        "channel",
        "utc",
        "local",
        "holiday",
        "shifted_from",
        "reason",
        "text",
    ]
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    return _table(deliveries)


def _table(deliveries: Sequence[Delivery]) -> str:
    if not deliveries:
        return "no deliveries in this range\n"
    header = ("UTC", "LOCAL", "SEGMENT", "CHANNEL", "POST", "NOTE", "TEXT")
    rows = []
    for d in deliveries:
        note = ""
        if d.reason and d.shifted_from:
            note = f"moved ({d.reason}) from {d.shifted_from:%m-%d %H:%M}"
        elif d.holiday:
            note = f"holiday: {d.holiday}"
        rows.append(
            (
                f"{d.utc:%Y-%m-%d %H:%M}",
                f"{d.local:%Y-%m-%d %H:%M %z}",
                d.segment,
                d.channel,
                d.post,
                note,
                (d.text or "").replace("\n", " "),
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    terminal = shutil.get_terminal_size((160, 24)).columns
    text_width = max(20, terminal - sum(widths) - 2 * len(widths))
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)]
        text = row[-1] if len(row[-1]) <= text_width else row[-1][: text_width - 1] + "…"
        lines.append("  ".join([*cells, text]).rstrip())
    lines.append(f"\n{len(deliveries)} deliveries")
    return "\n".join(lines) + "\n"


@main.command("lint")
@calendar_argument
@start_option
@end_option(90)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def lint_command(
    calendar_file: Path, start: date | None, end: date | None, output_format: str
) -> None:
    """Report every problem in CAL at once, plus warnings (avoided topics, gaps).

    Exits 1 when there is an error, 0 when there are only warnings."""
    start, end = _range(start, end, 90)
    problems = lint(calendar_file, start, end)
    errors = sum(p.severity == "error" for p in problems)
    if output_format == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "severity": p.severity,
                        "message": p.message,
                        "file": str(p.file) if p.file else None,
                        "line": p.line,
                        "where": p.where,
                    }
                    for p in problems
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for problem in problems:
            click.echo(str(problem), err=problem.severity == "error")
        warnings = len(problems) - errors
        if problems:
            click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(1 if errors else 0)


@main.command("export")
@calendar_argument
@start_option
@end_option(30)
@click.option(
    "--ics",
    "ics_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write an iCalendar file here.",
)
def export_command(
    calendar_file: Path, start: date | None, end: date | None, ics_file: Path
) -> None:
    """Write the plan of CAL as an iCalendar (.ics) file."""
    start, end = _range(start, end, 30)
    calendar = load(calendar_file)
    deliveries = Planner(calendar).plan(start, end)
    try:
        ics_file.write_bytes(to_ics(deliveries, calendar.name))
    except OSError as error:
        raise click.FileError(str(ics_file), hint=error.strerror) from None
    click.echo(f"wrote {len(deliveries)} events to {ics_file}", err=True)


# ---- plugin commands (adapters list) go below this line ----


@main.group("adapters")
def adapters_group() -> None:
    """Network adapters: built-in and from installed plugins."""


@adapters_group.command("list")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def adapters_list_command(output_format: str) -> None:
    """Show every installed adapter, the package it comes from and its capabilities."""
    found = plugins.adapters()
    if output_format == "json":
        rows = [
            {
                "name": info.name,
                "package": info.package,
                "plugin": info.plugin,
                "capabilities": plugins.describe_capabilities(info.capabilities),
            }
            for info in sorted(found.values(), key=lambda info: info.name)
        ]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [("NAME", "PACKAGE", "CAPABILITIES")]
    for info in sorted(found.values(), key=lambda info: info.name):
        table.append((info.name, info.package, _capabilities_text(info.capabilities)))
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    for row in table:
        click.echo(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}".rstrip())


def _capabilities_text(capabilities: Any) -> str:
    limit = capabilities.max_length
    parts = [f"max {limit} chars" if limit is not None else "no length limit"]
    audiences = ", ".join(capabilities.audiences) or "none"
    parts.append(f"audiences: {audiences}")
    for flag in ("media", "native_scheduling", "delete", "idempotent"):
        if getattr(capabilities, flag):
            parts.append(flag.replace("_", " "))
    return "; ".join(parts)


# ---- store and runner commands (schedule, run, status, log, pause, ...) go below this line ----


# ---- docs commands (preview) go below this line ----


@main.command("preview")
@calendar_argument
@start_option
@end_option(13)
@click.option(
    "--html",
    "html_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the self-contained HTML page here.",
)
def preview_command(
    calendar_file: Path, start: date | None, end: date | None, html_file: Path
) -> None:
    """Write the plan of CAL as an HTML calendar grid (one row per segment, one column
    per day), viewable offline."""
    start, end = _range(start, end, 13)
    calendar = load(calendar_file)
    deliveries = Planner(calendar).plan(start, end)
    try:
        html_file.write_text(render_html(calendar, deliveries, start, end), encoding="utf-8")
    except OSError as error:
        raise click.FileError(str(html_file), hint=error.strerror) from None
    click.echo(f"wrote {len(deliveries)} deliveries to {html_file}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
