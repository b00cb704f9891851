"""`socialsched report` and `socialsched suggest-times`: what each market answered,
and when it listens.

Added to `socialsched.cli.main` by the package; a thin layer over
`socialsched.analytics.reports`, `.report_html` and `.best_times`, fed by
`socialsched.analytics.observations.observations_from_store`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from socialsched.analytics import best_times, reports

from .options import db_option, format_option, parse_since
from .output import write_file
from .stores import open_store

if TYPE_CHECKING:
    from socialsched.analytics.reports import Observation


def _moment(end: bool) -> Any:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
        if value is None or len(value.strip()) != 10:
            # A time, or an age ("30d": that long ago), as `log` and `collect` take them.
            return parse_since(ctx, param, value)
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None
        # A day is a whole UTC day: --until's is included.
        return datetime.combine(day + timedelta(days=end), time(), tzinfo=UTC)

    return parse


def _range_options(function: Any) -> Any:
    function = click.option(
        "--until",
        callback=_moment(end=True),
        metavar="WHEN",
        help="Only deliveries that went out before then: a date (UTC, included), "
        "YYYY-MM-DDTHH:MM (UTC unless an offset is given) or an age such as 7d.",
    )(function)
    return click.option(
        "--since",
        callback=_moment(end=False),
        metavar="WHEN",
        help="Only deliveries that went out since then: YYYY-MM-DD (from its start, UTC), "
        "YYYY-MM-DDTHH:MM (UTC unless an offset is given) or an age such as 30d.",
    )(function)


def _observations(
    db: str | None, since: datetime | None, until: datetime | None
) -> list[Observation]:
    if since is not None and until is not None and until <= since:
        raise click.UsageError(
            f"--until {until.isoformat()} is not after --since {since.isoformat()}"
        )
    from socialsched.analytics.observations import observations_from_store  # the store

    with open_store(db) as store:
        found = observations_from_store(store, since, until)
        if not found:
            if (since is None and until is None) or not store.engagement_facts():
                click.echo(
                    "no engagement recorded in this store yet "
                    "(run `socialsched collect` after publishing)",
                    err=True,
                )
            else:
                click.echo("no engagement recorded for deliveries in this time range", err=True)
    return found


@click.command("report")
@click.option(
    "--by",
    "by",
    multiple=True,
    type=click.Choice(reports.BY),
    help="Group by this key; repeat to group by several at once (their combination). "
    "local_hour and weekday are in each segment's own time zone; a delivery with several "
    "tags counts in each tag's group.",
)
@_range_options
@format_option(
    "table", "json", "csv", help="table: aligned columns; json: one object per group; csv."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML page: a bar chart per market, a local-hour x "
    "week-day heatmap per segment.",
)
@db_option
def report_command(
    by: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    output_format: str,
    html_file: Path | None,
    db: str | None,
) -> None:
    """Engagement per group of published deliveries, from the latest snapshot the store
    recorded for each: deliveries, and the sum and median of each count (a count no
    delivery of a group has is shown as null / empty / "-")."""
    if not by and html_file is None:
        raise click.UsageError(f"give --by (one of: {', '.join(reports.BY)}) or --html")
    try:
        names = reports.check_by(by) if by else ()
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    observations = _observations(db, since, until)
    if html_file is not None:
        from socialsched.analytics.report_html import render_report_html

        write_file(html_file, render_report_html(observations).encode("utf-8"))
        click.echo(f"wrote {len(observations)} deliveries to {html_file}", err=True)
    if not names:
        return
    groups = reports.report(observations, names)
    if output_format == "json":
        click.echo(reports.to_json(groups))
    elif output_format == "csv":
        click.echo(reports.to_csv(groups, names), nl=False)
    elif groups:
        click.echo(reports.to_table(groups, names))


@click.command("suggest-times")
@click.argument("segments", metavar="SEGMENT...", nargs=-1, required=True)
@click.option("--channel", metavar="NAME", help="Only deliveries on this channel.")
@format_option(
    "text",
    "json",
    "toml",
    help="toml: [[queue]] tables (one per segment, `best-SEGMENT`) for the calendar.",
)
@click.option(
    "--min-samples",
    type=click.IntRange(min=1),
    default=best_times.DEFAULT_MIN_SAMPLES,
    show_default=True,
    help="Fewest deliveries with a score behind a proposed hour.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=best_times.DEFAULT_TOP,
    show_default=True,
    help="Most hours proposed per segment.",
)
@_range_options
@db_option
def suggest_times_command(
    segments: tuple[str, ...],
    channel: str | None,
    output_format: str,
    min_samples: int,
    top: int,
    since: datetime | None,
    until: datetime | None,
    db: str | None,
) -> None:
    """Propose each SEGMENT's local posting hours with the highest median engagement
    (likes + reposts + replies + quotes, those the network gives), with the number of
    deliveries behind each. Where no hour has --min-samples deliveries, nothing is
    proposed, and it says so."""
    observations = _observations(db, since, until)
    found = best_times.suggest(
        observations,
        list(dict.fromkeys(segments)),
        channel=channel,
        min_samples=min_samples,
        top=top,
    )
    if output_format == "json":
        click.echo(best_times.to_json(found))
    elif output_format == "toml":
        click.echo(best_times.to_toml(found), nl=False)
    else:
        click.echo(best_times.to_text(found))


__all__ = ["report_command", "suggest_times_command"]
