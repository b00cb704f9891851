"""/metrics and /readyz when the store cannot be used: the process's own series are
always served, the store's figures are left out and `socialsched_store_up` says why;
/readyz fails for a deleted, replaced or unwritable SQLite file (which SQLite itself
does not notice) and for a read-only or unreachable PostgreSQL; every channel's attempt
series exist at 0 from the first scrape; no `*_created` series."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from runner_process import RunnerProcess, get

from conftest import PG_URL, calendar, post
from socialsched.calendar.model import Channel
from socialsched.runner.metrics import OUTCOMES, RunnerMetrics, wsgi_app
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store.health import REASONS, StoreProbe

CHANNELS = [
    Channel(name="feed", adapter="jsonl", settings={"path": "/tmp/feed.jsonl"}),
    Channel(name="news", adapter="jsonl", settings={"path": "/tmp/news.jsonl"}),
]


def serve(metrics: RunnerMetrics, path: str) -> tuple[str, str]:
    """(status line, body) of one request to the metrics app."""
    statuses: list[str] = []
    app = wsgi_app(metrics)
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": ""}
    body = b"".join(app(environ, lambda code, headers: statuses.append(code)))
    return statuses[0], body.decode()


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    shown: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            shown.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return shown


def scrape(metrics: RunnerMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    status, body = serve(metrics, "/metrics")
    assert status == "200 OK", body
    assert "_created" not in body
    return samples(body)


def store_state(shown: dict) -> tuple[float, str | None]:
    """(socialsched_store_up, the reason whose problem series is 1)."""
    problems = {dict(k)["reason"]: v for k, v in shown["socialsched_store_problem"].items()}
    assert set(problems) == set(REASONS)
    on = [reason for reason, value in problems.items() if value == 1]
    assert len(on) <= 1
    return shown["socialsched_store_up"][()], on[0] if on else None


def scheduled_store(path: Path) -> Store:
    store = Store(path)
    schedule(store, calendar([post("a")], channels=CHANNELS), "2027-01-04", "2027-01-04")
    return store


def test_each_channel_has_every_outcome_at_zero_from_the_first_scrape(tmp_path):
    with scheduled_store(tmp_path / "outbox.db") as store:
        shown = scrape(RunnerMetrics(store))
    attempts = shown["socialsched_publish_attempts_total"]
    expected = {
        (("channel", channel.name), ("outcome", outcome)): 0.0
        for channel in CHANNELS
        for outcome in ("published", "retry", "failed")
    }
    assert attempts == expected and set(OUTCOMES) == {"published", "retry", "failed"}
    assert store_state(shown) == (1.0, None)


def test_a_channel_added_later_gets_its_zero_series_at_the_next_scrape(tmp_path):
    with Store(tmp_path / "outbox.db") as store:
        metrics = RunnerMetrics(store)  # an empty store: no channel yet
        assert "socialsched_publish_attempts_total" not in scrape(metrics)
        schedule(store, calendar([post("a")], channels=CHANNELS[:1]), "2027-01-04", "2027-01-04")
        attempts = scrape(metrics)["socialsched_publish_attempts_total"]
    assert {dict(k)["outcome"] for k in attempts} == {"published", "retry", "failed"}
    assert {dict(k)["channel"] for k in attempts} == {"feed"}


def test_a_deleted_sqlite_file_is_missing_and_metrics_still_answer(tmp_path):
    path = tmp_path / "outbox.db"
    with scheduled_store(path) as store:
        metrics = RunnerMetrics(store)
        metrics.attempts.labels("feed", "published").inc()
        assert "socialsched_deliveries" in scrape(metrics)
        assert serve(metrics, "/readyz") == ("200 OK", "ready\n")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        # SQLite does not notice: the store still answers, from the deleted file.
        assert store.unreachable() is None
        shown = scrape(metrics)
        assert store_state(shown) == (0.0, "missing")
        # The store's figures are left out; the process's own counters stay.
        assert "socialsched_deliveries" not in shown and "socialsched_queue_depth" not in shown
        published = (("channel", "feed"), ("outcome", "published"))
        assert shown["socialsched_publish_attempts_total"][published] == 1.0
        assert serve(metrics, "/readyz") == (
            "503 Service Unavailable",
            f"not ready: database missing: the SQLite file {path} was deleted\n",
        )


def test_a_replaced_sqlite_file_is_missing(tmp_path):
    path = tmp_path / "outbox.db"
    with scheduled_store(path) as store:
        metrics = RunnerMetrics(store)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with Store(path):  # an empty database where the old one was
            pass
        assert path.exists()
        assert store_state(scrape(metrics)) == (0.0, "missing")
        assert "was replaced by another file" in serve(metrics, "/readyz")[1]


def test_an_unwritable_sqlite_file_or_folder_is_read_only(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "outbox.db"
    with scheduled_store(path) as store:
        metrics = RunnerMetrics(store)
        try:
            path.chmod(0o444)
            shown = scrape(metrics)
            assert store_state(shown) == (0.0, "read_only")
            # Still readable: the figures are there.
            assert "socialsched_deliveries" in shown
            assert serve(metrics, "/readyz") == (
                "503 Service Unavailable",
                f"not ready: database read-only: the SQLite file {path} cannot be written\n",
            )
            path.chmod(0o644)
            assert serve(metrics, "/readyz") == ("200 OK", "ready\n")
            folder.chmod(0o555)
            assert (
                "database read-only: the folder of the SQLite file"
                in (serve(metrics, "/readyz")[1])
            )
        finally:
            folder.chmod(0o755)
            path.chmod(0o644)
        assert serve(metrics, "/readyz") == ("200 OK", "ready\n")


def test_an_unreachable_postgresql_leaves_the_store_figures_out(pg_schema):
    engine, schema = pg_schema
    with Store(PG_URL, schema=schema) as store:
        schedule(store, calendar([post("a")], channels=CHANNELS), "2027-01-04", "2027-01-04")
        metrics = RunnerMetrics(store)
        assert store_state(scrape(metrics)) == (1.0, None)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"')
        shown = scrape(metrics)
        assert store_state(shown) == (0.0, "unreachable")
        assert "socialsched_deliveries" not in shown and "socialsched_holds" not in shown
        assert len(shown["socialsched_publish_attempts_total"]) == len(CHANNELS) * 3
        status, body = serve(metrics, "/readyz")
        assert status == "503 Service Unavailable"
        assert body.startswith("not ready: database unreachable: ") and "UndefinedTable" in body
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
        assert store_state(scrape(metrics)) == (1.0, None)


def test_a_read_only_postgresql_is_not_ready(pg_schema):
    _, schema = pg_schema
    with Store(PG_URL, schema=schema):
        pass  # the outbox's tables, made by a writer
    # As a standby, or a database an operator set read-only, answers.
    options = f"-csearch_path%3D{schema}%20-cdefault_transaction_read_only%3Don"
    with Store(f"{PG_URL}?options={options}") as store:
        health = StoreProbe(store).check()
        assert (health.up, health.reason) == (False, "read_only")
        metrics = RunnerMetrics(store)
        assert store_state(scrape(metrics)) == (0.0, "read_only")
        assert serve(metrics, "/readyz") == (
            "503 Service Unavailable",
            "not ready: database read-only: PostgreSQL answers read-only transactions\n",
        )


def test_a_live_runner_whose_database_file_is_deleted_says_so(tmp_path):
    ops = tmp_path / "ops"
    ops.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    with RunnerProcess(
        ["--db", "../data/outbox.db", "--poll", "0.3", "--metrics", "127.0.0.1:0"], cwd=ops
    ) as runner:
        base = runner.metrics_url()
        runner.wait_for(lambda: get(f"{base}/readyz").status_code == 200, "ready")
        for name in os.listdir(data):
            if name.startswith("outbox.db"):
                (data / name).unlink()
        ready = get(f"{base}/readyz")
        assert ready.status_code == 503
        assert "database missing: the SQLite file" in ready.text and "was deleted" in ready.text
        response = get(f"{base}/metrics")
        assert response.status_code == 200 and "_created" not in response.text
        shown = samples(response.text)
        assert store_state(shown) == (0.0, "missing")
        assert "socialsched_deliveries" not in shown
        runner.signal(signal.SIGTERM)
        runner.wait()
    assert "Traceback" not in runner.output
