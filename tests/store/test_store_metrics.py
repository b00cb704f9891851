"""`socialsched run --metrics`: a live runner's /metrics shows what the store holds (the
counts `socialsched status` shows) and what the runner did; /healthz and /readyz."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from runner_process import RunnerProcess, get, socialsched

from socialsched.runner import Runner
from socialsched.runner.metrics import RunnerMetrics, parse_address, wsgi_app
from socialsched.store import Store
from socialsched.testing import LocalServer, Reply

SIGNING_ENV = {
    "SOCIALSCHED_SECRET_OPS_SIGNING_KEY": "whsec_"
    + base64.b64encode(b"k3y-for-the-metrics-test-0123").decode()
}


def write_calendar(folder: Path, receiver: str, today: date) -> None:
    """Two segments, one webhook channel; posts due two days ago (missed: never tried,
    past their grace), yesterday (late = "publish": go out now), in ten and in eleven
    days (the latter to be paused)."""
    days = {
        name: today + timedelta(days=offset)
        for name, offset in (("old", -2), ("past", -1), ("future", 10), ("held", 11))
    }
    posts = "\n".join(
        f'[[post]]\nid = "{name}"\ntext = "{name} for {{{{ segment.name }}}}"\n'
        f'dates = ["{day}"]\nat = "00:00"\n' + ('late = "publish"\n' if name == "past" else "")
        for name, day in days.items()
    )
    folder.mkdir()
    (folder / "calendar.toml").write_text(
        f"""[calendar]
name = "ops"

[[segment]]
name = "uk"
locale = "en-GB"
timezone = "Europe/London"
country = "GB"

[[segment]]
name = "tokyo"
locale = "ja-JP"
timezone = "Asia/Tokyo"
country = "JP"

[[channel]]
name = "hook"
adapter = "webhook"
settings = {{ url = "{receiver}/hook" }}
secrets = {{ signing_key = "OPS_SIGNING_KEY" }}

{posts}""",
        encoding="utf-8",
    )


def scrape(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics as {sample name: {sorted labels: value}}."""
    response = get(f"{base}/metrics")
    assert response.status_code == 200, response.text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def deliveries_gauge(samples: dict) -> dict[str, dict[str, int]]:
    """socialsched_deliveries as {channel: {state: count}}."""
    shown: dict[str, dict[str, int]] = {}
    for labels, value in samples["socialsched_deliveries"].items():
        label = dict(labels)
        shown.setdefault(label["channel"], {})[label["state"]] = int(value)
    return shown


def status(cwd: Path, db: str) -> dict:
    return json.loads(socialsched("status", "--db", db, "--format", "json", cwd=cwd).stdout)


@pytest.mark.slow
def test_metrics_of_a_live_runner_show_what_status_shows(tmp_path):
    today = datetime.now(UTC).date()
    with LocalServer() as receiver:
        # The first publication is refused for good: one failed delivery.
        receiver.reply(Reply(400, {"error": "bad request"}))
        write_calendar(tmp_path / "calendar", receiver.url, today)
        (tmp_path / "ops").mkdir()
        db = "../outbox.db"  # relative to the operator's folder, not the calendar's
        ops = tmp_path / "ops"
        socialsched(
            "schedule",
            "../calendar/calendar.toml",
            "--db",
            db,
            "--start",
            str(today - timedelta(days=3)),
            "--end",
            str(today + timedelta(days=12)),
            cwd=ops,
        )
        socialsched("channels", "approve", "--all", "--db", db, cwd=ops)
        socialsched("pause", "--post", "held", "--db", db, "--reason", "not yet", cwd=ops)
        with RunnerProcess(
            ["--db", db, "--poll", "0.5", "--metrics", "127.0.0.1:0"], cwd=ops, env=SIGNING_ENV
        ) as runner:
            base = runner.metrics_url()
            runner.wait_for(lambda: len(receiver.requests) == 2, "both due deliveries sent")
            runner.wait_for(
                lambda: (
                    status(ops, db)["counts"]["claimed"] == 0
                    and status(ops, db)["counts"]["published"] == 1
                ),
                "the publication recorded",
            )
            assert get(f"{base}/healthz").status_code == 200
            ready = get(f"{base}/readyz")
            assert (ready.status_code, ready.text) == (200, "ready\n")

            shown, samples = status(ops, db), scrape(base)
            # What the calendar implies, worked out here: per post, two segments.
            expected = {
                "published": 1,
                "failed": 1,
                "missed": 2,
                "scheduled": 2,
                "paused": 2,
                "claimed": 0,
                "cancelled": 0,
                "doubt": 0,
            }
            assert {k: v for k, v in shown["per_channel"]["hook"].items()} == expected
            assert deliveries_gauge(samples) == shown["per_channel"]
            assert sum(deliveries_gauge(samples)["hook"].values()) == 8
            attempts = {
                dict(k)["outcome"]: v
                for k, v in samples["socialsched_publish_attempts_total"].items()
            }
            # Every outcome has its series, at 0 until counted.
            assert attempts == {"published": 1.0, "failed": 1.0, "retry": 0.0}
            assert samples["socialsched_queue_depth"][()] == 0
            assert samples["socialsched_holds"] == {
                (("kind", "pause"),): 1.0,
                (("kind", "credentials"),): 0.0,
            }
            assert samples["socialsched_in_flight"][()] == 0
            next_due = datetime.strptime(shown["next_due"], "%Y-%m-%dT%H:%M:%SZ")
            future = datetime.combine(
                today + timedelta(days=10), datetime.min.time(), ZoneInfo("Asia/Tokyo")
            )
            assert next_due.replace(tzinfo=UTC) == future
            assert samples["socialsched_next_due_timestamp_seconds"][()] == future.timestamp()
            # One publication, at least a day after its planned time (yesterday, 00:00
            # in London at the latest).
            lag = samples["socialsched_publish_lag_seconds_count"]
            assert lag == {(("channel", "hook"),): 1.0}
            (lag_sum,) = samples["socialsched_publish_lag_seconds_sum"].values()
            planned = datetime.combine(
                today - timedelta(days=1), datetime.min.time(), ZoneInfo("Europe/London")
            )
            assert lag_sum >= (datetime.now(UTC) - planned).total_seconds() - 60

            # Read at scrape time: a change made by another process shows at once.
            with Store(ops / db) as store:
                future_id = next(r.id for r in store.records("scheduled"))
            socialsched("cancel", future_id, "--db", db, cwd=ops)
            shown, samples = status(ops, db), scrape(base)
            assert shown["per_channel"]["hook"]["cancelled"] == 1
            assert deliveries_gauge(samples) == shown["per_channel"]

            runner.signal(__import__("signal").SIGTERM)
            assert runner.wait() == 0


def test_readyz_is_503_until_the_scheduler_runs_and_after_it_stops(tmp_path):
    with Store(tmp_path / "outbox.db") as store:
        runner = Runner(store, poll=timedelta(seconds=0.2))
        metrics = RunnerMetrics(store)
        app = wsgi_app(metrics, runner)

        def readyz() -> tuple[str, str]:
            statuses: list[str] = []
            body = b"".join(
                app({"PATH_INFO": "/readyz"}, lambda code, headers: statuses.append(code))
            )
            return statuses[0], body.decode()

        assert readyz() == ("503 Service Unavailable", "not ready: scheduler not running\n")
        thread = threading.Thread(target=runner.run, kwargs={"handle_signals": False})
        thread.start()
        try:
            deadline = datetime.now(UTC) + timedelta(seconds=30)
            while readyz()[0] != "200 OK":
                assert datetime.now(UTC) < deadline, "runner never became ready"
                time.sleep(0.05)
        finally:
            runner.stop()
            thread.join()
        assert readyz() == ("503 Service Unavailable", "not ready: scheduler not running\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:0", ("::1", 0)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_metrics_address_is_host_and_port(text, expected):
    assert parse_address(text) == expected


def test_a_bad_metrics_address_is_a_usage_error(tmp_path):
    result = socialsched(
        "run", "--until-idle", "--metrics", "9464", "--db", "x.db", cwd=tmp_path, check=False
    )
    assert result.returncode == 2
    assert "--metrics" in result.stderr and "HOST:PORT" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_metrics_port_in_use_is_an_error_naming_it(tmp_path):
    with LocalServer() as busy:
        address = httpx.URL(busy.url)
        result = socialsched(
            "run",
            "--until-idle",
            "--metrics",
            f"127.0.0.1:{address.port}",
            "--db",
            "x.db",
            cwd=tmp_path,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{address.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_holds_are_counted_by_kind_at_scrape_time(tmp_path):
    from prometheus_client import generate_latest

    from socialsched.store import CREDENTIALS_REJECTED

    with Store(tmp_path / "outbox.db") as store:
        metrics = RunnerMetrics(store)

        def holds() -> dict[str, float]:
            text = generate_latest(metrics.registry).decode()
            (family,) = [
                f for f in text_string_to_metric_families(text) if f.name == "socialsched_holds"
            ]
            return {s.labels["kind"]: s.value for s in family.samples}

        assert holds() == {"pause": 0.0, "credentials": 0.0}
        store.pause(segment="uk", reason="crisis")
        store.pause(tag="promo", reason="quiet week")
        store.hold_channel("hook", reason=f"{CREDENTIALS_REJECTED}: HTTP 401")
        assert holds() == {"pause": 2.0, "credentials": 1.0}
        store.resume(channel="hook")
        assert holds() == {"pause": 2.0, "credentials": 0.0}
