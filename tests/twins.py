"""Run one test body against both clients: ``AsyncClient`` and the blocking ``Client``.

A test takes the ``twins`` fixture and writes each call once, as a lambda over
the client; ``twin.run`` awaits it for ``AsyncClient`` and runs it in a worker
thread for ``Client`` (whose own loop lives in yet another thread):

    async with twins.open(max_retries=0) as twin:
        participant = await twin.run(lambda c: c.conferences("CF1").participants("CA1").mute())
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import pytest

from aioparticipant import AsyncClient, BulkResult, Client, ParticipantUpdate

from .helpers import FAST, PROJECT, SPACE, TOKEN

#: (client, anyio backend of the test): the async client on both backends; the
#: blocking one runs its own asyncio loop, so the test's backend adds nothing.
FLAVOURS = [("AsyncClient", "asyncio"), ("AsyncClient", "trio"), ("Client", "asyncio")]


@dataclass
class Twin:
    """One client of either kind, and how to call it from an async test."""

    client: Any

    @property
    def blocking(self) -> bool:
        return isinstance(self.client, Client)

    async def run(self, action: Callable[[Any], Any]) -> Any:
        """``action(client)``, awaited if it is a coroutine; in a thread for ``Client``."""
        if self.blocking:
            return await anyio.to_thread.run_sync(action, self.client)
        result = action(self.client)
        return await result if inspect.isawaitable(result) else result

    async def collect(self, action: Callable[[Any], Any], limit: int | None = None) -> list[Any]:
        """The items of the iterator ``action(client)`` returns (``stream``), up to ``limit``."""
        if self.blocking:

            def read() -> list[Any]:
                iterator = action(self.client)
                items = list(itertools.islice(iterator, limit))
                iterator.close()
                return items

            return await anyio.to_thread.run_sync(read)
        items = []
        iterator = action(self.client)
        async for item in iterator:
            items.append(item)
            if limit is not None and len(items) == limit:
                break
        await iterator.aclose()
        return items

    async def bulk(self, updates: Iterable[ParticipantUpdate], **options: Any) -> list[BulkResult]:
        """Every result of ``client.bulk(updates, **options)``."""
        if self.blocking:

            def read() -> list[BulkResult]:
                with self.client.bulk(updates, **options) as results:
                    return list(results)

            return await anyio.to_thread.run_sync(read)
        async with self.client.bulk(updates, **options) as results:
            return [result async for result in results]


class Twins:
    """Opens clients of the kind the test is parametrized with."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    @asynccontextmanager
    async def open(
        self, project_id: str = PROJECT, token: str = TOKEN, **options: Any
    ) -> AsyncIterator[Twin]:
        settings: dict[str, Any] = {"space_url": SPACE, "backoff": FAST}
        settings.update(options)
        if self.kind == "AsyncClient":
            async with AsyncClient(project_id, token, **settings) as client:
                yield Twin(client)
        else:
            client = Client(project_id, token, **settings)
            try:
                yield Twin(client)
            finally:
                await anyio.to_thread.run_sync(client.close)


@pytest.fixture(params=FLAVOURS, ids=[f"{kind}-{backend}" for kind, backend in FLAVOURS])
def twin_flavour(request: pytest.FixtureRequest) -> tuple[str, str]:
    kind, backend = request.param
    return kind, backend


@pytest.fixture
def anyio_backend(twin_flavour: tuple[str, str]) -> str:
    return twin_flavour[1]


@pytest.fixture
def twins(twin_flavour: tuple[str, str]) -> Twins:
    return Twins(twin_flavour[0])


class Connections:
    """An ASGI wrapper that records the client port of every request: one port, one connection."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ports: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
        await self.app(scope, receive, send)
