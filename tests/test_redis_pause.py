"""RedisRateLimiter.pause_for: one 429 pauses every process on the key, on the server's clock.

Two limiter instances on one key stand for two processes.
"""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
import redis
import respx
from redis.crc import key_slot

from aioparticipant import InvalidParameterError, RateLimitError
from aioparticipant.redis import RedisRateLimiter
from aioparticipant.redis._scripts import limit_keys

from .helpers import PARTICIPANT_JSON, PARTICIPANT_URL, make_client
from .redis_servers import PASSWORD, free_port


def roomy(redis_url: str, key: str) -> RedisRateLimiter:
    """A limiter whose tokens never run out in these tests: only the pause holds anyone."""
    return RedisRateLimiter(redis_url, key=key, rate=1000, burst=100)


@pytest.mark.anyio
async def test_a_pause_in_one_process_holds_the_others(redis_url: str, key: str) -> None:
    async with roomy(redis_url, key) as first, roomy(redis_url, key) as second:
        await second.acquire()  # connected, so the timing below is the pause alone
        started = anyio.current_time()
        await first.pause_for(0.3)
        await second.acquire()
        elapsed = anyio.current_time() - started
    assert 0.3 - 0.02 <= elapsed < 1.0


@pytest.mark.anyio
async def test_a_429_that_one_client_gets_pauses_a_client_in_another_process(
    redis_url: str, key: str
) -> None:
    ok = httpx.Response(200, content=PARTICIPANT_JSON)
    limited = httpx.Response(429, headers={"Retry-After": "0.5"})
    async with roomy(redis_url, key) as first, roomy(redis_url, key) as second:
        with respx.mock() as mock:
            mock.post(PARTICIPANT_URL).mock(side_effect=[ok, limited, ok])
            async with (
                make_client(limiter=first, max_retries=0) as web,
                make_client(limiter=second) as worker,
            ):
                await worker.conferences("CF1").participants("CA1").mute()  # warm
                with pytest.raises(RateLimitError):
                    await web.conferences("CF1").participants("CA1").mute()
                started = anyio.current_time()
                participant = await worker.conferences("CF1").participants("CA1").mute()
                elapsed = anyio.current_time() - started
    assert participant.muted is True
    # The worker's own client never saw the 429, yet its update waited for the pause.
    assert 0.5 - 0.1 <= elapsed < 2.0


@pytest.mark.anyio
async def test_the_later_deadline_wins(redis_url: str, key: str) -> None:
    async with roomy(redis_url, key) as first, roomy(redis_url, key) as second:
        await second.acquire()
        started = anyio.current_time()
        await first.pause_for(0.4)
        await second.pause_for(0.05)  # shorter: it must not cut the first one short
        await second.acquire()
        elapsed = anyio.current_time() - started
        await first.pause_for(0.05)
        await second.pause_for(0.25)  # longer: it extends the pause
        restarted = anyio.current_time()
        await first.acquire()
        extended = anyio.current_time() - restarted
    assert 0.4 - 0.02 <= elapsed < 1.2
    assert 0.25 - 0.02 <= extended < 1.0


@pytest.mark.anyio
async def test_when_a_pause_ends_clicks_go_at_once_and_bulk_leaves_staggered(
    redis_url: str, key: str
) -> None:
    granted: dict[str, float] = {}
    async with roomy(redis_url, key) as first, roomy(redis_url, key) as second:
        await second.acquire()
        await first.pause_for(0.3)
        started = anyio.current_time()

        async def take(name: str, priority: str) -> None:
            await second.acquire(priority=priority)  # type: ignore[arg-type]
            granted[name] = anyio.current_time() - started

        async with anyio.create_task_group() as tg:
            for number in range(8):
                tg.start_soon(take, f"bulk{number}", "bulk")
            tg.start_soon(take, "click", "interactive")
    bulk = sorted(at for name, at in granted.items() if name != "click")
    assert 0.3 - 0.02 <= granted["click"] < 0.3 + 0.15
    assert bulk[0] >= 0.3 - 0.02
    # Eight uniform draws over the 0.3 s spread: all within 20 ms has odds below 1e-7.
    assert bulk[-1] - bulk[0] > 0.02, bulk
    assert bulk[-1] < 0.3 + 0.3 + 0.4


@pytest.mark.anyio
async def test_the_pause_key_carries_the_limits_hash_tag_and_expires(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    async with roomy(redis_url, key) as limiter:
        await limiter.pause_for(0.1)
        state, pause = limit_keys(key)
        assert pause == "{" + key + "}:pause"
        assert state == "{" + key + "}"
        assert 0 < inspector.pttl(pause) <= 100
        await anyio.sleep(0.15)
        assert inspector.exists(pause) == 0


@pytest.mark.anyio
async def test_a_pause_that_cannot_reach_redis_logs_one_warning_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nobody listens there
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    async with RedisRateLimiter(url, key="k", rate=10) as limiter:
        await limiter.pause_for(0.05)
        await limiter.pause_for(0.05)
    warnings = [r for r in caplog.records if r.name.startswith("aioparticipant")]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "127.0.0.1" in message
    assert "only this process" in message
    assert PASSWORD not in message


@pytest.mark.anyio
async def test_a_pause_of_zero_does_nothing(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    async with roomy(redis_url, key) as limiter:
        await limiter.pause_for(0)
        assert inspector.exists(limit_keys(key)[1]) == 0


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), "1", None, True])
@pytest.mark.anyio
async def test_a_bad_pause_is_refused_naming_it(seconds: object) -> None:
    async with RedisRateLimiter("redis://localhost", key="k", rate=10) as limiter:
        with pytest.raises(InvalidParameterError, match="seconds"):
            await limiter.pause_for(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "state", "pause"),
    [
        ("signalwire:project", "{signalwire:project}", "{signalwire:project}:pause"),
        ("limit:{project}", "limit:{project}", "limit:{project}:pause"),
        ("{a}{b}", "{a}{b}", "{a}{b}:pause"),
        ("a{}b", "{a{}b}", "{a{}b}:pause"),  # empty braces are no tag in Redis Cluster
        ("a}b{c", "{a}b{c}", "{a}b{c}:pause"),
    ],
)
def test_every_key_of_a_limit_shares_one_hash_tag(key: str, state: str, pause: str) -> None:
    assert limit_keys(key) == (state, pause)
    assert key_slot(state.encode()) == key_slot(pause.encode())  # redis-py's own rule


@pytest.mark.anyio
async def test_under_auto_bulk_waiters_leave_a_pause_together_at_the_fleets_pace(
    redis_url: str, key: str
) -> None:
    first = RedisRateLimiter(redis_url, key=key, rate="auto")
    second = RedisRateLimiter(redis_url, key=key, rate="auto")
    async with first, second:
        for limiter in (first, second):
            assert limiter._fleet is not None
            limiter._fleet.pacer.adopt(anyio.current_time(), 1000.0, "bucket", 1.0)
            await limiter.acquire(priority="bulk")
        await first.pause_for(0.3)  # its 429: the other process hears of it from Redis
        started = anyio.current_time()
        granted: list[float] = []

        async def take() -> None:
            await second.acquire(priority="bulk")
            granted.append(anyio.current_time() - started)

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(take)
    # The pace spaces them (1 ms apart); a stagger over the pause's length
    # would hold some for up to 0.3 s more.
    assert min(granted) >= 0.3 - 0.02
    assert max(granted) < 0.3 + 0.12, granted
