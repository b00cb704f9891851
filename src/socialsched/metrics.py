"""Prometheus metrics and health endpoints for a runner (`socialsched run --metrics`).

Two kinds of figures:

- what the store holds, read at scrape time by a custom collector, so every runner
  sharing a database reports the same truth as `socialsched status`: deliveries by
  state and channel, the queue of deliveries due now, the next due time, holds (pauses
  and channels held for rejected credentials);
- what this process did, counted as it happens (from the store's lifecycle events):
  publish attempts by channel and outcome, and the lag from a delivery's planned time
  to its publication, as a histogram.

`/healthz` answers 200 while the process serves requests; `/readyz` answers 200 when
the database answers and the runner's scheduler is running, else 503 with the reason.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import store as store_module
from .errors import SocialschedError
from .store import Store

logger = logging.getLogger("socialsched.metrics")

# Lag from a delivery's planned time to its publication: on time is seconds, a retry
# minutes, an outage hours.
LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


class Readiness(Protocol):
    """What `/readyz` asks of the runner."""

    @property
    def running(self) -> bool:
        """Whether the runner's scheduler is running (started and not stopping)."""
        ...


class StoreCollector(Collector):
    """Reads the store at every scrape: deliveries by state and channel, due queue,
    next due time, holds by kind."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
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
        self.registry = CollectorRegistry()
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
        self.registry.register(StoreCollector(store))

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
        if self.observe not in store_module.listeners:
            store_module.listeners.append(self.observe)

    def detach(self) -> None:
        """Stop counting."""
        if self.observe in store_module.listeners:
            store_module.listeners.remove(self.observe)


def readiness_problem(store: Store, runner: Readiness | None) -> str | None:
    """Why the runner is not ready (database unreachable, scheduler not running), or
    None when it is."""
    problem = store.unreachable()
    if problem is not None:
        return f"database unreachable: {problem}"
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
            problem = readiness_problem(metrics.store, runner)
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
    "MetricsServer",
    "RunnerMetrics",
    "StoreCollector",
    "parse_address",
    "readiness_problem",
    "wsgi_app",
]
