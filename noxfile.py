"""Developer tasks: `nox -s tests lint typecheck` (CI runs the same through .ci/run)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The test suite (asyncio and trio), in the current environment."""
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS)
def tests_matrix(session: nox.Session) -> None:
    """The test suite on every supported Python that is installed."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.run("ruff", "check", "src", "tests", "examples", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "bench", "noxfile.py")


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.run("mypy", "--strict", "src")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """The benchmark table (bench/run.py), in the current environment: `nox -s bench -- --quick`."""
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=False)
def soak(session: nox.Session) -> None:
    """Full-size reliability run: 20,000-update soak, fault matrix, cancellation, secrets,
    and a longer hypothesis hunt (RELIABILITY.md). `nox -s soak -- -k aiohttp` narrows it."""
    session.env["AIOPARTICIPANT_SOAK_UPDATES"] = "20000"
    session.env["AIOPARTICIPANT_HYPOTHESIS_EXAMPLES"] = "2000"
    session.run(
        "pytest", "-s", "-q",
        "tests/test_soak.py", "tests/test_faults.py", "tests/test_cancellation.py",
        "tests/test_secrets.py", "tests/test_hostile_input.py",
        *session.posargs,
    )  # fmt: skip
