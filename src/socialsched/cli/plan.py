"""The commands that plan a calendar without a store: `plan`, `lint`, `export` and
`preview`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import click

from socialsched.planning.calendar_load import load

from .delivery_formats import FORMATS, format_deliveries
from .options import calendar_argument, date_range, end_option, format_option, start_option
from .output import write_file
from .progress import plan_with_progress
from .volume import max_deliveries_option


@click.command("plan")
@max_deliveries_option
@calendar_argument
@start_option
@end_option(30)
@format_option(*FORMATS)
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
    start, end = date_range(start, end, 30)
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
    deliveries = plan_with_progress(
        calendar, start, end, segments=segments or None, channels=channels or None
    )
    for piece in format_deliveries(deliveries, output_format):
        click.echo(piece, nl=False)


@click.command("lint")
@max_deliveries_option
@calendar_argument
@start_option
@end_option(90)
@format_option("text", "json")
@click.option(
    "--db",
    metavar="URL|FILE",
    help="Also report channels whose secrets would go to a destination not approved "
    "in this store (socialsched channels approve).",
)
def lint_command(
    calendar_file: Path,
    start: date | None,
    end: date | None,
    output_format: str,
    db: str | None = None,
) -> None:
    """Report every problem in CAL at once, plus warnings (avoided topics, gaps).

    Exits 1 when there is an error, 0 when there are only warnings."""
    from socialsched.planning.lint import lint

    start, end = date_range(start, end, 90)
    problems = lint(calendar_file, start, end)
    if db is not None:
        from .approve import approval_problems

        problems = [*approval_problems(calendar_file, db), *problems]
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


@click.command("export")
@max_deliveries_option
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
    from socialsched.planning.export import to_ics  # icalendar: only this command

    start, end = date_range(start, end, 30)
    calendar = load(calendar_file)
    deliveries = plan_with_progress(calendar, start, end)
    write_file(ics_file, to_ics(deliveries, calendar.name))
    click.echo(f"wrote {len(deliveries)} events to {ics_file}", err=True)


@click.command("preview")
@max_deliveries_option
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
    from socialsched.planning.preview import render_html

    start, end = date_range(start, end, 13)
    calendar = load(calendar_file)
    deliveries = plan_with_progress(calendar, start, end)
    write_file(html_file, render_html(calendar, deliveries, start, end).encode("utf-8"))
    click.echo(f"wrote {len(deliveries)} deliveries to {html_file}", err=True)
