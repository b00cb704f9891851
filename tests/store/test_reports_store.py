"""Reports from a store: deliveries published by the runner, engagement collected
through an adapter that answers known counts (by the runner on its own, then by the
`Collector` that `socialsched collect` runs), then `socialsched report`
and `socialsched suggest-times` run as users run them (another working folder,
relative paths).

Expected numbers are computed here from the counts the test recorded (statistics,
zoneinfo), never with the report code.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from conftest import Clock, Recorder, calendar, post, segment
from socialsched.adapters import Capabilities, Receipt
from socialsched.adapters.engagement import COUNTS, Engagement
from socialsched.analytics.collect import Collector
from socialsched.analytics.observations import observations_from_store
from socialsched.analytics.reports import report
from socialsched.calendar.model import Channel
from socialsched.cli import main
from socialsched.runner import Runner
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store.tables import segment_markets

MADRID = segment("madrid", "Europe/Madrid", "ES")
NEW_YORK = segment("new-york", "America/New_York", "US")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def publish_at(store: Store, clock: Clock, recorder, moments: list[datetime]) -> None:
    """Run the runner at each moment (in order): what is due then goes out then."""
    for moment in sorted(set(moments)):
        clock.now = moment
        Runner(
            store, adapters=lambda channel: recorder, sleep=clock.sleep, rng=random.Random(7)
        ).run_until_idle()


class Answering(Recorder):
    """Publishes like `Recorder`, and answers engagement with `counts[delivery id]`
    (the Recorder's remote id is "r-" + the delivery id), fetched at the clock's time.
    The runner collects through it on its own; `collect` collects the rest."""

    name = "answering"
    capabilities = Capabilities(audiences=("any",), delete=True, idempotent=True, engagement=COUNTS)

    def __init__(self, channel: Channel, clock: Clock) -> None:
        super().__init__(channel)
        self.clock = clock
        self.counts: dict[str, dict[str, int | None]] = {}

    def engagement(self, receipts: Sequence[Receipt]) -> dict[str, Engagement]:
        return {
            receipt.remote_id: Engagement(
                fetched_at=self.clock.now, **self.counts[receipt.remote_id.removeprefix("r-")]
            )
            for receipt in receipts
        }


@pytest.fixture
def recorder(clock) -> Answering:
    return Answering(Channel(name="feed", adapter="jsonl", settings={"path": "/x"}), clock)


def collect(store: Store, adapter: Answering) -> None:
    """`socialsched collect`'s Collector: every snapshot due now, through `adapter`."""
    Collector(store, lambda calendar, channel: adapter).collect()


def invoke(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def sqlite_store(tmp_path, clock) -> Store:
    with Store(tmp_path / "outbox.db", clock=clock) as opened:
        yield opened


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from another folder than the database's: it is then ../outbox.db."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _random_counts(ids: list[str], seed: int = 23) -> dict[str, dict[str, int | None]]:
    rng = random.Random(seed)
    found = {}
    for n, delivery_id in enumerate(sorted(ids)):
        found[delivery_id] = {
            "likes": rng.randint(0, 50),
            "reposts": rng.randint(0, 9),
            "replies": rng.randint(0, 5) if n % 3 else None,  # some networks do not say
            "quotes": None,  # no network here gives quotes
            "views": rng.randint(100, 900) if n % 2 else None,
            "clicks": None,
        }
    return found


def _published_sample(store: Store, clock: Clock, recorder, days: int = 4) -> dict:
    posts = [
        post(
            "morning",
            "09:00",
            dates=tuple((date(2027, 1, 4) + timedelta(days=d)).isoformat() for d in range(days)),
            tags=["tips", "launch"],
        ),
        post("evening", "18:00", dates=("2027-01-05",), tags=["tips"]),
    ]
    cal = calendar(posts, segments=[MADRID, NEW_YORK])
    schedule(store, cal, "2027-01-04", (date(2027, 1, 4) + timedelta(days=days)).isoformat())
    moments = [record.utc for record in store.records()]
    counts = _random_counts([r.id for r in store.records()])
    recorder.counts.update(counts)
    publish_at(store, clock, recorder, moments)
    clock.now = max(moments) + timedelta(hours=2)
    published = [r for r in store.records() if r.state == "published"]
    collect(store, recorder)
    return {"records": published, "counts": counts}


def _expected_by_segment(records, counts) -> dict[str, dict]:
    expected: dict[str, dict] = {}
    for name in sorted({r.segment for r in records}):
        ids = [r.id for r in records if r.segment == name]
        row: dict = {"segment": name, "deliveries": len(ids)}
        for count in COUNTS:
            values = [counts[i][count] for i in ids if counts[i][count] is not None]
            row[count] = (
                {"sum": sum(values), "median": float(statistics.median(values))} if values else None
            )
        expected[name] = row
    return expected


def test_report_by_segment_json_gives_the_sums_and_medians_of_what_was_recorded(
    sqlite_store, clock, recorder, elsewhere
):
    sample = _published_sample(sqlite_store, clock, recorder)
    assert len(sample["records"]) == 10  # 5 posts out in each of 2 segments
    result = invoke(["report", "--by", "segment", "--format", "json", "--db", "../outbox.db"])
    assert result.exit_code == 0, result.output
    shown = {row["segment"]: row for row in json.loads(result.stdout)}
    assert shown == _expected_by_segment(sample["records"], sample["counts"])
    assert shown["madrid"]["quotes"] is None and shown["madrid"]["views"] is not None


def test_the_latest_snapshot_of_each_delivery_counts(sqlite_store, clock, recorder, elsewhere):
    sample = _published_sample(sqlite_store, clock, recorder, days=1)
    later = {i: {**c, "likes": (c["likes"] or 0) + 100} for i, c in sample["counts"].items()}
    clock.advance(days=8)  # the 7 d snapshot is due
    recorder.counts.update(later)
    collect(sqlite_store, recorder)
    result = invoke(["report", "--by", "segment", "--format", "json", "--db", "../outbox.db"])
    shown = {row["segment"]: row for row in json.loads(result.stdout)}
    assert shown == _expected_by_segment(sample["records"], later)


def test_report_from_the_python_api_on_both_backends(store, clock, recorder):
    sample = _published_sample(store, clock, recorder, days=2)
    found = observations_from_store(store)
    assert sorted(o.delivery_id for o in found) == sorted(r.id for r in sample["records"])
    groups = {g.keys[0]: g.to_dict() for g in report(found, ["segment"])}
    assert groups == _expected_by_segment(sample["records"], sample["counts"])
    countries = {g.keys: g.deliveries for g in report(found, ["country"])}
    assert countries == {
        ("ES",): sum(r.segment == "madrid" for r in sample["records"]),
        ("US",): sum(r.segment == "new-york" for r in sample["records"]),
    }


def test_several_by_tags_local_hours_and_csv_table_forms(sqlite_store, clock, recorder, elsewhere):
    sample = _published_sample(sqlite_store, clock, recorder, days=2)
    records, counts = sample["records"], sample["counts"]
    zones = {"madrid": ZoneInfo("Europe/Madrid"), "new-york": ZoneInfo("America/New_York")}
    published = {r.id: r for r in records}
    sent = {a.delivery_id: a.at for a in sqlite_store.log() if a.to_state == "published"}
    result = invoke(
        [
            "report",
            "--by",
            "segment",
            "--by",
            "tag",
            "--by",
            "local_hour",
            "--format",
            "json",
            "--db",
            "../outbox.db",
        ]
    )
    assert result.exit_code == 0, result.output
    expected: dict[tuple, list[str]] = defaultdict(list)
    for delivery_id, record in published.items():
        hour = sent[delivery_id].replace(tzinfo=UTC).astimezone(zones[record.segment]).hour
        for tag in record.tags:
            expected[record.segment, tag, hour].append(delivery_id)
    shown = json.loads(result.stdout)
    assert {(r["segment"], r["tag"], r["local_hour"]): r["deliveries"] for r in shown} == {
        key: len(ids) for key, ids in expected.items()
    }
    for row in shown:
        ids = expected[row["segment"], row["tag"], row["local_hour"]]
        assert row["likes"]["sum"] == sum(counts[i]["likes"] for i in ids)

    table = invoke(["report", "--by", "segment", "--db", "../outbox.db"])
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["segment", "deliveries"]
    assert [line.split()[0] for line in lines[1:]] == ["madrid", "new-york"]
    csv_out = invoke(["report", "--by", "country", "--format", "csv", "--db", "../outbox.db"])
    assert csv_out.stdout.splitlines()[0].startswith("country,deliveries,likes_sum,likes_median")
    assert {line.split(",")[0] for line in csv_out.stdout.splitlines()[1:]} == {"ES", "US"}


def test_since_and_until_take_what_went_out_in_the_range(sqlite_store, clock, recorder, elsewhere):
    sample = _published_sample(sqlite_store, clock, recorder)
    sent = {a.delivery_id: a.at for a in sqlite_store.log() if a.to_state == "published"}
    since, until = date(2027, 1, 5), date(2027, 1, 6)  # two whole UTC days
    inside = [r for r in sample["records"] if since <= sent[r.id].date() <= until]
    result = invoke(
        [
            "report",
            "--by",
            "segment",
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
            "--format",
            "json",
            "--db",
            "../outbox.db",
        ]
    )
    assert result.exit_code == 0, result.output
    assert {r["segment"]: r for r in json.loads(result.stdout)} == _expected_by_segment(
        inside, sample["counts"]
    )


def test_an_empty_store_says_so(tmp_path, elsewhere):
    result = invoke(["report", "--by", "segment", "--db", "../outbox.db"])
    assert result.exit_code == 0
    assert "no engagement recorded in this store yet" in result.stderr
    assert result.stdout == ""
    json_out = invoke(["report", "--by", "segment", "--format", "json", "--db", "../outbox.db"])
    assert json.loads(json_out.stdout) == []
    times = invoke(["suggest-times", "madrid", "--db", "../outbox.db"])
    assert times.exit_code == 0
    assert "madrid: nothing proposed: no engagement recorded for segment madrid" in times.stdout


def test_a_range_without_engagement_says_so(sqlite_store, clock, recorder, elsewhere):
    _published_sample(sqlite_store, clock, recorder, days=1)
    result = invoke(["report", "--by", "segment", "--since", "2030-01-01", "--db", "../outbox.db"])
    assert result.exit_code == 0
    assert "no engagement recorded for deliveries in this time range" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["report"],
        ["report", "--by", "market"],
        ["report", "--by", "segment", "--by", "segment"],
        ["report", "--by", "segment", "--since", "2027-13-01"],
        ["report", "--by", "segment", "--since", "2027-02-01", "--until", "2027-01-01"],
        ["report", "--by", "segment", "--format", "xml"],
        ["suggest-times"],
        ["suggest-times", "madrid", "--min-samples", "0"],
        ["suggest-times", "madrid", "--format", "yaml"],
    ],
)
def test_usage_errors_exit_2_with_a_message(args, elsewhere):
    result = CliRunner().invoke(main, [*args, "--db", "../outbox.db"])
    assert result.exit_code == 2, result.output
    assert "Error" in result.output and "Traceback" not in result.output


def test_a_store_without_markets_reads_local_hours_at_the_planned_offset(
    sqlite_store, clock, recorder
):
    sample = _published_sample(sqlite_store, clock, recorder, days=1)
    with sqlite_store.engine.begin() as connection:
        connection.execute(delete(segment_markets))
    found = observations_from_store(sqlite_store)
    planned = {r.id: r.local for r in sample["records"]}
    for observation in found:
        assert observation.country is None
        assert observation.local.utcoffset() == planned[observation.delivery_id].utcoffset()
        assert observation.local == observation.published_at


def test_scheduling_records_each_segments_market(sqlite_store):
    schedule(
        sqlite_store, calendar([post("a")], segments=[MADRID, NEW_YORK]), "2027-01-04", "2027-01-04"
    )
    from socialsched.store.markets import Market, markets

    assert markets(sqlite_store.engine) == {
        ("cal", "madrid"): Market("Europe/Madrid", "ES"),
        ("cal", "new-york"): Market("America/New_York", "US"),
    }
    schedule(sqlite_store, calendar([post("a")], segments=[MADRID]), "2027-01-04", "2027-01-04")
    assert set(markets(sqlite_store.engine)) == {("cal", "madrid")}


# ---- suggest-times ----


def test_suggest_times_proposes_the_best_local_hours_with_their_samples_and_toml_lints(
    sqlite_store, clock, recorder, elsewhere, tmp_path
):
    days = [date(2027, 1, 4) + timedelta(days=d) for d in range(6)]
    dates = tuple(day.isoformat() for day in days)
    posts = [post(f"p{hour}", f"{hour:02d}:00", dates=dates) for hour in (8, 13, 19)]
    cal = calendar(posts, segments=[MADRID, NEW_YORK])
    schedule(sqlite_store, cal, dates[0], dates[-1])
    rng = random.Random(5)
    # Madrid answers best at 19:00 and worst at 08:00 (local: the planned times are the
    # publication times here).
    base = {8: 1, 13: 10, 19: 30}
    counts = {}
    for r in sqlite_store.records():
        counts[r.id] = {
            "likes": base[r.local.hour] + rng.randint(0, 5),
            "reposts": rng.randint(0, 2),
            "replies": None,
            "quotes": None,
            "views": None,
            "clicks": None,
        }
    recorder.counts.update(counts)
    publish_at(sqlite_store, clock, recorder, [r.utc for r in sqlite_store.records()])
    clock.now = datetime(2027, 1, 12, tzinfo=UTC)
    records = [r for r in sqlite_store.records() if r.state == "published"]
    collect(sqlite_store, recorder)
    # Six deliveries behind each hour: fewer than 7, so nothing is proposed.
    result = invoke(
        [
            "suggest-times",
            "madrid",
            "new-york",
            "--min-samples",
            "7",
            "--format",
            "json",
            "--db",
            "../outbox.db",
        ]
    )
    data = {row["segment"]: row for row in json.loads(result.stdout)}
    assert data["madrid"]["times"] == [] and "need 7" in data["madrid"]["note"]

    result = invoke(
        [
            "suggest-times",
            "madrid",
            "--min-samples",
            "6",
            "--top",
            "2",
            "--format",
            "json",
            "--db",
            "../outbox.db",
        ]
    )
    data = {row["segment"]: row for row in json.loads(result.stdout)}
    scores: dict[int, list[int]] = defaultdict(list)
    for r in records:
        if r.segment == "madrid":
            scores[r.local.hour].append(counts[r.id]["likes"] + counts[r.id]["reposts"])
    best = sorted(scores, key=lambda hour: -statistics.median(scores[hour]))[:2]
    assert [t["time"] for t in data["madrid"]["times"]] == [f"{h:02d}:00" for h in best]
    assert [t["median"] for t in data["madrid"]["times"]] == [
        float(statistics.median(scores[h])) for h in best
    ]
    assert [t["samples"] for t in data["madrid"]["times"]] == [len(scores[h]) for h in best]

    toml_out = invoke(
        [
            "suggest-times",
            "madrid",
            "new-york",
            "--min-samples",
            "6",
            "--top",
            "2",
            "--format",
            "toml",
            "--db",
            "../outbox.db",
        ]
    )
    assert toml_out.exit_code == 0, toml_out.output
    calendar_file = elsewhere / "calendar.toml"
    calendar_file.write_text(
        '[calendar]\nname = "best"\n\n'
        '[[segment]]\nname = "madrid"\nlocale = "es-ES"\ntimezone = "Europe/Madrid"\n'
        'country = "ES"\n\n'
        '[[segment]]\nname = "new-york"\nlocale = "en-US"\ntimezone = "America/New_York"\n'
        'country = "US"\n\n'
        '[[channel]]\nname = "feed"\nadapter = "console"\n\n'
        + toml_out.stdout
        + '\n[[post]]\nid = "tip"\nqueue = "best-madrid"\nsegments = ["madrid"]\n'
        'text = "A tip."\n',
        encoding="utf-8",
    )
    lint = invoke(["lint", "calendar.toml"])
    assert lint.exit_code == 0, lint.output
    shown = invoke(
        [
            "queue",
            "show",
            "calendar.toml",
            "--start",
            "2027-02-01",
            "--end",
            "2027-02-01",
            "--format",
            "json",
        ]
    )
    assert shown.exit_code == 0, shown.output
    slots = json.loads(shown.stdout)
    assert sorted(
        datetime.fromisoformat(s["local"]).strftime("%H:%M")
        for s in slots
        if s["queue"] == "best-madrid"
    ) == sorted(f"{h:02d}:00" for h in best)


def test_since_and_until_take_ages_as_log_and_collect_do(sqlite_store, clock, recorder, elsewhere):
    # The deliveries went out in 2027: after any time an age points to.
    _published_sample(sqlite_store, clock, recorder, days=1)
    db = ["--db", "../outbox.db"]
    everything = invoke(["report", "--by", "segment", "--format", "json", *db])
    recent = invoke(["report", "--by", "segment", "--since", "30d", "--format", "json", *db])
    assert json.loads(recent.stdout) == json.loads(everything.stdout) != []
    old = invoke(["report", "--by", "segment", "--until", "30d", "--format", "json", *db])
    assert json.loads(old.stdout) == []
    assert "in this time range" in old.stderr
