"""`socialsched run`: the runner, publishing due deliveries."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from socialsched.errors import SocialschedError

from .options import db_option, format_option, log_format_option, state_dir_option, verbose_option
from .output import counts_text, echo_json
from .stores import journal, open_store


@click.command("run")
@db_option
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
@state_dir_option
@log_format_option("Log line format (default: the global --log-format, else text).")
@verbose_option
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
    from socialsched.runner import Runner, logs, worker_name

    address = None
    if metrics_address is not None:
        from socialsched.runner.metrics import parse_address

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
    with open_store(db) as store:
        runner = Runner(
            store,
            journal=journal(store, state_dir),
            worker=worker,
            batch=batch,
            lease=timedelta(seconds=lease),
            poll=timedelta(seconds=poll),
        )
        with _serving_metrics(runner, address):
            if until_idle:
                runner.run_until_idle(handle_signals=True)
            else:
                runner.run()
        from sqlalchemy.exc import SQLAlchemyError

        try:
            outcomes = runner.outcomes()
        except SQLAlchemyError as error:
            from socialsched.store import describe_database_error

            raise SocialschedError(
                "published what was due, but cannot read back what was recorded: "
                f"{describe_database_error(error)}"
            ) from None
    report = outcomes.to_dict()
    if output_format == "json":
        echo_json(report)
        return
    if logs.current_format() == "json":  # one JSON line, as every other on stderr
        logs.write(counts_text(outcomes.totals), event="summary", data={"outcomes": report})
        return
    click.echo(counts_text(outcomes.totals), err=True)
    for channel, counts in report["per_channel"].items():
        click.echo(f"  {channel}: {counts_text(counts, skip_zero=True)}", err=True)


@contextlib.contextmanager
def _serving_metrics(runner: Any, address: tuple[str, int] | None) -> Iterator[None]:
    """Serve the metrics and health of `runner` at `address` while the block runs."""
    if address is None:
        yield
        return
    from socialsched.runner.metrics import MetricsServer, RunnerMetrics, wsgi_app

    metrics = RunnerMetrics(runner.store)
    server = MetricsServer(wsgi_app(metrics, runner), address).start()
    metrics.attach()
    try:
        yield
    finally:
        metrics.detach()
        server.stop()
