"""The real local PDS (with a PLC directory) from @atproto/dev-env that the Bluesky tests
publish to: one for the whole session, started by `pds/start_pds.js`, which creates an
account with an app password and prints {url, handle, did, app_password, alice_did}.

`bsky_network` is a second, fuller one (`pds/start_network.js`): a PDS with a Bluesky
AppView behind it, which indexes into PostgreSQL and uses Redis, for the engagement
tests (likes and reposts are counted by the AppView, not the PDS).

Needs `npm ci --prefix plugins/socialsched-bluesky/tests/pds`; the tests that use it are
skipped, saying so, when Node or those packages are missing (and, for `bsky_network`,
when PostgreSQL or Redis does not answer).
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import socket
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PDS_DIR = Path(__file__).parent / "pds"
PG_URL = os.environ.get("SOCIALSCHED_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("SOCIALSCHED_TEST_REDIS", "127.0.0.1:6379")
INSTALL_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of each local network run on one pytest-xdist worker (the root
    conftest.py's `worker_group`): every worker that runs one starts its own PDS (and
    AppView), several seconds of CPU each."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture in ("bsky_network", "pds"):
            if fixture in names:
                item.add_marker(pytest.mark.worker_group(f"bluesky-{fixture}"))
                break


def _wait_for_install() -> None:
    """Wait for `nox -s tests`' background `npm ci` of the PDS, when it runs one: it
    names the file where npm's exit status appears when it ends."""
    status = os.environ.get("SOCIALSCHED_PDS_INSTALL_STATUS")
    if not status:
        return
    deadline = time.monotonic() + INSTALL_TIMEOUT
    while not os.path.exists(status):
        if time.monotonic() > deadline:
            pytest.fail(f"npm ci of the local PDS did not end within {INSTALL_TIMEOUT} s")
        time.sleep(0.5)
    code = Path(status).read_text()
    if code != "0":
        pytest.fail(f"npm ci of the local PDS failed (exit status {code}); nox prints its log")


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _wait_for_install()
    node = shutil.which("node")
    if node is None or not (PDS_DIR / "node_modules" / "@atproto" / "dev-env").is_dir():
        pytest.skip(f"local PDS not installed: run `npm ci --prefix {PDS_DIR}`")
    # A file, not a pipe: nobody reads the PDS's log while it runs, and a full pipe
    # would stop it.
    log = tmp_path_factory.mktemp("pds") / "pds.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [node, "start_pds.js"],
            cwd=PDS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    assert process.stdout is not None and process.stdin is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=120)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        pytest.fail(f"local PDS did not start: {log.read_text()[-2000:]}")
    try:
        yield json.loads(line)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Network:
    """The running PDS + AppView: `info` is what start_network.js printed; `index()`
    waits until the AppView has indexed everything the PDS has."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info

    def index(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("index\n")
        self.process.stdin.flush()
        assert _read_line(self.process, timeout=60) == "indexed\n"


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=timeout)
    selector.close()
    return process.stdout.readline() if ready else ""


def _network_problem() -> str | None:
    """Why the PDS + AppView cannot run here, or None."""
    _wait_for_install()
    if shutil.which("node") is None or not (PDS_DIR / "node_modules" / "@atproto").is_dir():
        return f"local PDS not installed: run `npm ci --prefix {PDS_DIR}`"
    host, _, port = REDIS.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        return f"Redis at {REDIS} does not answer (the local AppView needs it)"
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL at {PG_URL} does not answer ({type(error).__name__})"
    return None


def _drop_schemas(schema: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        for prefix in ("appview", "ozone"):
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{prefix}_{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(scope="session")
def bsky_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    problem = _network_problem()
    if problem:
        pytest.skip(problem)
    # The AppView's tables go in schemas of their own (letters only, as it requires),
    # dropped afterwards.
    schema = "socialsched_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
    environ = {
        **os.environ,
        "DB_POSTGRES_URL": PG_URL.replace("postgresql+psycopg://", "postgresql://"),
        "DB_POSTGRES_SCHEMA": schema,
        "REDIS_HOST": REDIS,
    }
    log = tmp_path_factory.mktemp("network") / "network.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(shutil.which("node")), "start_network.js"],
            cwd=PDS_DIR,
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        line = _read_line(process, timeout=180)
        if not line:
            process.kill()
            process.wait()
            pytest.fail(f"local PDS and AppView did not start: {log.read_text()[-2000:]}")
        yield Network(process, json.loads(line))
    finally:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _drop_schemas(schema)
