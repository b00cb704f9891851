"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s bench`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import nox

# Every adapter distribution under plugins/, installed with its test extra so its own
# tests run in the main test command.
# The example plugin is left out: a test installs and uninstalls it in its own venv.
PLUGINS = sorted(
    str(p.parent)
    for p in Path("plugins").glob("*/pyproject.toml")
    if p.parent.name != "socialsched-example"
)
BLUESKY_PDS = Path("plugins/socialsched-bluesky/tests/pds")

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, the plugins' own tests included."""
    _stop_on_sigterm()
    # A real local Bluesky PDS for the bluesky plugin's tests (skipped, saying so, without
    # it), installed while the rest installs and the other tests run.
    pds_install = _PdsInstall.start(session)
    try:
        _install(session, "-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", f"{p}[test]")))
        session.run(
            "pytest",
            *_parallel_options(session.posargs),
            *session.posargs,
            env={
                # Bytecode caches, even where the caller's environment turns them off: each
                # worker would otherwise compile every module it imports and rewrite the
                # assertions of every test module (8.7 s of CPU for each worker's
                # collection, 3.9 s from the caches).
                "PYTHONDONTWRITEBYTECODE": "",
                **(pds_install.env if pds_install else {}),
            },
            # A stop (Ctrl-C, or SIGTERM, below) reaches pytest as SIGTERM at once; it then
            # tears its fixtures down (conftest.py), and is killed only if that takes longer.
            interrupt_timeout=0,
            terminate_timeout=20,
        )
    except BaseException:
        if pds_install:
            pds_install.stop()
        raise
    if pds_install:
        pds_install.finish(session)


def _install(session: nox.Session, *args: str) -> None:
    """Install into the session's environment with uv, itself installed there by pip:
    uv installs the core and the twelve plugins, editable, in about 5 s on a clean
    machine, where pip takes 45 s."""
    session.install("uv")
    session.run("uv", "pip", "install", "--python", f"{session.bin}/python", *args, silent=True)


class _PdsInstall:
    """`npm ci` of the local PDS, run in the background of the test session.

    Its native module (better-sqlite3) compiles SQLite from source: about 50 s of CPU
    at the default -O3, 18 s at -O0, which is plenty for a test server. The Bluesky
    tests' fixtures wait for the install: pytest is told where its status will appear
    (SOCIALSCHED_PDS_INSTALL_STATUS: a file holding npm's exit status, written when it
    ends). The PDS's own marker file says a finished install is there, so a run stopped
    half-way installs again next time.
    """

    READY = BLUESKY_PDS / "node_modules" / ".socialsched-installed"

    def __init__(self, process: subprocess.Popen[bytes], status: Path, log: Path) -> None:
        self.process, self.status, self.log = process, status, log
        self.env = {"SOCIALSCHED_PDS_INSTALL_STATUS": str(status)}
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    @classmethod
    def start(cls, session: nox.Session) -> _PdsInstall | None:
        npm = shutil.which("npm")
        if npm is None or cls.READY.is_file():
            return None
        # Not `session.create_tmp()`: that points TMPDIR into the clone for the tests
        # too, where the private PostgreSQL clusters' postgres user may not reach.
        folder = Path(session.bin).parent / "pds-install"
        folder.mkdir(exist_ok=True)
        status, log = folder / "pds-install.status", folder / "pds-install.log"
        status.unlink(missing_ok=True)
        session.log(f"npm ci --prefix {BLUESKY_PDS}, in the background (log: {log})")
        environ = {**os.environ, "CFLAGS": "-O0", "CXXFLAGS": "-O0"}
        with log.open("wb") as output:
            process = subprocess.Popen(
                [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(BLUESKY_PDS)],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environ,
                # A group of its own, stopped whole: npm's compilers outlive npm otherwise.
                start_new_session=True,
            )
        return cls(process, status, log)

    def _wait(self) -> None:
        code = self.process.wait()
        if code == 0:
            self.READY.touch()
        # Written whole, then renamed: a reader never sees it half-written.
        partial = self.status.with_suffix(".partial")
        partial.write_text(str(code))
        partial.replace(self.status)

    def stop(self) -> None:
        """Stop npm and what it started, the tests having stopped first (failed, or
        interrupted)."""
        for stop in (signal.SIGTERM, signal.SIGKILL):  # npm takes its time over SIGTERM
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, stop)
            self.waiter.join(timeout=3)
        self.waiter.join()

    def finish(self, session: nox.Session) -> None:
        """Wait for npm (the tests chosen may not have needed it), and fail the
        session if it failed."""
        self.waiter.join()
        if self.process.returncode != 0:
            session.error(
                f"npm ci --prefix {BLUESKY_PDS} failed (exit status "
                f"{self.process.returncode}): see {self.log}"
            )


# Many tests wait on child processes, servers and sockets, so more workers than cores
# finish sooner; but each worker collects the whole suite, and starts its own local
# Bluesky PDS when it runs one of its tests. On a clean clone of this 2-core machine
# (`time nox -s tests`, installation included): 6 workers took 4:24, 8 took 5:14.
WORKERS = "6"


def _parallel_options(posargs: list[str]) -> list[str]:
    """pytest-xdist's options, but those the command line chose itself (`-n 0`, `-n 2`,
    `--dist load`, `-p no:xdist`)."""
    if "no:xdist" in posargs:
        return []
    options = []
    if not any(
        arg in ("-n", "--numprocesses") or arg.startswith(("-n", "--numprocesses="))
        for arg in posargs
    ):
        options += ["-n", WORKERS]
    if not any(arg == "--dist" or arg.startswith("--dist=") for arg in posargs):
        options += ["--dist", "worksteal"]
    return options


def _stop_on_sigterm() -> None:
    """SIGTERM stops nox as Ctrl-C does, passing the stop on to the test run; by
    default nox would die alone and leave pytest running. Ctrl-C (SIGINT) stops it
    too when it was started in the background of a script, which ignores SIGINT."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


LINTED = ("src", "tests", "benchmarks", "docs", "plugins", "noxfile.py", "conftest.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff and mypy, on the core and every plugin alike."""
    _install(session, "-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", p)), "ruff", "mypy")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("mypy", "src", *(f"{p}/src" for p in PLUGINS), "plugins/socialsched-example/src")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with `mkdocs build --strict` into site/."""
    _install(session, "-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


BENCHMARKS = ("plan", "store", "dispatch", "media", "collect")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, baseline vs socialsched, each printing its ratio: all three scripts
    at their default sizes (see docs/performance.md). Options go to one script, named
    first: `nox -s bench -- plan --days 30`, `nox -s bench -- store --size 2000`."""
    # collect.py collects through the Bluesky adapter.
    _install(session, "-e", ".[postgresql]", "-e", "plugins/socialsched-bluesky")
    if session.posargs:
        script, *options = session.posargs
        if script not in BENCHMARKS:
            session.error(
                f"name the benchmark the options are for, one of {', '.join(BENCHMARKS)}: "
                f"nox -s bench -- plan --days 30 (got {script!r})"
            )
        session.run("python", f"benchmarks/{script}.py", *options)
        return
    for script in BENCHMARKS:
        session.run("python", f"benchmarks/{script}.py")
