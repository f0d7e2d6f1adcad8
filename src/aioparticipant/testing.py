"""Test your own code against the emulator, no account or network needed.

A pytest plugin, loaded automatically once aioparticipant is installed. Its
fixtures:

``emulator``
    A fresh ``Emulator`` per test. Seed it with ``add_participant``, inspect
    it with ``participant`` and ``announcements``.
``emulator_client``
    An ``AsyncClient`` wired to ``emulator`` in process (``httpx.ASGITransport``),
    for anyio tests (``@pytest.mark.anyio``), on asyncio or trio. Retries wait
    no time, so fault-injection tests stay fast.
``emulator_server``
    The same emulator served on a free loopback port for the test (extra
    ``aioparticipant[emulator]``): for synchronous code, the twilio SDK, or
    a subprocess. Its ``base_url`` is SignalWire-style, its ``origin`` is what
    the twilio SDK takes as ``client.api.base_url``.

Example:

    import pytest

    @pytest.mark.anyio
    async def test_mutes_the_caller(emulator, emulator_client):
        emulator.add_participant("CF1", "CA1")
        await mute_caller(emulator_client, "CF1", "CA1")   # your code
        assert emulator.participant("CF1", "CA1").muted

Outside these fixtures (pytest-asyncio tests, scripts), ``client_for(emulator)``
builds the same client: ``async with client_for(emulator) as client: ...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ._client import AsyncClient
from ._retry import Backoff
from .emulator import Emulator, EmulatorServer, serve_in_thread

__all__ = ["client_for", "emulator", "emulator_client", "emulator_server"]

#: Retries in tests should not sleep: the emulator's faults are instant.
_NO_WAIT = Backoff(initial=0.0, maximum=0.0)


def client_for(emulator: Emulator, **client_options: Any) -> AsyncClient:
    """An ``AsyncClient`` that talks to ``emulator`` in process.

    ``client_options`` go to ``AsyncClient`` (``max_retries=0``,
    ``rate_limit=...``); by default retries do not wait.
    """
    client_options.setdefault("backoff", _NO_WAIT)
    return AsyncClient(
        emulator.project_id,
        emulator.token,
        base_url=emulator.base_url(),
        transport=httpx.ASGITransport(app=emulator),
        **client_options,
    )


@pytest.fixture
def emulator() -> Emulator:
    """A fresh, empty emulator with test credentials."""
    return Emulator()


@pytest.fixture
async def emulator_client(emulator: Emulator, anyio_backend: Any) -> AsyncIterator[AsyncClient]:
    """An ``AsyncClient`` bound to ``emulator`` in process (anyio tests only)."""
    async with client_for(emulator) as client:
        yield client


@pytest.fixture
def emulator_server(emulator: Emulator) -> Iterator[EmulatorServer]:
    """``emulator`` served on a free loopback port for the duration of the test."""
    with serve_in_thread(emulator) as server:
        yield server
