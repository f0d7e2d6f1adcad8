"""RedisRateLimiter's two lanes: the reserve kept for interactive requests, in and across processes.

Two limiter instances on one key stand for two processes (each has its own
connections). Timing checks use lower bounds and generous upper bounds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import pytest

from aioparticipant import InvalidParameterError
from aioparticipant.redis import RedisLimiterError, RedisRateLimiter

from .redis_servers import free_port, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def key() -> str:
    return f"aioparticipant-test:{uuid.uuid4().hex}"


@pytest.mark.anyio
async def test_bulk_leaves_the_reserve_to_interactive_requests(redis_url: str, key: str) -> None:
    # A burst of 4 with 2 in reserve: bulk may take 2 back to back, interactive all 4.
    async with RedisRateLimiter(redis_url, key=key, rate=2, burst=4, reserve=2) as limiter:
        started = anyio.current_time()
        await limiter.acquire(priority="bulk")
        await limiter.acquire(priority="bulk")
        with anyio.move_on_after(0.2) as scope:
            await limiter.acquire(priority="bulk")  # the next bulk slot comes 0.5 s later
        assert scope.cancelled_caught
        await limiter.acquire(priority="interactive")
        await limiter.acquire()  # interactive is the default
        assert anyio.current_time() - started < 0.45
        with anyio.move_on_after(0.2) as scope:
            await limiter.acquire()  # the burst is spent, reserve included
        assert scope.cancelled_caught


@pytest.mark.anyio
async def test_a_bulk_request_waits_until_the_reserve_is_back(redis_url: str, key: str) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=10, burst=3, reserve=2) as limiter:
        await limiter.acquire(priority="bulk")
        started = anyio.current_time()
        await limiter.acquire(priority="bulk")  # one interval later: the reserve stays whole
        elapsed = anyio.current_time() - started
    assert 0.1 - 0.01 <= elapsed < 0.6


@pytest.mark.anyio
async def test_another_process_saturating_the_limit_in_bulk_leaves_clicks_instant(
    redis_url: str, key: str
) -> None:
    # One interval is 0.25 s. The bulk "process" asks for a slot non-stop; the
    # interactive one, clicking every 0.4 s, finds the reserved token each time.
    options = {"key": key, "rate": 4, "burst": 2, "reserve": 1}
    latencies: list[float] = []
    bulk_grants = 0
    async with (
        RedisRateLimiter(redis_url, **options) as bulk_process,
        RedisRateLimiter(redis_url, **options) as web_process,
    ):

        async def bulk_job() -> None:
            nonlocal bulk_grants
            while True:
                await bulk_process.acquire(priority="bulk")
                bulk_grants += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(bulk_job)
            await anyio.sleep(0.3)  # the bulk job has drained the bulk share by now
            for _ in range(3):
                started = anyio.current_time()
                await web_process.acquire()
                latencies.append(anyio.current_time() - started)
                await anyio.sleep(0.4)
            tg.cancel_scope.cancel()
    assert bulk_grants >= 2  # the bulk job did run
    # Without the reserve a click would wait for the next interval (up to 0.25 s).
    assert max(latencies) < 0.12, latencies


@pytest.mark.anyio
async def test_interactive_waiters_in_a_process_go_before_its_bulk_waiters(
    redis_url: str, key: str
) -> None:
    # A burst of 1 keeps no reserve: the order comes from the lanes alone.
    order: list[str] = []
    async with RedisRateLimiter(redis_url, key=key, rate=20, burst=1) as limiter:
        assert limiter.reserve == 0
        await limiter.acquire()  # empty: everyone below waits

        async def take(name: str, priority: str) -> None:
            await limiter.acquire(priority=priority)  # type: ignore[arg-type]
            order.append(name)

        async with anyio.create_task_group() as tg:
            for number in range(4):
                tg.start_soon(take, f"bulk{number}", "bulk")
            await anyio.sleep(0.01)  # the bulk waiters are queued first
            tg.start_soon(take, "click", "interactive")
    # At most the bulk waiter already at the head of its queue may slip in first.
    assert order.index("click") <= 1, order
    assert sorted(order) == ["bulk0", "bulk1", "bulk2", "bulk3", "click"]


@pytest.mark.anyio
async def test_bulk_waiters_are_served_in_arrival_order(redis_url: str, key: str) -> None:
    order: list[int] = []
    async with RedisRateLimiter(redis_url, key=key, rate=10, burst=1) as limiter:

        async def take(number: int) -> None:
            await limiter.acquire(priority="bulk")
            order.append(number)

        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for number in range(5):
                tg.start_soon(take, number)
                await anyio.sleep(0.02)  # more than a round trip to Redis: a clear order
        elapsed = anyio.current_time() - started
    assert elapsed >= 4 / 10 - 0.01
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_the_rate_may_change_while_the_limit_is_in_use(redis_url: str, key: str) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=100, burst=1) as limiter:
        await limiter.acquire()
        limiter.rate = 5  # what a self-pacing limiter will do; the script gets it per call
        started = anyio.current_time()
        await limiter.acquire()
        await limiter.acquire()
        elapsed = anyio.current_time() - started
    assert elapsed >= 1 / 5 - 0.01  # at least one interval at the new rate
    assert elapsed < 1.5


def test_reserve_defaults_to_half_the_burst() -> None:
    def reserve(burst: int) -> int:
        return RedisRateLimiter("redis://localhost", key="k", rate=10, burst=burst).reserve

    assert [reserve(burst) for burst in (1, 2, 3, 4, 20)] == [0, 1, 1, 2, 10]
    limiter = RedisRateLimiter("redis://localhost", key="k", rate=10, burst=4, reserve=0)
    assert (limiter.rate, limiter.burst, limiter.reserve) == (10.0, 4, 0)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"burst": 4, "reserve": -1}, "reserve"),
        ({"burst": 4, "reserve": 1.0}, "reserve"),
        ({"burst": 4, "reserve": True}, "reserve"),
        ({"burst": 4, "reserve": "1"}, "reserve"),
        ({"burst": 4, "reserve": 4}, "reserve"),
        ({"burst": 1, "reserve": 1}, "reserve"),
        ({"rate": 20, "reserve": 2}, "reserve"),  # the default burst is 2
    ],
)
def test_a_bad_reserve_is_refused_naming_it(arguments: dict[str, object], parameter: str) -> None:
    options: dict[str, object] = {"key": "k", "rate": 10}
    options.update(arguments)
    with pytest.raises(InvalidParameterError, match=parameter) as caught:
        RedisRateLimiter("redis://localhost", **options)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    with pytest.raises(InvalidParameterError, match=parameter):
        RedisRateLimiter.from_client(object(), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("priority", ["urgent", "", None, 1, "BULK"])
@pytest.mark.anyio
async def test_an_unknown_lane_is_refused_before_redis_is_asked(priority: object) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens: asking would fail differently
    async with RedisRateLimiter(url, key="k", rate=10) as limiter:
        with pytest.raises(InvalidParameterError, match="priority") as caught:
            await limiter.acquire(priority=priority)  # type: ignore[arg-type]
        assert caught.value.parameter == "priority"
        with pytest.raises(RedisLimiterError):
            await limiter.acquire(priority="bulk")  # the same limiter does ask Redis


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), "5", True, None])
def test_a_bad_rate_set_at_run_time_is_refused_and_the_old_one_kept(rate: object) -> None:
    limiter = RedisRateLimiter("redis://localhost", key="k", rate=10)
    with pytest.raises(InvalidParameterError, match="rate") as caught:
        limiter.rate = rate  # type: ignore[assignment]
    assert caught.value.parameter == "rate"
    assert limiter.rate == 10.0
