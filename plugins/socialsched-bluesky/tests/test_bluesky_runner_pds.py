"""Issue 12's "done when" on a real network: a runner SIGKILLed in the middle of a
five-part thread (before part 3 went out, or after it went out but before it was
recorded), then restarted, leaves exactly five posts on the local PDS, in order, each
once, as one reply chain, the first with its image and alt text. The calendar is
scheduled and run from another folder than its own, with relative paths, as operators
do; the runner reads the media from the store."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from atproto import Client, models
from PIL import Image

from socialsched.media import digest_of
from socialsched.store import Store

# socialsched's own runner that stops at one part of a thread, told to stop this
# plugin's adapter.
STOP_RUNNER = Path(__file__).parents[3] / "tests" / "store" / "thread_stop_runner.py"
SENTENCES = [
    f"Partie {word} de l'annonce du salon : le stand B12 du hall 4 vous attend avec nos "
    f"nouveautés de printemps, une démonstration toutes les heures et un café offert à "
    f"chaque visiteur qui vient nous voir ({word})."
    for word in ("un", "deux", "trois", "quatre", "cinq")
]


def socialsched(*args: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "socialsched", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)


def calendar(folder: Path, pds: dict[str, Any], due: datetime) -> bytes:
    folder.mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (80, 40), (200, 20, 20)).save(buffer, "PNG")
    (folder / "stand.png").write_bytes(buffer.getvalue())
    (folder / "calendar.toml").write_text(
        '[calendar]\nname = "salon"\n\n'
        '[[segment]]\nname = "paris"\nlocale = "fr-FR"\ntimezone = "UTC"\ncountry = "FR"\n\n'
        '[[channel]]\nname = "bsky"\nadapter = "bluesky"\n'
        'secrets = { app_password = "BSKY_RUNNER_PASSWORD" }\n'
        f'settings = {{ handle = "{pds["handle"]}", service = "{pds["url"]}" }}\n\n'
        f'[[post]]\nid = "salon-thread"\ntext = "{" ".join(SENTENCES)}"\nthread = true\n'
        f'late = "publish"\ndates = ["{due:%Y-%m-%d}"]\nat = "{due:%H:%M}"\n'
        'media = [{ path = "stand.png", alt = "Le stand B12, hall 4" }]\n',
        encoding="utf-8",
    )
    return buffer.getvalue()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, "the runner exited before it reached part 3"
        assert time.monotonic() < deadline, "timed out waiting for the runner to reach part 3"
        time.sleep(0.05)


def thread_posts(client: Client, did: str) -> list[Any]:
    listed = client.com.atproto.repo.list_records(
        params=models.ComAtprotoRepoListRecords.Params(
            repo=did, collection="app.bsky.feed.post", limit=100
        )
    )
    return [r for r in listed.records if r.value.text.startswith("Partie ")]


@pytest.mark.parametrize(
    ("stop_when", "stored_at_kill"),
    [("before", 2), ("after", 3)],
    ids=["killed-sending-part-3", "killed-after-part-3-went-out"],
)
def test_a_runner_killed_mid_thread_leaves_five_posts_once_each_in_order(
    pds: dict[str, Any], tmp_path: Path, stop_when: str, stored_at_kill: int
) -> None:
    client = Client(base_url=pds["url"])
    client.login(pds["handle"], pds["app_password"], fetch_bsky_profile=False)
    for record in thread_posts(client, pds["did"]):  # from the other parametrisation
        client.com.atproto.repo.delete_record(
            models.ComAtprotoRepoDeleteRecord.Data(
                repo=pds["did"], collection="app.bsky.feed.post", rkey=record.uri.split("/")[-1]
            )
        )
    due = datetime.now(UTC) - timedelta(minutes=2)
    banner = calendar(tmp_path / "calendar", pds, due)
    ops = tmp_path / "ops"
    ops.mkdir()
    env = {"SOCIALSCHED_SECRET_BSKY_RUNNER_PASSWORD": pds["app_password"]}
    day = f"{due:%Y-%m-%d}"
    socialsched(
        "schedule", "../calendar/calendar.toml", "--db", "../outbox.db",
        "--start", day, "--end", day, cwd=ops, env=env,
    )  # fmt: skip
    socialsched("channels", "approve", "--all", "--db", "../outbox.db", cwd=ops, env=env)

    mark = tmp_path / "stopped"
    stopping = subprocess.Popen(
        [sys.executable, str(STOP_RUNNER), "run", "--db", "../outbox.db", "--lease", "1",
         "--poll", "0.3"],
        cwd=ops,
        env={**os.environ, **env, "STOP_PART": "3", "STOP_WHEN": stop_when,
             "STOP_MARK": str(mark), "STOP_ADAPTER": "socialsched_bluesky:BlueskyAdapter"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(mark.exists, stopping)
    finally:
        stopping.send_signal(signal.SIGKILL)
        stopping.wait(timeout=10)
    assert len(thread_posts(client, pds["did"])) == stored_at_kill

    socialsched(
        "run", "--db", "../outbox.db", "--until-idle", "--lease", "1", "--poll", "0.3",
        cwd=ops, env=env,
    )  # fmt: skip

    posts = thread_posts(client, pds["did"])
    by_uri = {post.uri: post for post in posts}
    (root,) = [post for post in posts if post.value.reply is None]
    chain = [root]
    while child := next((p for p in posts if p.value.reply and
                         p.value.reply.parent.uri == chain[-1].uri), None):  # fmt: skip
        chain.append(child)
    assert len(posts) == 5 and len(chain) == 5  # five posts, one reply chain, each once
    assert [post.value.text for post in chain] == [f"{s} {n}/5" for n, s in enumerate(SENTENCES, 1)]
    for post in chain[1:]:
        assert post.value.reply.root.uri == root.uri
        assert by_uri[post.value.reply.parent.uri].cid == post.value.reply.parent.cid
    (image,) = root.value.embed.images
    assert image.alt == "Le stand B12, hall 4"
    stored = client.com.atproto.sync.get_blob(
        params=models.ComAtprotoSyncGetBlob.Params(did=pds["did"], cid=str(image.image.cid))
    )
    assert digest_of(bytes(stored)) == digest_of(banner)
    assert all(post.value.embed is None for post in chain[1:])

    with Store(tmp_path / "outbox.db") as store:
        (record,) = store.records()
        assert record.state == "published"
        assert [p["remote_id"] for p in record.receipt["extra"]["parts"]] == [
            post.uri for post in chain
        ]
