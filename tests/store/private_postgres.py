"""A throwaway PostgreSQL cluster of a test's own (initdb + pg_ctl in a scratch folder,
on a free port of 127.0.0.1), which the test may stop and start again: the machine's
shared server is never touched. Skips when no PostgreSQL server binaries are
installed (fails under CI, which must run these tests)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivatePostgres:
    """One cluster: `url` to reach it, `stop()` and `start()` it, `close()` removes it."""

    def __init__(self) -> None:
        binaries = _binaries()
        if binaries is None:
            message = "no PostgreSQL server binaries (initdb) installed"
            if os.environ.get("CI"):
                pytest.fail(message + " (CI must run the database-outage tests)")
            pytest.skip(message)
        self._bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="socialsched-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root: then it runs as the postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as, str(self._bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (tool, result.stdout, result.stderr)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                engine = sqlalchemy.create_engine(self.url, connect_args={"connect_timeout": 2})
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                engine.dispose()
                return
            except sqlalchemy.exc.OperationalError:
                assert time.monotonic() < deadline, "the private PostgreSQL did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server now (open connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        subprocess.run(
            [*self._as, str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
