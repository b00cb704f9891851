"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s bench`."""

import shutil
import signal
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
    session.install("-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", f"{p}[test]")))
    # A real local Bluesky PDS for the bluesky plugin's tests (skipped, saying so, without it).
    if shutil.which("npm") and not (BLUESKY_PDS / "node_modules" / "@atproto").is_dir():
        session.run(
            "npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BLUESKY_PDS), external=True
        )
    session.run(
        "pytest",
        *_parallel_options(session.posargs),
        *session.posargs,
        # A stop (Ctrl-C, or SIGTERM, below) reaches pytest as SIGTERM at once; it then
        # tears its fixtures down (conftest.py), and is killed only if that takes longer.
        interrupt_timeout=0,
        terminate_timeout=20,
    )


# Many tests wait on child processes, servers and sockets, so more workers than cores
# finish sooner: on 2 cores, 8 and 6 took 3:45 and 3:50, 4 took 5:36 (docs/contributing.md).
WORKERS = "8"


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
    session.install("-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", p)), "ruff", "mypy")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("mypy", "src", *(f"{p}/src" for p in PLUGINS), "plugins/socialsched-example/src")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with `mkdocs build --strict` into site/."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


BENCHMARKS = ("plan", "store", "dispatch", "media", "collect")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, baseline vs socialsched, each printing its ratio: all three scripts
    at their default sizes (see docs/performance.md). Options go to one script, named
    first: `nox -s bench -- plan --days 30`, `nox -s bench -- store --size 2000`."""
    # collect.py collects through the Bluesky adapter.
    session.install("-e", ".[postgresql]", "-e", "plugins/socialsched-bluesky")
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
