"""Cancelling a request at each of its await points loses nothing and sends nothing more.

The await points, in the order a request meets them: the concurrency bound,
the limiter, connecting, sending, reading the answer, and the backoff sleep
between attempts. After each cancellation: the cancellation itself comes out
(not an error, not a retry), the server sees no further attempt, and the
client still runs ``max_connections`` requests at once, so no slot of the
bound or of the connection pool was lost. Over real sockets on 127.0.0.1,
with httpx (asyncio, trio) and aiohttp (asyncio).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from aioparticipant import AsyncClient, TokenBucket

from .rawserver import (
    FLAVOUR_IDS,
    FLAVOURS,
    OK,
    Action,
    Connection,
    RawServer,
    Request,
    connects_hang,
    eventually,
    http_response,
    leak_checked_client,
    respond,
    send,
    serve,
)

pytestmark = pytest.mark.anyio

SLOTS = 4  # max_connections of every client here


@pytest.fixture(params=FLAVOURS, ids=FLAVOUR_IDS)
def flavour(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(flavour: tuple[str, str]) -> str:
    return flavour[0]


@pytest.fixture
def http_backend(flavour: tuple[str, str]) -> str:
    return flavour[1]


def half_answer(conn: Connection) -> None:
    conn.send(OK[:-20])
    conn.stall()


class Script:
    """What the server does with each request; tests switch ``mode`` as they go."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.release = threading.Event()
        self.barrier = threading.Barrier(SLOTS, timeout=5.0)

    def __call__(self, request: Request) -> bytes | Action:
        if self.mode == "stall":  # read the request, answer nothing
            return Connection.stall
        if self.mode == "half-answer":  # headers and half the body, then nothing
            return half_answer
        if self.mode == "503-retry-after-30":
            return http_response(503, b"{}", headers={"Retry-After": "30"})
        if self.mode == "hold":  # answer once released
            self.release.wait(timeout=10.0)
            return OK
        if self.mode == "all-at-once":  # answer once SLOTS requests are here together
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                return http_response(500, b'{"message": "not all requests arrived together"}')
        return OK


async def assert_full_concurrency(client: AsyncClient, script: Script) -> None:
    """``SLOTS`` requests reach the server at the same time, so no slot was lost."""
    script.mode = "all-at-once"
    script.barrier.reset()
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for _ in range(SLOTS):
                tg.start_soon(send, client, "update")


async def cancel_when(
    condition: Callable[[], bool], *requests: Callable[[], Awaitable[Any]]
) -> list[anyio.CancelScope]:
    """Start ``requests``, cancel them once ``condition()`` holds; their scopes, for checks."""
    scopes = [anyio.CancelScope() for _ in requests]

    async def run(scope: anyio.CancelScope, request: Callable[[], Awaitable[Any]]) -> None:
        with scope:
            await request()

    async with anyio.create_task_group() as tg:
        for scope, request in zip(scopes, requests, strict=True):
            tg.start_soon(run, scope, request)
        assert await eventually(condition), "the requests never reached the await point"
        await anyio.sleep(0.05)  # let them settle there
        for scope in scopes:
            scope.cancel()
    return scopes


def mute(client: AsyncClient) -> Callable[[], Awaitable[Any]]:
    return lambda: send(client, "update")


def assert_cancelled(scopes: list[anyio.CancelScope]) -> None:
    # The cancellation came out of the client as a cancellation: not swallowed,
    # not turned into an error, not answered by a retry.
    assert all(scope.cancelled_caught for scope in scopes)


async def assert_no_further_attempt(server: RawServer, expected: int) -> None:
    await anyio.sleep(0.2)
    assert len(server.requests) == expected


# --- the await points ---------------------------------------------------------------


async def test_cancelled_while_waiting_for_the_concurrency_bound(http_backend: str) -> None:
    script = Script()
    script.mode = "hold"
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS
        ) as client:
            async with anyio.create_task_group() as tg:
                for _ in range(SLOTS):  # these hold every slot...
                    tg.start_soon(send, client, "update")
                assert await eventually(lambda: len(server.requests) == SLOTS)
                # ...so these wait for one, and are cancelled there.
                waiting = [mute(client) for _ in range(10)]
                scopes = await cancel_when(lambda: True, *waiting)
                script.release.set()
            assert_cancelled(scopes)
            assert len(server.requests) == SLOTS
            await assert_full_concurrency(client, script)


class GatedLimiter:
    """A custom limiter that lets nobody through until opened."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.waiting = 0

    async def acquire(self) -> None:
        self.waiting += 1
        try:
            await self.open.wait()
        finally:
            self.waiting -= 1


async def test_cancelled_while_waiting_for_the_limiter(http_backend: str) -> None:
    script = Script()
    limiter = GatedLimiter()
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS, limiter=limiter
        ) as client:
            # The limiter comes before the concurrency bound: every request waits there.
            scopes = await cancel_when(
                lambda: limiter.waiting == SLOTS * 3, *[mute(client) for _ in range(SLOTS * 3)]
            )
            assert_cancelled(scopes)
            assert limiter.waiting == 0
            assert server.requests == []
            limiter.open.set()
            await assert_full_concurrency(client, script)


async def test_cancelled_waiters_take_no_tokens_from_the_bucket(http_backend: str) -> None:
    script = Script()
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS, rate_limit=2, burst=1
        ) as client:
            await send(client, "update")  # the one token; the next comes 0.5 s later
            scopes = await cancel_when(lambda: True, *[mute(client) for _ in range(SLOTS)])
            # Had each cancelled waiter kept a reservation, the next token would be
            # SLOTS * 0.5 s away; it is at most 0.5 s away.
            with anyio.fail_after(1.5):
                await send(client, "update")
    assert_cancelled(scopes)
    assert len(server.requests) == 2


async def test_a_token_bucket_left_by_cancelled_waiters_serves_the_next_at_once() -> None:
    bucket = TokenBucket(rate=20, burst=1)
    await bucket.acquire()
    for _ in range(3):
        with anyio.move_on_after(0.01):
            async with anyio.create_task_group() as tg:
                for _ in range(100):  # 5 s of tokens, were any reserved
                    tg.start_soon(bucket.acquire)
    await anyio.sleep(0.06)  # one token's worth of time
    with anyio.fail_after(0.5):
        await bucket.acquire()


async def test_cancelled_while_connecting(http_backend: str) -> None:
    script = Script()
    with serve(respond(script), accepting=False) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS, timeout=10.0
        ) as client:
            with connects_hang(server):
                scopes = await cancel_when(lambda: True, *[mute(client) for _ in range(SLOTS)])
                assert_cancelled(scopes)
            await assert_full_concurrency(client, script)
    # The connections the cancelled attempts left half-open in the kernel's
    # queue are accepted when it starts, but carry no request.
    assert len(server.requests) == SLOTS


async def test_cancelled_while_reading_the_headers(http_backend: str) -> None:
    script = Script()
    script.mode = "stall"
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS
        ) as client:
            scopes = await cancel_when(
                lambda: len(server.requests) == SLOTS, *[mute(client) for _ in range(SLOTS)]
            )
            assert_cancelled(scopes)
            await assert_no_further_attempt(server, SLOTS)
            # The client hung up the connections it gave up on.
            assert await eventually(lambda: server.open_connections == 0)
            await assert_full_concurrency(client, script)


async def test_cancelled_while_reading_the_body(http_backend: str) -> None:
    script = Script()
    script.mode = "half-answer"
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS
        ) as client:
            scopes = await cancel_when(
                lambda: len(server.requests) == SLOTS, *[mute(client) for _ in range(SLOTS)]
            )
            assert_cancelled(scopes)
            await assert_no_further_attempt(server, SLOTS)
            assert await eventually(lambda: server.open_connections == 0)
            await assert_full_concurrency(client, script)


async def test_cancelled_during_the_backoff_sleep(http_backend: str) -> None:
    script = Script()
    script.mode = "503-retry-after-30"  # the retry would come 30 s later
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS
        ) as client:
            scopes = await cancel_when(
                lambda: len(server.requests) == SLOTS, *[mute(client) for _ in range(SLOTS)]
            )
            assert_cancelled(scopes)
            await assert_no_further_attempt(server, SLOTS)
            await assert_full_concurrency(client, script)


# --- mid-send: only httpx lets a test hold a write half done ------------------------


class HalfWrites(httpcore.AsyncNetworkBackend):
    """Wraps the real backend; while armed, each write sends half its bytes and waits."""

    def __init__(self) -> None:
        self.real = httpcore.AnyIOBackend()
        self.armed = True
        self.blocked = 0

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _HalfWriteStream(self, await self.real.connect_tcp(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self.real.sleep(seconds)


class _HalfWriteStream(httpcore.AsyncNetworkStream):
    def __init__(self, backend: HalfWrites, stream: httpcore.AsyncNetworkStream) -> None:
        self.backend = backend
        self.stream = stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not self.backend.armed:
            await self.stream.write(buffer, timeout)
            return
        await self.stream.write(buffer[: len(buffer) // 2], timeout)
        self.backend.blocked += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.backend.blocked -= 1

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self.stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


def half_writing_transport(backend: HalfWrites) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport()
    # httpx offers no way to pass a network backend; the pool is built the way
    # AsyncHTTPTransport builds it, with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        max_connections=SLOTS, max_keepalive_connections=SLOTS, network_backend=backend
    )
    return transport


@pytest.mark.parametrize("flavour", FLAVOURS[:2], ids=FLAVOUR_IDS[:2], indirect=True)
async def test_cancelled_while_sending_the_request(http_backend: str) -> None:
    script = Script()
    backend = HalfWrites()
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin,
            http_backend,
            server,
            max_connections=SLOTS,
            transport=half_writing_transport(backend),
        ) as client:
            scopes = await cancel_when(
                lambda: backend.blocked == SLOTS, *[mute(client) for _ in range(SLOTS)]
            )
            assert_cancelled(scopes)
            assert backend.blocked == 0
            assert await eventually(lambda: server.open_connections == 0)
            assert server.requests == []  # no request arrived whole, and none was retried
            backend.armed = False
            await assert_full_concurrency(client, script)


# --- asyncio's own cancellation: delivered once, so a retry would go unnoticed --------
#
# Under anyio cancel scopes (and trio) a cancelled task stays cancelled: any
# retry would fail at its first await. asyncio's ``task.cancel()``, which
# ``asyncio.wait_for`` and ``asyncio.timeout`` use, raises ``CancelledError``
# once; a client that retried it, or turned it into an error, would carry on.


@pytest.mark.parametrize(
    "flavour", [FLAVOURS[0], FLAVOURS[2]], ids=[FLAVOUR_IDS[0], FLAVOUR_IDS[2]], indirect=True
)
@pytest.mark.parametrize("mode", ["stall", "half-answer", "503-retry-after-30"])
async def test_asyncio_task_cancel_is_never_retried_nor_turned_into_an_error(
    mode: str, http_backend: str
) -> None:
    script = Script()
    script.mode = mode
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS, max_retries=3
        ) as client:
            tasks = [asyncio.ensure_future(send(client, "update")) for _ in range(SLOTS)]
            assert await eventually(lambda: len(server.requests) == SLOTS)
            await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(result, asyncio.CancelledError) for result in results), results
            await assert_no_further_attempt(server, SLOTS)
            await assert_full_concurrency(client, script)


@pytest.mark.parametrize(
    "flavour", [FLAVOURS[0], FLAVOURS[2]], ids=[FLAVOUR_IDS[0], FLAVOUR_IDS[2]], indirect=True
)
async def test_asyncio_wait_for_times_out_a_request_without_a_retry(http_backend: str) -> None:
    script = Script()
    script.mode = "stall"
    with serve(respond(script)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_connections=SLOTS, timeout=10.0
        ) as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(send(client, "update"), timeout=0.2)
            await assert_no_further_attempt(server, 1)
            await assert_full_concurrency(client, script)
