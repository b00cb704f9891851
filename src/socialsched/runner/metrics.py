"""Prometheus metrics and health endpoints for a runner (`socialsched run --metrics`).

Two kinds of figures:

- what the store holds, read at scrape time by a custom collector, so every runner
  sharing a database reports the same truth as `socialsched status`: deliveries by
  state and channel, the queue of deliveries due now, the next due time, holds (pauses
  and channels held for rejected credentials);
- what this process did, counted as it happens (from the store's lifecycle events):
  publish attempts by channel and outcome, and the lag from a delivery's planned time
  to its publication, as a histogram.

`/metrics` always answers: while the store cannot be used, the store's figures are
left out (not guessed) and `socialsched_store_up` is 0, with
`socialsched_store_problem{reason=...}` 1 for the reason (`missing`: the SQLite file was
deleted or replaced; `read_only`; `unreachable`); the process's own counters are still
there. Every channel's `socialsched_publish_attempts_total` series exist at 0 from the
first scrape, for each outcome, so a rate of failures can be computed before the first
one. No `*_created` series are exported.

`/healthz` answers 200 while the process serves requests; `/readyz` answers 200 when
the store can be used (reachable, its file still there, writable) and the runner's
scheduler is running, else 503 with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialsched.errors import SocialschedError
from socialsched.store import Store
from socialsched.store import tuning as store_tuning
from socialsched.store.health import REASONS, StoreHealth, StoreProbe

logger = logging.getLogger("socialsched.metrics")

# Lag from a delivery's planned time to its publication: on time is seconds, a retry
# minutes, an outage hours.
LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
OUTCOMES = ("published", "retry", "failed")
"""The outcomes `socialsched_publish_attempts_total` counts."""


class Readiness(Protocol):
    """What `/readyz` asks of the runner."""

    @property
    def running(self) -> bool:
        """Whether the runner's scheduler is running (started and not stopping)."""
        ...


class StoreCollector(Collector):
    """Reads the store at every scrape: whether it can be used (`socialsched_store_up`
    and why not), then, unless it is missing or unreachable, deliveries by state and
    channel, due queue, next due time, holds by kind. `on_channels` is given the
    channel names the store holds, before anything is yielded."""

    def __init__(
        self,
        store: Store,
        probe: StoreProbe | None = None,
        on_channels: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.store = store
        self.probe = probe or StoreProbe(store)
        self._on_channels = on_channels

    def collect(self) -> Iterator[Metric]:
        health = self.probe.check()
        figures: list[Metric] = []
        if health.up or health.reason == "read_only":  # a read-only store still reads
            try:
                figures = list(self._figures())
            except Exception as error:  # gone between the check and the reading
                logger.debug("metrics: cannot read the store: %s", error)
                health = StoreHealth(False, "unreachable", f"{type(error).__name__}: {error}")
                figures = []
        yield GaugeMetricFamily(
            "socialsched_store_up",
            "1 when the store can be used; 0 when it is missing, read-only or "
            "unreachable (see socialsched_store_problem).",
            value=1 if health.up else 0,
        )
        problem = GaugeMetricFamily(
            "socialsched_store_problem",
            "1 for why the store cannot be used (missing: its SQLite file was deleted or "
            "replaced; read_only; unreachable), 0 for the other reasons.",
            labels=["reason"],
        )
        for reason in REASONS:
            problem.add_metric([reason], 1 if health.reason == reason else 0)
        yield problem
        yield from figures

    def _figures(self) -> Iterator[Metric]:
        if self._on_channels is not None:
            self._on_channels(name for _, name in self.store.channels())
        status = self.store.status()
        by_state = GaugeMetricFamily(
            "socialsched_deliveries",
            "Deliveries in the store, by state and channel (as `socialsched status`).",
            labels=["state", "channel"],
        )
        for channel, counts in sorted(status.per_channel.items()):
            for state, count in counts.items():
                by_state.add_metric([state, channel], count)
        yield by_state
        yield GaugeMetricFamily(
            "socialsched_queue_depth",
            "Deliveries due now and not yet claimed by a runner.",
            value=self.store.due_now(),
        )
        yield GaugeMetricFamily(
            "socialsched_in_flight",
            "Deliveries claimed by a runner right now.",
            value=status.counts.get("claimed", 0),
        )
        next_due = GaugeMetricFamily(
            "socialsched_next_due_timestamp_seconds",
            "When the earliest scheduled delivery falls due (Unix time); absent when none.",
        )
        if status.next_due is not None:
            next_due.add_metric([], status.next_due.timestamp())
        yield next_due
        holds = GaugeMetricFamily(
            "socialsched_holds",
            "Holds in force: kind=pause (`socialsched pause`), kind=credentials (a channel "
            "held after the network rejected its credentials).",
            labels=["kind"],
        )
        entries = self.store.hold_entries()
        credentials = sum(entry.credentials for entry in entries)
        holds.add_metric(["pause"], len(entries) - credentials)
        holds.add_metric(["credentials"], credentials)
        yield holds


class RunnerMetrics:
    """The metrics of one runner process, in their own registry.

    Counts publish outcomes from the store's lifecycle events (`store.listeners`)
    while `attach`ed; `clock` gives the publication time for the lag."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self._clock = clock or store.clock
        # Process-wide in prometheus_client: its `*_created` series only add noise.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.probe = StoreProbe(store)
        # First: the channels it reads give the counters below their zero series
        # before the counters are collected in the same scrape.
        self.registry.register(StoreCollector(store, self.probe, self.know_channels))
        self.attempts = Counter(
            "socialsched_publish_attempts",
            "Publish attempts by this process, by channel and outcome (published, retry, failed).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "socialsched_publish_lag_seconds",
            "Seconds from a delivery's planned time to its publication, by channel.",
            ["channel"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        with contextlib.suppress(Exception):  # the store may be away: the first scrape
            self.know_channels(name for _, name in store.channels())

    def know_channels(self, channels: Iterable[str]) -> None:
        """Give each channel its attempt series for every outcome, at 0 until counted."""
        for channel in set(channels):
            for outcome in OUTCOMES:
                self.attempts.labels(channel, outcome)

    def observe(self, event: str, fields: Mapping[str, Any]) -> None:
        """Count one lifecycle event (a `store.listeners` listener)."""
        delivery = fields.get("delivery")
        if delivery is None:
            return
        channel = delivery.channel
        if event == "delivery_published":
            self.attempts.labels(channel, "published").inc()
            lag = (self._clock() - delivery.utc).total_seconds()
            self.lag.labels(channel).observe(max(0.0, lag))
        elif event == "delivery_failed":
            outcome = "failed" if fields.get("final") else "retry"
            self.attempts.labels(channel, outcome).inc()

    def attach(self) -> None:
        """Start counting the lifecycle events of this process."""
        if self.observe not in store_tuning.listeners:
            store_tuning.listeners.append(self.observe)

    def detach(self) -> None:
        """Stop counting."""
        if self.observe in store_tuning.listeners:
            store_tuning.listeners.remove(self.observe)


def readiness_problem(
    store: Store, runner: Readiness | None, probe: StoreProbe | None = None
) -> str | None:
    """Why the runner is not ready (database missing, read-only or unreachable,
    scheduler not running), or None when it is."""
    health = (probe or StoreProbe(store)).check()
    if not health.up:
        return health.describe()
    if runner is not None and not runner.running:
        return "scheduler not running"
    return None


def _text(start_response: Any, status: str, body: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


def wsgi_app(metrics: RunnerMetrics, runner: Readiness | None = None) -> Any:
    """A WSGI application serving /metrics, /healthz and /readyz."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            problem = readiness_problem(metrics.store, runner, metrics.probe)
            if problem is None:
                return _text(start_response, "200 OK", "ready\n")
            return _text(start_response, "503 Service Unavailable", f"not ready: {problem}\n")
        if path == "/metrics":
            try:
                return exposition(environ, start_response)  # type: ignore[no-any-return]
            except Exception as error:  # the database is gone: say so, do not hang up
                logger.warning("metrics scrape failed: %s: %s", type(error).__name__, error)
                return _text(
                    start_response,
                    "503 Service Unavailable",
                    f"cannot read the store: {type(error).__name__}\n",
                )
        return _text(start_response, "404 Not Found", "try /metrics, /healthz or /readyz\n")

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a bare traceback on stderr (a scraper that hung up, say):
        # a log line instead, so that with --log-format json every line stays JSON.
        logger.warning("metrics: a request from %s failed", client_address[0], exc_info=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SocialschedError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.strip("[]"), int(port)


class MetricsServer:
    """Serves `wsgi_app` on HOST:PORT in a background thread (port 0: any free port)."""

    def __init__(self, app: Any, address: tuple[str, int]) -> None:
        try:
            self._server = make_server(
                address[0],
                address[1],
                app,
                server_class=_ThreadingServer,
                handler_class=_QuietHandler,
            )
        except OSError as error:
            raise SocialschedError(
                f"cannot serve metrics on {address[0]}:{address[1]}: {error.strerror}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="socialsched-metrics", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        """Start serving; returns self."""
        self._thread.start()
        logger.info(
            "serving metrics on http://%s:%d/metrics", *self.address, extra={"event": "metrics"}
        )
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


__all__ = [
    "LAG_BUCKETS",
    "OUTCOMES",
    "MetricsServer",
    "RunnerMetrics",
    "StoreCollector",
    "parse_address",
    "readiness_problem",
    "wsgi_app",
]
