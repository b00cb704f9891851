"""The real local PDS (with a PLC directory) from @atproto/dev-env that the Bluesky tests
publish to: one for the whole session, started by `pds/start_pds.js`, which creates an
account with an app password and prints {url, handle, did, app_password, alice_did}.

Needs `npm ci --prefix plugins/socialsched-bluesky/tests/pds`; the tests that use it are
skipped, saying so, when Node or those packages are missing.
"""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PDS_DIR = Path(__file__).parent / "pds"


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
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
