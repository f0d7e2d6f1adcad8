"""fallback_rate: while Redis is down (stopped, frozen or never there), pace this process locally.

Each test that stops or freezes Redis gets a redis-server of its own.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import redis

from aioparticipant import InvalidParameterError
from aioparticipant.redis import RedisLimiterError, RedisRateLimiter
from aioparticipant.redis._scripts import limit_keys

from .redis_servers import PASSWORD, RedisServer, free_port, redis_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture
def key() -> str:
    return f"aioparticipant-test:{uuid.uuid4().hex}"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("aioparticipant") and record.levelno == logging.WARNING
    ]


@pytest.mark.anyio
async def test_without_redis_the_fallback_paces_the_process_at_its_rate(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nobody listens there
    async with RedisRateLimiter(url, key=key, rate=1000, fallback_rate=20) as limiter:
        started = anyio.current_time()
        for _ in range(6):
            await limiter.acquire(priority="bulk")
        elapsed = anyio.current_time() - started
    # The local bucket: 20/s, a burst of 2 with 1 in reserve, so bulk waits 5 intervals.
    assert elapsed >= 5 / 20 - 0.01
    assert elapsed < 2
    (warning,) = warnings_of(caplog)
    assert "fallback_rate=20" in warning
    assert "127.0.0.1" in warning
    assert PASSWORD not in warning


@pytest.mark.anyio
async def test_a_stopped_redis_is_paced_around_and_used_again_once_restarted(
    caplog: pytest.LogCaptureFixture, server: RedisServer, key: str
) -> None:
    inspector = redis.Redis.from_url(server.url)
    state, _ = limit_keys(key)
    # rate=10, burst=1: a grant on Redis leaves the key there for 0.1 s.
    async with RedisRateLimiter(server.url, key=key, rate=10, fallback_rate=100) as limiter:
        await limiter.acquire()
        assert inspector.exists(state) == 1
        server.stop()
        await limiter.acquire()  # no error: the fallback bucket grants it
        assert len(warnings_of(caplog)) == 1
        server.start()  # the same port
        inspector = redis.Redis.from_url(server.url)  # a fresh server: no keys yet
        with anyio.fail_after(5):
            while True:  # back on Redis within a probe or two
                await limiter.acquire()
                if inspector.exists(state):
                    break
                await anyio.sleep(0.05)
    inspector.close()
    first, second = warnings_of(caplog)
    assert "fallback_rate=100" in first
    assert "answers again" in second
    for message in (first, second):
        assert PASSWORD not in message


@pytest.mark.anyio
async def test_a_frozen_redis_costs_one_timeout_not_one_per_request(
    caplog: pytest.LogCaptureFixture, server: RedisServer, key: str
) -> None:
    url = server.url + "?socket_timeout=1"
    async with RedisRateLimiter(url, key=key, rate=1000, fallback_rate=200) as limiter:
        await limiter.acquire()
        server.freeze()  # SIGSTOP: connections hang instead of failing
        try:
            started = anyio.current_time()
            await limiter.acquire()  # this one waits for the socket timeout
            assert anyio.current_time() - started >= 1 - 0.02
            slowest = 0.0
            for _ in range(20):
                started = anyio.current_time()
                await limiter.acquire()
                slowest = max(slowest, anyio.current_time() - started)
                await anyio.sleep(0.05)  # spans a probe (1 s after the switch)
            assert slowest < 0.6  # none of them waited (1 s) for the frozen Redis
        finally:
            server.thaw()
        with anyio.fail_after(5):
            while len(warnings_of(caplog)) < 2:
                await limiter.acquire()
                await anyio.sleep(0.05)
    assert "answers again" in warnings_of(caplog)[1]


@pytest.mark.anyio
async def test_a_dead_redis_is_probed_at_most_about_once_a_second(key: str) -> None:
    # A listener that accepts and hangs up at once: redis-py sees a broken connection.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted = 0
    stop = threading.Event()

    def serve() -> None:
        nonlocal accepted
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted += 1
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        async with RedisRateLimiter(url, key=key, rate=1000, fallback_rate=500) as limiter:
            started = anyio.current_time()
            granted = 0
            while anyio.current_time() - started < 2.2:
                await limiter.acquire()
                granted += 1
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert granted > 200  # paced locally, not stuck
    # The first failure (redis-py may retry it a few times) and two probes, each
    # of which may retry too: far fewer than the requests.
    assert 1 <= accepted <= 15, accepted


@pytest.mark.anyio
async def test_a_pause_while_falling_back_pauses_the_local_bucket(key: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with RedisRateLimiter(url, key=key, rate=1000, fallback_rate=100) as limiter:
        await limiter.acquire()  # falls back
        started = anyio.current_time()
        await limiter.pause_for(0.3)
        await limiter.acquire()
        elapsed = anyio.current_time() - started
    assert 0.3 - 0.02 <= elapsed < 1.5


@pytest.mark.anyio
async def test_a_pause_that_finds_redis_down_switches_to_the_fallback(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with RedisRateLimiter(url, key=key, rate=1000, fallback_rate=100) as limiter:
        started = anyio.current_time()
        await limiter.pause_for(0.2)
        await limiter.acquire()
        assert anyio.current_time() - started >= 0.2 - 0.02
    (warning,) = warnings_of(caplog)
    assert "fallback_rate=100" in warning


@pytest.mark.anyio
async def test_without_a_fallback_a_stopped_redis_is_an_error(
    server: RedisServer, key: str
) -> None:
    async with RedisRateLimiter(server.url, key=key, rate=100) as limiter:
        await limiter.acquire()
        server.stop()
        with pytest.raises(RedisLimiterError) as caught:
            await limiter.acquire()
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)


@pytest.mark.anyio
async def test_refused_credentials_are_an_error_even_with_a_fallback(
    server: RedisServer, key: str
) -> None:
    url = server.url.replace(PASSWORD, "wrong-pw-1234")
    async with RedisRateLimiter(url, key=key, rate=100, fallback_rate=10) as limiter:
        with pytest.raises(RedisLimiterError) as caught:
            await limiter.acquire()
    assert isinstance(caught.value.__cause__, redis.exceptions.AuthenticationError)
    assert "wrong-pw-1234" not in str(caught.value)


@pytest.mark.parametrize("fallback_rate", [0, -1, float("inf"), float("nan"), "5", True])
def test_a_bad_fallback_rate_is_refused_naming_it(fallback_rate: object) -> None:
    with pytest.raises(InvalidParameterError, match="fallback_rate") as caught:
        RedisRateLimiter("redis://localhost", key="k", rate=10, fallback_rate=fallback_rate)  # type: ignore[arg-type]
    assert caught.value.parameter == "fallback_rate"
    client = redis.Redis()
    with pytest.raises(InvalidParameterError, match="fallback_rate"):
        RedisRateLimiter.from_client(client, key="k", rate=10, fallback_rate=fallback_rate)  # type: ignore[arg-type]
    client.close()


def test_the_fallback_rate_is_shown() -> None:
    limiter = RedisRateLimiter("redis://localhost", key="k", rate=10, fallback_rate=2.5)
    assert limiter.fallback_rate == 2.5
    assert repr(limiter).endswith("reserve=0, fallback_rate=2.5)")
