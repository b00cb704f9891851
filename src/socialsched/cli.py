"""The `socialsched` command line: a thin layer over the Python API."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import click

from . import __version__, plugins
from .cli_options import format_option
from .cli_volume import max_deliveries_option
from .errors import SocialschedError
from .export import to_ics
from .lint import lint
from .loader import load
from .media import MediaCache
from .model import Calendar, Delivery
from .planner import CHUNK_DAYS, PlanChunk, Planner
from .plans import Plan
from .preview import render_html

FORMATS = ("table", "json", "jsonl", "csv")


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
        from . import cli_errors

        return cli_errors.make_context(super().make_context, info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        from . import cli_errors

        # A broken plugin is named once, when found, instead of crashing the command.
        previous = plugins.set_failure_reporter(_warn_plugin_failure)
        try:
            return cli_errors.invoke(super().invoke, ctx)
        finally:
            plugins.set_failure_reporter(previous)


def _warn_plugin_failure(failure: plugins.PluginFailure) -> None:
    from .logs import write

    write(f"warning: {failure}", level=logging.WARNING, event="plugin_failure")


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


def _plan(
    calendar: Calendar,
    start: date,
    end: date,
    media_cache: MediaCache | None = None,
    **options: Any,
) -> Plan:
    """Plan with a progress bar on standard error when it is a terminal (quiet otherwise).

    `media_cache` keeps media read and fitted (see `socialsched.media.MediaCache`)."""
    planner = Planner(calendar, media_cache=media_cache)
    if not sys.stderr.isatty():
        return planner.plan(start, end, **options)
    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="planning", file=sys.stderr))
        bars[0].update(1)

    try:
        return planner.plan(start, end, progress=progress, **options)
    finally:
        if bars:
            bars[0].render_finish()


def _chunk_progress(chunks: Iterator[PlanChunk], start: date, end: date) -> Iterator[PlanChunk]:
    """`chunks` with a progress bar on standard error when it is a terminal and the
    range takes more than one chunk (quiet otherwise)."""
    total = (end - start).days + 1  # in days: chunks are sized by what they hold
    if total <= CHUNK_DAYS or not sys.stderr.isatty():
        yield from chunks
        return
    with click.progressbar(length=total, label="scheduling", file=sys.stderr) as bar:
        for chunk in chunks:
            yield chunk
            bar.update((chunk.end - chunk.start).days + 1)


def _write_file(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as error:
        raise click.FileError(str(path), hint=error.strerror) from None


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


def _log_format_option(help_text: str) -> Any:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default=None,
        help=help_text,
    )


def _verbose_option(function: Any) -> Any:
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Libraries' log lines too (APScheduler, httpx, SQLAlchemy...): WARNING and "
        "above only, without it.",
    )(function)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="socialsched")
@_log_format_option(
    "How log lines on standard error look: text (default), or json, one object per "
    "line (time, level, worker, delivery, channel, event, error) for log collectors."
)
@_verbose_option
@click.pass_context
def main(ctx: click.Context, log_format: str | None, verbose: bool) -> None:
    """Plan and publish social-media content calendars for many audience segments."""
    from . import logs

    ctx.obj = {"log_format": log_format or "text", "verbose": verbose}
    # current_format: a command's own --log-format json, read off the command line, so
    # that an error parsing that command's options is a JSON line too.
    logs.configure(log_format or logs.current_format(), level=logging.WARNING, verbose=verbose)


@main.command("plan")
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
    deliveries = _plan(calendar, start, end, segments=segments or None, channels=channels or None)
    for piece in format_deliveries(deliveries, output_format):
        click.echo(piece, nl=False)


def format_deliveries(deliveries: Sequence[Delivery], output_format: str) -> Iterator[str]:
    """Deliveries as a table, JSON array, JSON lines or CSV, in pieces to write one
    after another: a `Plan` is read from its columns as it is written, so the whole
    output is never held at once (but for the table, which aligns its columns)."""
    if output_format == "table":
        yield _table(deliveries)
        return
    rows: Iterator[dict[str, Any]] = (
        deliveries.dicts()
        if isinstance(deliveries, Plan)
        else (delivery.to_dict() for delivery in deliveries)
    )
    if output_format == "json":
        pieces = _json_array(rows)
    elif output_format == "jsonl":
        pieces = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        pieces = _csv_lines(rows, _has_media(deliveries))
    # Written a batch of rows at a time: one write per row costs more than the rows.
    while batch := list(itertools.islice(pieces, 1024)):
        yield "".join(batch)


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    """What `json.dumps(list(rows), indent=2)` writes, one row at a time."""
    opening = "[\n  "
    for row in rows:
        # A JSON string holds no raw newline: every newline starts an indented line.
        yield opening + json.dumps(row, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        opening = ",\n  "
    yield "[]\n" if opening == "[\n  " else "\n]\n"


_CSV_COLUMNS = [
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


def _csv_lines(rows: Iterator[dict[str, Any]], media: bool) -> Iterator[str]:
    # A media column only when some delivery has media: the columns of a plan without
    # media stay as they always were.
    columns = [*_CSV_COLUMNS, "media"] if media else _CSV_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        if media:
            row["media"] = "; ".join(item["source"] for item in row.get("media", ()))
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _has_media(deliveries: Sequence[Delivery]) -> bool:
    if isinstance(deliveries, Plan):
        return any(route.media is not None and any(route.media) for route in deliveries.routes)
    return any(delivery.media for delivery in deliveries)


def _rich_marker(delivery: Delivery) -> str:
    """ "[1 image] [3 parts] " for a delivery with media or thread parts, else ""."""
    marks = []
    for kind in ("image", "video"):
        count = sum(1 for media in delivery.media if media.kind == kind)
        if count:
            marks.append(f"{count} {kind}{'s' if count > 1 else ''}")
    if delivery.parts:
        marks.append(f"{len(delivery.parts)} parts")
    return "".join(f"[{mark}] " for mark in marks)


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
                _rich_marker(d) + (d.text or "").replace("\n", " "),
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
    start, end = _range(start, end, 90)
    problems = lint(calendar_file, start, end)
    if db is not None:
        from .cli_approve import approval_problems

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


@main.command("export")
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
    start, end = _range(start, end, 30)
    calendar = load(calendar_file)
    deliveries = _plan(calendar, start, end)
    _write_file(ics_file, to_ics(deliveries, calendar.name))
    click.echo(f"wrote {len(deliveries)} events to {ics_file}", err=True)


# ---- plugins: adapters list ----


@main.group("adapters")
def adapters_group() -> None:
    """Network adapters: built-in and from installed plugins."""


@adapters_group.command("list")
@format_option("table", "json")
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
    for kind, limits in (("image", capabilities.images), ("video", capabilities.videos)):
        if limits.max_count:
            parts.append(f"{kind}s: up to {limits.max_count}")
    for flag in ("threads", "native_scheduling", "delete", "idempotent"):
        if getattr(capabilities, flag):
            parts.append(flag.replace("_", " "))
    return "; ".join(parts)


# ---- channels check: the preflight ----


@main.group("channels")
def channels_group() -> None:
    """The channels of a calendar or of the store."""


@channels_group.command("check")
@click.argument(
    "calendar_file",
    metavar="[CAL]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--db",
    metavar="URL|FILE",
    help="Without CAL: check the channels of what is scheduled in this store. Either "
    "way, the store whose approved destinations apply (default: $SOCIALSCHED_DB, else "
    "./socialsched.db).",
)
@format_option("text", "json")
def channels_check_command(calendar_file: Path | None, db: str | None, output_format: str) -> None:
    """Ask each channel's network whether its credentials work, posting nothing:
    ok, missing secret (which variable), rejected credentials, unreachable, not
    checkable or broken. Exits 1 when any channel fails (not checkable is no failure)."""
    from .preflight import OUTCOMES, check_channels

    if calendar_file is not None:
        from .cli_approve import stored_approvals

        # Nothing goes to a destination the operator has not approved, not even a check.
        checks = check_channels(load(calendar_file), approvals=stored_approvals(db))
    else:
        with _open_store(db) as store:
            checks = check_channels(store.channels(), approvals=store.approvals())
    if output_format == "json":
        _echo_json([check.to_dict() for check in checks])
    else:
        several = len({check.calendar for check in checks}) > 1
        rows = [("CHANNEL", "ADAPTER", "RESULT", "DETAIL")] + [
            (
                f"{check.calendar}/{check.channel}" if several else check.channel,
                check.adapter,
                OUTCOMES[check.outcome],
                check.detail,
            )
            for check in checks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[3]]).rstrip())
        failed = sum(check.failed for check in checks)
        click.echo(f"\n{len(checks)} channel{'' if len(checks) == 1 else 's'}, {failed} failed")
    if any(check.failed for check in checks):
        sys.exit(1)


# ---- store and runner: schedule, run, status, log, pause, ... ----


def _db_option(function: Any) -> Any:
    return click.option(
        "--db",
        metavar="URL|FILE",
        help="Database: an SQLite file or a SQLAlchemy URL "
        "(default: $SOCIALSCHED_DB, else ./socialsched.db).",
    )(function)


def _open_store(db: str | None) -> Any:
    from .store import Store

    return Store(db)


def _state_dir_option(function: Any) -> Any:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder of the receipt journal (receipts the network gave, kept until the "
        "database records them). Default: $STATE_DIRECTORY, else socialsched-state/ next "
        "to an SQLite file, else $XDG_STATE_HOME/socialsched.",
    )(function)


def _journal(store: Any, state_dir: Path | None) -> Any:
    """The receipt journal of a runner on `store` (see socialsched.journal)."""
    from .journal import runner_journal

    return runner_journal(store.url, state_dir)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
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


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@main.command("schedule")
@max_deliveries_option
@calendar_argument
@start_option
@end_option(30)
@_db_option
@format_option(
    "text",
    "json",
    help="text: one line of counts (with --dry-run: a line per change first); json: the "
    "ids added, moved, updated and cancelled (with --dry-run: each change's details).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would change (each delivery added, moved, updated with a text diff, "
    "cancelled), changing nothing.",
)
def schedule_command(
    calendar_file: Path,
    start: date | None,
    end: date | None,
    db: str | None,
    output_format: str,
    dry_run: bool,
) -> None:
    """Plan CAL and reconcile the store with it: add new deliveries, move changed ones,
    cancel removed ones; published ones are never touched. Safe to run again."""
    start, end = _range(start, end, 30)
    calendar = load(calendar_file)
    with _open_store(_dry_run_db(db) if dry_run else db) as store:
        planner = Planner(
            calendar,
            media_cache=store.media_cache(read_only=dry_run),
            today=date.today(),
            pins=store.queue_pins(calendar),  # queued posts that went out keep their slots
        )
        from .lateness import past_report

        past = past_report(store, calendar, planner, start, end)  # said before any change
        if output_format != "json" and past.text():
            click.echo(past.text())
        # A chunk at a time: a range of years takes the memory of one chunk.
        chunks = _chunk_progress(planner.plan_chunks(start, end), start, end)
        result = store.schedule_chunks(calendar, chunks, dry_run=dry_run)
        from .cli_approve import warn_unapproved

        warn_unapproved(store, calendar)  # the runner would hold these channels
    counts = (
        f"{len(result.added)} added, {len(result.moved)} moved, {len(result.updated)} "
        f"updated, {len(result.cancelled)} cancelled, {result.unchanged} unchanged"
    )
    if output_format == "json":
        shown = attrs.asdict(result, filter=lambda field, value: field.name != "changes")
        shown["past"] = past.to_dict()
        if dry_run:
            shown["changes"] = [change.to_dict() for change in result.changes]
        else:
            del shown["dry_run"]
        _echo_json(shown)
    elif dry_run:
        for change in result.changes:
            click.echo(_change_text(change))
        click.echo(f"dry run: {counts}; nothing was changed")
    else:
        click.echo(counts)


def _dry_run_db(db: str | None) -> str | None:
    """The database a dry run reads: an SQLite file that does not exist yet is not
    created (an empty in-memory database stands in for it)."""
    from .store import database_url

    url = database_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return "sqlite://"
    return db


_CHANGE_VERBS = {"added": "add", "moved": "move", "updated": "update", "cancelled": "cancel"}


def _change_text(change: Any) -> str:
    """One change of a dry run, as lines of text."""
    where = f"{change.post}/{change.segment}/{change.channel}"
    when = change.local if change.old_local is None else f"{change.old_local} -> {change.local}"
    line = f"{_CHANGE_VERBS[change.kind]:<6}  {change.id}  {where}  {when}"
    if change.kind == "updated" and change.diff is None:
        line += f"  ({', '.join(change.fields)})"
    if change.diff:
        line += "\n" + "\n".join(f"    {diff_line}" for diff_line in change.diff.splitlines())
    return line


@main.command("run")
@_db_option
@click.option("--until-idle", is_flag=True, help="Exit when nothing is due (cron, tests).")
@click.option("--batch", type=click.IntRange(1), default=50, show_default=True)
@click.option(
    "--lease",
    type=click.FloatRange(0.1),
    default=120.0,
    show_default=True,
    help="Seconds a claim lasts before another runner may take it over.",
)
@click.option(
    "--poll", type=click.FloatRange(0.1), default=30.0, show_default=True, help="Safety poll, s."
)
@click.option("--worker", metavar="NAME", help="Worker name in the activity log.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@format_option(
    "text",
    "json",
    help="What this runner recorded, reported when it stops: text (stderr) or json (stdout).",
)
@click.option(
    "--metrics",
    "metrics_address",
    metavar="HOST:PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics, and /healthz (alive) "
    "and /readyz (database reachable, scheduler running; 503 when not).",
)
@_state_dir_option
@_log_format_option("Log line format (default: the global --log-format, else text).")
@_verbose_option
@click.pass_context
def run_command(
    ctx: click.Context,
    db: str | None,
    until_idle: bool,
    batch: int,
    lease: float,
    poll: float,
    worker: str | None,
    quiet: bool,
    output_format: str,
    metrics_address: str | None,
    state_dir: Path | None,
    log_format: str | None,
    verbose: bool,
) -> None:
    """Publish due deliveries. SIGTERM or SIGINT: the delivery in flight is finished,
    the rest given back at once, then it exits; SIGHUP re-reads the channel table. A
    lost database is retried with backoff. Several runners may share one PostgreSQL
    database.

    When it stops it reports what the store recorded of its work, per channel:
    published, retried, failed, deferred, missed, held (credentials rejected)."""
    from . import logs
    from .runner import Runner, worker_name

    address = None
    if metrics_address is not None:
        from .metrics import parse_address

        try:
            address = parse_address(metrics_address)
        except SocialschedError as error:
            raise click.BadParameter(str(error), param_hint="--metrics") from None
    worker = worker or worker_name()
    logs.configure(
        log_format or ctx.obj["log_format"],
        level=logging.WARNING if quiet else logging.INFO,
        worker=worker,
        verbose=verbose or ctx.obj["verbose"],
    )
    with _open_store(db) as store:
        runner = Runner(
            store,
            journal=_journal(store, state_dir),
            worker=worker,
            batch=batch,
            lease=timedelta(seconds=lease),
            poll=timedelta(seconds=poll),
        )
        with _serving_metrics(runner, address):
            if until_idle:
                import signal

                for stop_signal in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(stop_signal, lambda signum, frame: runner.stop())
                runner.run_until_idle()
            else:
                runner.run()
        from sqlalchemy.exc import SQLAlchemyError

        try:
            outcomes = runner.outcomes()
        except SQLAlchemyError as error:
            from .store import describe_database_error

            raise SocialschedError(
                "published what was due, but cannot read back what was recorded: "
                f"{describe_database_error(error)}"
            ) from None
    report = outcomes.to_dict()
    if output_format == "json":
        _echo_json(report)
        return
    if logs.current_format() == "json":  # one JSON line, as every other on stderr
        logs.write(_counts_text(outcomes.totals), event="summary", data={"outcomes": report})
        return
    click.echo(_counts_text(outcomes.totals), err=True)
    for channel, counts in report["per_channel"].items():
        click.echo(f"  {channel}: {_counts_text(counts, skip_zero=True)}", err=True)


def _counts_text(counts: Mapping[str, int], *, skip_zero: bool = False) -> str:
    """ "published 3  retried 1": counts in the order given, as `status` prints them."""
    return "  ".join(f"{name} {count}" for name, count in counts.items() if count or not skip_zero)


@contextlib.contextmanager
def _serving_metrics(runner: Any, address: tuple[str, int] | None) -> Iterator[None]:
    """Serve the metrics and health of `runner` at `address` while the block runs."""
    if address is None:
        yield
        return
    from .metrics import MetricsServer, RunnerMetrics, wsgi_app

    metrics = RunnerMetrics(runner.store)
    server = MetricsServer(wsgi_app(metrics, runner), address).start()
    metrics.attach()
    try:
        yield
    finally:
        metrics.detach()
        server.stop()


@main.command("status")
@_db_option
@format_option("text", "json")
def status_command(db: str | None, output_format: str) -> None:
    """Counts per state, per channel, and the next due time."""
    with _open_store(db) as store:
        status = store.status()
    next_due = status.next_due.strftime("%Y-%m-%dT%H:%M:%SZ") if status.next_due else None
    if output_format == "json":
        _echo_json(
            {
                "counts": dict(status.counts),
                "per_channel": {k: dict(v) for k, v in status.per_channel.items()},
                "next_due": next_due,
                "holds": [entry.to_dict() for entry in status.holds],
            }
        )
        return
    click.echo(_counts_text(status.counts))
    for channel, counts in sorted(status.per_channel.items()):
        click.echo(f"  {channel}: {_counts_text(counts, skip_zero=True)}")
    click.echo(f"next due: {next_due or 'nothing scheduled'}")
    for entry in status.holds:
        kind = "credentials hold" if entry.credentials else "paused"
        click.echo(
            f"{kind}: {entry.hold.describe()} since {entry.at:%Y-%m-%d %H:%M}Z by {entry.actor}"
            + (f": {entry.reason}" if entry.reason else "")
        )


@main.command("log")
@_db_option
@click.option("--post", metavar="ID")
@click.option("--segment", metavar="NAME")
@click.option("--channel", metavar="NAME")
@click.option("--delivery", metavar="ID")
@click.option("--since", callback=_since, metavar="WHEN", help="ISO time (UTC) or age: 2h, 3d.")
@format_option("table", "json")
def log_command(
    db: str | None,
    post: str | None,
    segment: str | None,
    channel: str | None,
    delivery: str | None,
    since: datetime | None,
    output_format: str,
) -> None:
    """The activity log: every state change with time, actor, reason, attempt, receipt."""
    with _open_store(db) as store:
        entries = store.log(
            post=post, segment=segment, channel=channel, delivery=delivery, since=since
        )
    if output_format == "json":
        _echo_json([entry.to_dict() for entry in entries])
        return
    for e in entries:
        change = f"{e.from_state or '-'} -> {e.to_state}"
        receipt = f" receipt={e.receipt.get('remote_id')}" if e.receipt else ""
        media = "".join(
            f" media={m['filename'] or '-'}@{m['digest'][:12]} "
            f"alt={json.dumps(m['alt'], ensure_ascii=False)}"
            for m in e.media
        )
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}Z {e.delivery_id} {e.post}/{e.segment}/{e.channel} "
            f"{change} #{e.attempt} by {e.actor}: {e.reason or ''}{receipt}{media}"
        )


def _hold_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option("--segment", metavar="NAME"),
            click.option("--channel", metavar="NAME"),
            click.option("--tag", metavar="TAG"),
            click.option("--post", metavar="ID"),
            click.option("--all", "everything", is_flag=True, help="Every delivery."),
            click.option("--reason", metavar="TEXT", help="Why (goes to the activity log)."),
        ]
    ):
        function = option(function)
    return _db_option(function)


def _hold(
    segment: str | None, channel: str | None, tag: str | None, post: str | None, everything: bool
) -> Any:
    from .store import Hold

    hold = Hold(segment=segment, channel=channel, tag=tag, post=post)
    given = any(v is not None for v in (segment, channel, tag, post))
    if given == everything:
        raise click.UsageError(
            "give --segment, --channel, --tag and/or --post (combined: all must match), "
            "or --all alone"
        )
    return hold


@main.command("pause")
@_hold_options
def pause_command(
    db: str | None,
    segment: str | None,
    channel: str | None,
    tag: str | None,
    post: str | None,
    everything: bool,
    reason: str | None,
) -> None:
    """Stop matching deliveries not yet claimed, at once and until `resume`
    (e.g. a crisis: --segment es-ES --tag promo)."""
    hold = _hold(segment, channel, tag, post, everything)
    with _open_store(db) as store:
        count = store.pause(hold, reason=reason)
    click.echo(f"paused {count} deliveries ({hold.describe()})")


@main.command("resume")
@_hold_options
def resume_command(
    db: str | None,
    segment: str | None,
    channel: str | None,
    tag: str | None,
    post: str | None,
    everything: bool,
    reason: str | None,
) -> None:
    """Lift the pause given by the same options (--all: every pause); what is overdue
    goes out now, not missed."""
    hold = _hold(segment, channel, tag, post, everything)
    with _open_store(db) as store:
        count = store.resume(hold, everything=everything, reason=reason)
    click.echo(f"resumed {count} deliveries")


@main.command("cancel")
@click.argument("delivery_id", metavar="ID")
@click.option("--reason", metavar="TEXT")
@_db_option
def cancel_command(delivery_id: str, reason: str | None, db: str | None) -> None:
    """Cancel a delivery that has not gone out."""
    with _open_store(db) as store:
        record = store.cancel(delivery_id, reason=reason)
    click.echo(f"{record.id} {record.state}")


@main.command("resolve")
@click.argument("delivery_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--sent", "sent", flag_value=True, default=None, help="It went out: record it.")
@click.option("--resend", "sent", flag_value=False, help="It did not: send it again now.")
@click.option("--reason", metavar="TEXT", help="Why (goes to the activity log).")
@_db_option
@_state_dir_option
def resolve_command(
    delivery_ids: Sequence[str],
    sent: bool | None,
    reason: str | None,
    db: str | None,
    state_dir: Path | None,
) -> None:
    """Settle deliveries held in doubt (their runner died while publishing them and
    the network cannot say whether they went out): --sent records them published,
    --resend sends them again at once, in this process as publish-now does, under the
    same idempotency key (a transient error leaves them scheduled for a runner's
    retry)."""
    if sent is None:
        raise click.UsageError("give --sent (it went out) or --resend (send it again)")
    with _open_store(db) as store:
        records = [store.resolve(i, sent=sent, reason=reason) for i in delivery_ids]
        if not sent:
            from .runner import Runner

            runner = Runner(store, journal=_journal(store, state_dir))
            try:
                runner.dispatch(ids=[record.id for record in records])
            finally:
                runner.receipts.close()
            records = [store.get(record.id) for record in records]
        for record in records:
            click.echo(f"{record.id} {record.state}")
            if not sent and record.state != "published" and record.last_error:
                click.echo(f"  {record.last_error}", err=True)


@main.command("publish-now")
@click.argument("delivery_id", metavar="ID")
@_db_option
@_state_dir_option
def publish_now_command(delivery_id: str, db: str | None, state_dir: Path | None) -> None:
    """Publish one delivery now, in this process."""
    from .runner import Runner

    with _open_store(db) as store:
        runner = Runner(store, journal=_journal(store, state_dir))
        try:
            record = runner.publish_now(delivery_id)
        finally:
            runner.receipts.close()
    click.echo(f"{record.id} {record.state}")
    if record.state != "published":
        detail = record.last_error or (
            "waiting for approval" if record.requires_approval and not record.approved else ""
        )
        raise click.ClickException(f"delivery {record.id} was not published: {detail}")


@main.command("retract")
@click.argument("delivery_id", metavar="ID")
@_db_option
def retract_command(delivery_id: str, db: str | None) -> None:
    """Delete a published delivery from its network."""
    from .runner import Runner

    with _open_store(db) as store:
        record = Runner(store).retract(delivery_id)
    click.echo(f"{record.id} retracted")


@main.command("approve")
@click.argument("delivery_id", metavar="ID", required=False)
@click.option("--post", metavar="ID", help="Approve every pending delivery of this post.")
@_db_option
def approve_command(delivery_id: str | None, post: str | None, db: str | None) -> None:
    """Approve a delivery (or all of --post) of a post with requires_approval."""
    if (delivery_id is None) == (post is None):
        raise click.UsageError("give a delivery ID or --post, not both")
    with _open_store(db) as store:
        count = store.approve(delivery_id, post=post)
    click.echo(f"approved {count} deliveries")


# ---- preview ----


@main.command("preview")
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
    start, end = _range(start, end, 13)
    calendar = load(calendar_file)
    deliveries = _plan(calendar, start, end)
    _write_file(html_file, render_html(calendar, deliveries, start, end).encode("utf-8"))
    click.echo(f"wrote {len(deliveries)} deliveries to {html_file}", err=True)


# Commands kept in modules of their own (cli.py stays small), registered on import.
from . import cli_approve, cli_collect, cli_queue, cli_report  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
