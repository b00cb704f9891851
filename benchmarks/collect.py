"""Engagement collection: requests made for many published Bluesky deliveries.

A store is seeded directly with N published deliveries of one Bluesky channel (each
with a receipt naming its post's at:// URI, published two hours ago, so each is due
for its 1 h snapshot). `socialsched.analytics.collect.Collector` then collects them through the
real Bluesky adapter from a fake XRPC server on 127.0.0.1 that counts the requests it
gets. The server is the channel's `appview` (allowed through
SOCIALSCHED_ALLOWED_NETWORKS=127.0.0.1/32, set here) and its `service` (the PDS) too,
so a login would be counted: `app.bsky.feed.getPosts` is public, taken at most 25 URIs a
call, with no login and no token. The baseline is one request per delivery (a getPosts
per post, as a collector asking post by post would make).

Checked, not only printed: every delivery gets its snapshot with the counts the
server gave, all requests together are at most N / 25 (400 for 10,000), none is a
login or carries an Authorization header, and a second run at once makes no request
at all (nothing is due).

    python benchmarks/collect.py                 # 10,000 deliveries, SQLite
    python benchmarks/collect.py --size 500      # quick check
    python benchmarks/collect.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy

from socialsched.analytics.collect import Collector, store_adapters
from socialsched.calendar.model import Calendar, Channel, Segment
from socialsched.scheduling import schedule
from socialsched.store import Store
from socialsched.store.tables import deliveries
from socialsched.testing import LocalServer, Reply, Request
from socialsched.trust.safe_fetch import ALLOWED_NETWORKS_VARIABLE

DID = "did:plc:benchcollect"
SECRET = "BENCH_BSKY_APP_PASSWORD"
GET_POSTS_MAX = 25


def fake_jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = {"exp": int(time.time()) + 7200, "iat": int(time.time()), "sub": DID}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(payload)}.c2ln"


def counts(uri: str) -> dict[str, int]:
    """The fake AppView's counts of the post at `uri` (from its record key)."""
    n = int(uri.rsplit("/", 1)[1].removeprefix("k"))
    return {"likeCount": n % 11, "repostCount": n % 5, "replyCount": n % 3, "quoteCount": n % 2}


class FakeXrpc(LocalServer):
    """A PDS and AppView answering createSession and getPosts (every post it is asked
    about exists); counts requests per method, and those carrying a token."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}
        self.with_token = 0
        self.largest = 0

    def respond(self, request: Request, number: int) -> Reply | None:
        url = urlsplit(request.path)
        method = url.path.removeprefix("/xrpc/")
        self.calls[method] = self.calls.get(method, 0) + 1
        if request.header("Authorization") is not None:
            self.with_token += 1
        if method == "com.atproto.server.createSession":
            jwt = fake_jwt()
            return Reply(
                200, {"accessJwt": jwt, "refreshJwt": jwt, "handle": "brand.example", "did": DID}
            )
        if method == "app.bsky.feed.getPosts":
            uris = parse_qs(url.query).get("uris", [])
            self.largest = max(self.largest, len(uris))
            if len(uris) > GET_POSTS_MAX:
                return Reply(400, {"error": "InvalidRequest", "message": "too many uris"})
            return Reply(200, {"posts": [view(uri) for uri in uris]})
        return Reply(404, {"error": "MethodNotImplemented"})

    def reset(self) -> None:
        with self._lock:
            self.calls = {}
            self.with_token = 0


def view(uri: str) -> dict[str, Any]:
    record = {"$type": "app.bsky.feed.post", "text": "t", "createdAt": "2030-01-01T09:00:00Z"}
    return {
        "uri": uri,
        "cid": "bafyexisting",
        "author": {"did": DID, "handle": "brand.example"},
        "record": record,
        "indexedAt": record["createdAt"],
        **counts(uri),
    }


def seed(store: Store, service: str, size: int) -> dict[str, str]:
    """A calendar with one Bluesky channel (its PDS and AppView both `service`),
    approved; `size` deliveries published two hours ago, inserted directly. Returns
    their ids by post URI."""
    channel = Channel(
        name="sky",
        adapter="bluesky",
        secrets={"app_password": SECRET},
        settings={"handle": "brand.example", "service": service, "appview": service},
    )
    segment = Segment(name="uk", locale="en-GB", timezone="UTC", country="GB")
    cal = Calendar(segments=[segment], channels=[channel], posts=[], name="bench")
    schedule(store, cal, "2030-01-01", "2030-01-01")
    store.approve_channels()
    sent = store.now() - timedelta(hours=2)
    rows = []
    ids: dict[str, str] = {}
    for n in range(size):
        uri = f"at://{DID}/app.bsky.feed.post/k{n}"
        key = uuid.uuid5(uuid.NAMESPACE_URL, uri).hex[:20]
        ids[uri] = key
        rows.append(
            {
                "id": key,
                "calendar": "bench",
                "post": f"p{n % 50}",
                "segment": "uk",
                "channel": "sky",
                "adapter": "bluesky",
                "locale": "en-GB",
                "utc": sent,
                "local": sent.replace(tzinfo=UTC).isoformat(),
                "local_day": sent.date().isoformat(),
                "text": "t",
                "tags": "[]",
                "state": "published",
                "due": sent,
                "sent_at": sent,
                "receipt": json.dumps({"remote_id": uri, "url": None, "extra": {}}),
                "updated_at": sent,
            }
        )
    with store.engine.begin() as connection:
        for start in range(0, len(rows), 1000):
            connection.execute(deliveries.insert(), rows[start : start + 1000])
    return ids


def open_store(db: str | None, folder: Path) -> tuple[Store, str | None]:
    if db is None:
        return Store(folder / "collect.db"), None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    return Store(db, schema=schema), schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="published deliveries")
    parser.add_argument("--db", help="a PostgreSQL URL (default: an SQLite file)")
    args = parser.parse_args(argv)
    os.environ[f"SOCIALSCHED_SECRET_{SECRET}"] = "bench-app-password"
    # The fake AppView is on the loopback, which engagement reads refuse unless allowed.
    os.environ[ALLOWED_NETWORKS_VARIABLE] = "127.0.0.1/32"
    with tempfile.TemporaryDirectory() as tmp, FakeXrpc() as server:
        store, schema = open_store(args.db, Path(tmp))
        try:
            ids = seed(store, server.url, args.size)
            due = sum(store.engagement_due_counts().values())
            server.reset()
            adapters, close = store_adapters(store)
            started = time.perf_counter()
            result = Collector(store, adapters).collect()
            seconds = time.perf_counter() - started
            close()
            first = dict(server.calls)
            with_token = server.with_token
            server.reset()
            adapters, close = store_adapters(store)
            again = Collector(store, adapters).collect()
            close()
            second = dict(server.calls)
            facts = store.engagement_facts()
        finally:
            store.close()
            if schema is not None:
                engine = sqlalchemy.create_engine(args.db)
                with engine.begin() as connection:
                    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                engine.dispose()

    get_posts = first.get("app.bsky.feed.getPosts", 0)
    logins = first.get("com.atproto.server.createSession", 0)
    requests = sum(first.values())
    baseline = args.size
    print(f"engagement collection, {args.size:,} published Bluesky deliveries ({due:,} due)")
    print(f"  {'baseline (one request per delivery):':<44}{baseline:>8,} requests")
    print(
        f"  {'socialsched collect:':<44}{requests:>8,} requests "
        f"({logins} login, {get_posts:,} getPosts of at most {server.largest} URIs, "
        f"{with_token} with a token; {result.calls} adapter calls) in {seconds:.2f} s"
    )
    print(f"  {'baseline / ours (getPosts):':<44}{baseline / max(1, get_posts):>8.1f}x")
    print(f"  {'second run at once:':<44}{sum(second.values()):>8,} requests")

    expected = {uri: counts(uri) for uri in ids}
    stored = {fact.delivery_id: fact.engagement for fact in facts}
    problems = []
    if len(stored) != args.size or result.totals.snapshots != args.size:
        problems.append(f"{len(stored)} snapshots stored, {args.size} expected")
    for uri, key in ids.items():
        got = stored.get(key)
        want = expected[uri]
        if got is None or (got.likes, got.reposts, got.replies, got.quotes) != (
            want["likeCount"],
            want["repostCount"],
            want["replyCount"],
            want["quoteCount"],
        ):
            problems.append(f"{key}: stored {got}, the server gave {want}")
            break
    if requests > math.ceil(args.size / GET_POSTS_MAX):
        problems.append(f"{requests} requests, over {math.ceil(args.size / GET_POSTS_MAX)}")
    if logins or with_token:
        problems.append(f"{logins} logins, {with_token} requests with a token: reads need none")
    if second or again.calls:
        problems.append(f"the second run made {second} requests")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
