"""Shared fixtures: every anyio test runs on asyncio and on trio; real servers to test against."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .helpers import LOGGERS, KeptLogs
from .netservers import (
    NETWORK_VARIABLES,
    PROXY_PASSWORD,
    PROXY_USER,
    Tinyproxy,
    TlsEmulator,
    serve_tls_emulator,
    start_tinyproxy,
)
from .rawserver import FLAVOUR_IDS, FLAVOURS

if TYPE_CHECKING:
    import redis


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- (event loop, HTTP backend) pairs: a module opts in with
#     `def anyio_backend(flavour): return flavour[0]` ----------------------------------


@pytest.fixture(params=FLAVOURS, ids=FLAVOUR_IDS)
def flavour(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def http_backend(flavour: tuple[str, str]) -> str:
    return flavour[1]


@pytest.fixture
def debug_logs() -> Iterator[KeptLogs]:
    """Every logger at DEBUG, every record kept; the logging setup restored afterwards."""
    keep = KeptLogs()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(keep)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def clean_network_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA variable from the machine running the tests (``NETWORK_VARIABLES``)."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# --- real network pieces (tests/netservers.py), one of each per session ---------------


@pytest.fixture(scope="session")
def tls_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsEmulator]:
    """The emulator over TLS on 127.0.0.1 (a trustme CA), seeded with CF1/CA1."""
    with serve_tls_emulator(tmp_path_factory.mktemp("tls-emulator")) as served:
        served.emulator.add_participant("CF1", "CA1")
        yield served


@pytest.fixture(scope="session")
def tinyproxy(
    tmp_path_factory: pytest.TempPathFactory, tls_emulator: TlsEmulator
) -> Iterator[Tinyproxy]:
    """tinyproxy on 127.0.0.1, tunnelling to the TLS emulator's port only."""
    with start_tinyproxy(
        tmp_path_factory.mktemp("tinyproxy"), connect_ports=[tls_emulator.port]
    ) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def auth_tinyproxy(
    tmp_path_factory: pytest.TempPathFactory, tls_emulator: TlsEmulator
) -> Iterator[Tinyproxy]:
    """The same with Basic auth: ``PROXY_USER`` / ``PROXY_PASSWORD``."""
    with start_tinyproxy(
        tmp_path_factory.mktemp("tinyproxy-auth"),
        connect_ports=[tls_emulator.port],
        user=PROXY_USER,
        password=PROXY_PASSWORD,
    ) as proxy:
        yield proxy


# --- Redis (tests/redis_servers.py) ---------------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on 127.0.0.1 for the module's tests (skipped if it is not installed)."""
    from .redis_servers import redis_server  # imports redis-py: only where Redis is wanted

    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def inspector(redis_url: str) -> Iterator[redis.Redis]:
    """A plain ``redis.Redis`` on the module's server, to look at what a test left there."""
    import redis  # only where Redis is wanted

    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def key() -> str:
    """A Redis key no other test uses."""
    return f"aioparticipant-test:{uuid.uuid4().hex}"
