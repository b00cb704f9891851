"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s bench`."""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff and mypy."""
    session.install("-e", ".[test]", "ruff", "mypy")
    session.run("ruff", "check", "src", "tests", "benchmarks")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks")
    session.run("mypy", "src")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with `mkdocs build --strict` into site/."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark script, printing baseline vs socialsched."""
    session.install("-e", ".")
    session.run("python", "benchmarks/plan.py")
