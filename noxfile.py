"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s bench`."""

import shutil
from pathlib import Path

import nox

# Network adapter plugins whose tests run in the main test command (see pyproject testpaths).
PLUGINS = ["mastodon", "bluesky", "telegram", "matrix"]
BLUESKY_PDS = Path("plugins/socialsched-bluesky/tests/pds")

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with the network adapter plugins installed."""
    session.install("-e", ".[test]")
    for plugin in PLUGINS:
        session.install("-e", f"./plugins/socialsched-{plugin}[test]")
    # A real local Bluesky PDS for the bluesky plugin's tests (skipped, saying so, without it).
    if shutil.which("npm") and not (BLUESKY_PDS / "node_modules" / "@atproto").is_dir():
        session.run(
            "npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BLUESKY_PDS), external=True
        )
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff and mypy."""
    session.install("-e", ".[test]", "ruff", "mypy")
    session.run("ruff", "check", "src", "tests", "benchmarks")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks")
    session.run("mypy", "src")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark script, printing baseline vs socialsched."""
    session.install("-e", ".")
    session.run("python", "benchmarks/plan.py")
