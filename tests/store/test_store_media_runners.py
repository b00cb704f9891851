"""Media and threads from a calendar file to the network, through the store, as
operators run them: `schedule` keeps media in the database, runners elsewhere need no
calendar files, a runner killed in the middle of a thread is resumed by the next one
without reposting a part."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from PIL import Image
from runner_process import socialsched

from conftest import PG_URL, require_postgres
from socialsched.planning.calendar_load import load
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.testing import LocalServer

STOP_RUNNER = Path(__file__).with_name("thread_stop_runner.py")
SENTENCES = [
    f"Sentence {word} of our launch announcement, in full."
    for word in ("one", "two", "three", "four", "five")
]
# Each sentence fits in 60 characters with its " i/5", two do not: five parts.
THREAD_LIMIT = 60


def png(color: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def jsonl_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def thread_calendar(folder: Path, out: Path, due: datetime) -> Path:
    folder.mkdir()
    (folder / "banner.png").write_bytes(png((200, 20, 20)))
    text = " ".join(SENTENCES)
    path = folder / "calendar.toml"
    path.write_text(
        '[calendar]\nname = "threads"\n\n'
        '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n\n'
        f'[[channel]]\nname = "feed"\nadapter = "jsonl"\n'
        f'settings = {{ path = "{out}", max_length = {THREAD_LIMIT} }}\n\n'
        f'[[post]]\nid = "launch"\ntext = "{text}"\nthread = true\nlate = "publish"\n'
        f'dates = ["{due:%Y-%m-%d}"]\nat = "{due:%H:%M}"\n'
        'media = [{ path = "banner.png", alt = "The launch banner" }]\n',
        encoding="utf-8",
    )
    return path


def wait_for(condition, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        assert process is None or process.poll() is None, f"the runner exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("stop_when", "written_at_kill"),
    [("before", 2), ("after", 3)],
    ids=["killed-sending-part-3", "killed-after-part-3-went-out"],
)
def test_a_runner_killed_mid_thread_leaves_each_of_five_parts_once_in_order(
    tmp_path, stop_when, written_at_kill
):
    due = datetime.now(UTC) - timedelta(minutes=2)
    # The jsonl "network" lives in the calendar's folder, where calendar paths must be.
    network = tmp_path / "calendar" / "network.jsonl"
    thread_calendar(tmp_path / "calendar", network, due)
    ops = tmp_path / "ops"
    ops.mkdir()
    db = "../outbox.db"
    day = f"{due:%Y-%m-%d}"
    socialsched(
        "schedule", "../calendar/calendar.toml", "--db", db, "--start", day, "--end", day, cwd=ops
    )
    socialsched("channels", "approve", "--all", "--db", db, cwd=ops)
    mark = tmp_path / "stopped"
    stopping = subprocess.Popen(
        [sys.executable, str(STOP_RUNNER), "run", "--db", db, "--lease", "1", "--poll", "0.3"],
        cwd=ops,
        env={**os.environ, "STOP_PART": "3", "STOP_WHEN": stop_when, "STOP_MARK": str(mark)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(mark.exists, "the runner reached part 3", stopping)
    finally:
        stopping.send_signal(signal.SIGKILL)
        stopping.wait(timeout=10)
    assert [r["part"] for r in jsonl_records(network)] == list(range(1, written_at_kill + 1))

    socialsched("run", "--db", db, "--until-idle", "--lease", "1", "--poll", "0.3", cwd=ops)

    with Store(tmp_path / "outbox.db") as store:
        (record,) = store.records()
        records = jsonl_records(network)
        keys = [r["idempotency_key"] for r in records]
        assert keys == [record.id, *(f"{record.id}#{n}" for n in range(2, 6))]
        assert [r["text"] for r in records] == [f"{s} {n}/5" for n, s in enumerate(SENTENCES, 1)]
        assert [(r["part"], r["parts"]) for r in records] == [(n, 5) for n in range(1, 6)]
        # The jsonl adapter's receipts carry the idempotency key as the remote id.
        assert [r["reply_to"] for r in records] == [None, *keys[:4]]
        assert [r["thread_root"] for r in records] == [None, *[keys[0]] * 4]
        banner = (tmp_path / "calendar" / "banner.png").read_bytes()
        assert [len(r["attachments"]) for r in records] == [1, 0, 0, 0, 0]
        assert records[0]["attachments"][0]["digest"] == sha256(banner)
        assert records[0]["attachments"][0]["alt"] == "The launch banner"
        assert record.state == "published"
        assert [p["remote_id"] for p in record.receipt["extra"]["parts"]] == keys
        published = [e for e in store.log(delivery=record.id) if e.to_state == "published"]
        assert [e.media for e in published] == [
            ({"digest": sha256(banner), "filename": "banner.png", "alt": "The launch banner"},)
        ]


def test_scheduling_again_reads_no_media_file_and_a_replaced_file_updates_deliveries(tmp_path):
    calendar_file = thread_calendar(
        tmp_path / "calendar",
        tmp_path / "calendar" / "out.jsonl",
        datetime(2031, 3, 3, 9, tzinfo=UTC),
    )
    banner = tmp_path / "calendar" / "banner.png"
    original = banner.read_bytes()
    calendar = load(calendar_file)
    with Store(tmp_path / "outbox.db") as store:

        def stored(table: str) -> list[str]:
            with store.engine.connect() as connection:
                query = sqlalchemy.text(f"SELECT digest FROM {table}")
                return connection.execute(query).scalars().all()

        tried = schedule(store, calendar, "2031-03-03", "2031-03-03", dry_run=True)
        assert len(tried.added) == 1
        assert stored("media") == stored("media_sources") == []  # a dry run keeps nothing
        first = schedule(store, calendar, "2031-03-03", "2031-03-03")
        (key,) = first.added
        assert stored("media") == stored("media_sources") == [sha256(original)]
        # Other bytes of the same size, the modification time put back: a planner that
        # read the file again would see other media.
        stat = banner.stat()
        banner.write_bytes(bytes(len(original)))
        os.utime(banner, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        again = schedule(store, calendar, "2031-03-03", "2031-03-03")
        assert not again.changed and again.unchanged == 1
        assert [m.digest for m in store.get(key).media] == [sha256(original)]

        replacement = png((20, 20, 200), (64, 40))
        banner.write_bytes(replacement)
        result = schedule(store, load(calendar_file), "2031-03-03", "2031-03-03")
        assert result.updated == (key,)
        (media,) = store.get(key).media
        assert (media.digest, media.read()) == (sha256(replacement), replacement)
        assert store.log(delivery=key)[-1].reason == "media changed"


@pytest.fixture
def pg_db():
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.mark.slow
def test_two_runners_without_the_calendar_files_publish_the_stored_media(tmp_path, pg_db):
    due = datetime.now(UTC) - timedelta(minutes=2)
    banners = {"en": png((250, 200, 0)), "es": png((0, 120, 250), (60, 40))}
    alts = {"en": "Our new app on a phone", "es": "Nuestra nueva app en un móvil"}
    folder = tmp_path / "calendar"
    (folder / "img").mkdir(parents=True)
    for language, data in banners.items():
        (folder / "img" / f"banner.{language}.png").write_bytes(data)
    posts = "".join(
        f'[[post]]\nid = "p{n}"\ntext = "Launch {n}"\nlate = "publish"\n'
        f'dates = ["{due:%Y-%m-%d}"]\nat = "{due:%H:%M}"\n'
        f'media.default = [{{ path = "img/banner.en.png", alt = "{alts["en"]}" }}]\n'
        f'media.es = [{{ path = "img/banner.es.png", alt = "{alts["es"]}" }}]\n\n'
        for n in range(6)
    )
    key = "whsec_" + base64.b64encode(b"media-signing-key-0123456789").decode()
    env = {"SOCIALSCHED_SECRET_MEDIA_SIGNING_KEY": key}
    with LocalServer() as receiver:
        (folder / "calendar.toml").write_text(
            '[calendar]\nname = "media"\n\n'
            '[[segment]]\nname = "uk"\nlocale = "en-GB"\ntimezone = "UTC"\ncountry = "GB"\n\n'
            '[[segment]]\nname = "es"\nlocale = "es-ES"\ntimezone = "UTC"\ncountry = "ES"\n\n'
            f'[[channel]]\nname = "hook"\nadapter = "webhook"\n'
            f'settings = {{ url = "{receiver.url}/hook" }}\n'
            'secrets = { signing_key = "MEDIA_SIGNING_KEY" }\n\n' + posts,
            encoding="utf-8",
        )
        ops = tmp_path / "ops"
        ops.mkdir()
        day = f"{due:%Y-%m-%d}"
        socialsched(
            "schedule", "../calendar/calendar.toml", "--db", pg_db, "--start", day, "--end", day,
            cwd=ops,
        )  # fmt: skip
        socialsched("channels", "approve", "--all", "--db", pg_db, cwd=ops)
        shutil.rmtree(folder)  # the runners' machines have no calendar files
        runners = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            runners.append(
                subprocess.Popen(
                    [sys.executable, "-m", "socialsched", "run", "--db", pg_db, "--until-idle",
                     "--batch", "2", "--poll", "0.3", "--worker", f"runner-{name}", "-q"],
                    cwd=tmp_path / name,
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )  # fmt: skip
        for process in runners:
            _, errors = process.communicate(timeout=120)
            assert process.returncode == 0, errors

        with Store(pg_db) as store:
            records = {r.id: r for r in store.records()}
            assert len(records) == 12 and {r.state for r in records.values()} == {"published"}
            sent = {}
            for request in receiver.requests:
                body = request.json()
                sent.setdefault(request.header("Idempotency-Key"), []).append(body)
            assert set(sent) == set(records) and all(len(b) == 1 for b in sent.values())
            for key, (body,) in sent.items():
                language = "es" if records[key].segment == "es" else "en"
                (attachment,) = body["attachments"]
                assert base64.b64decode(attachment["data"]) == banners[language]
                assert attachment["digest"] == sha256(banners[language])
                assert attachment["alt"] == alts[language]
            workers = {e.actor for e in store.log() if e.to_state == "published"}
            log_entries = [e for e in store.log() if e.to_state == "published"]

        shown = socialsched("log", "--db", pg_db, cwd=tmp_path / "a").stdout.splitlines()
    published_lines = [line for line in shown if "-> published" in line]
    assert len(published_lines) == len(log_entries) == 12
    for entry in log_entries:
        (line,) = [line for line in published_lines if line.split()[2] == entry.delivery_id]
        (media,) = entry.media
        assert f"media={media['filename']}@{media['digest'][:12]}" in line
        assert f"alt={json.dumps(media['alt'], ensure_ascii=False)}" in line
    assert workers <= {"runner-a", "runner-b"}
