"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s bench`."""

import shutil
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
    session.install("-e", ".[test]", *(arg for p in PLUGINS for arg in ("-e", f"{p}[test]")))
    # A real local Bluesky PDS for the bluesky plugin's tests (skipped, saying so, without it).
    if shutil.which("npm") and not (BLUESKY_PDS / "node_modules" / "@atproto").is_dir():
        session.run(
            "npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BLUESKY_PDS), external=True
        )
    session.run("pytest", *session.posargs)


LINTED = ("src", "tests", "benchmarks", "docs", "plugins", "noxfile.py")


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
