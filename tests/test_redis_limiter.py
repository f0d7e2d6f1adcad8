"""RedisRateLimiter against a real redis-server on 127.0.0.1 (started here, one per session).

Timing checks use lower bounds (which cannot flake) and generous upper bounds.
Set AIOPARTICIPANT_REQUIRE_REDIS=1 to fail, not skip, when redis-server is missing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
import redis
import redis.asyncio
import respx

from aioparticipant import AioParticipantError, InvalidParameterError, Limiter
from aioparticipant.redis import RedisLimiterError, RedisRateLimiter
from aioparticipant.redis._scripts import limit_keys

from .helpers import PARTICIPANT_JSON, PARTICIPANT_URL, make_client
from .redis_calls import CallsAtOnce
from .redis_servers import PASSWORD, free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "redis_workers.py"


# --- limits ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_burst_goes_at_once_then_requests_are_spaced_at_the_rate(
    redis_url: str, key: str
) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=20, burst=5) as limiter:
        started = anyio.current_time()
        for _ in range(5):
            await limiter.acquire()
        assert anyio.current_time() - started < 0.2  # a sixth would wait 50 ms
        for _ in range(5):
            await limiter.acquire()
        elapsed = anyio.current_time() - started
    assert elapsed >= 5 / 20 - 0.01
    assert elapsed < 2


@pytest.mark.anyio
async def test_many_tasks_in_one_process_share_the_rate(redis_url: str, key: str) -> None:
    granted: list[float] = []

    async with RedisRateLimiter(redis_url, key=key, rate=50, burst=1) as limiter:

        async def one() -> None:
            await limiter.acquire()
            granted.append(anyio.current_time())

        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(11):
                tg.start_soon(one)
    assert len(granted) == 11
    assert max(granted) - started >= 10 / 50 - 0.01
    assert max(granted) - started < 2


@pytest.mark.anyio
async def test_two_limiters_on_one_key_share_one_limit(redis_url: str, key: str) -> None:
    # Two instances stand for two processes: together they get the rate, not twice it.
    async with (
        RedisRateLimiter(redis_url, key=key, rate=20, burst=2) as first,
        RedisRateLimiter(redis_url, key=key, rate=20, burst=2) as second,
    ):

        async def take(limiter: RedisRateLimiter) -> None:
            for _ in range(5):
                await limiter.acquire()

        started = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(take, first)
            tg.start_soon(take, second)
        elapsed = anyio.current_time() - started
    # 10 grants, 2 of them free: at least 8 intervals. Apart, each would need 3 (0.15 s).
    assert elapsed >= 8 / 20 - 0.01
    assert elapsed < 3


@pytest.mark.anyio
async def test_different_keys_are_independent(redis_url: str, key: str) -> None:
    async with (
        RedisRateLimiter(redis_url, key=key + ":a", rate=1, burst=3) as first,
        RedisRateLimiter(redis_url, key=key + ":b", rate=1, burst=3) as second,
    ):
        started = anyio.current_time()
        for _ in range(3):
            await first.acquire()
            await second.acquire()
        # One shared key would have made the fourth grant wait a full second.
        assert anyio.current_time() - started < 0.5


@pytest.mark.anyio
async def test_cancelling_a_waiter_takes_no_slot(redis_url: str, key: str) -> None:
    async with (
        RedisRateLimiter(redis_url, key=key, rate=2, burst=1) as limiter,
        RedisRateLimiter(redis_url, key=key, rate=2, burst=1) as other_process,
    ):
        await limiter.acquire()  # empty now; the next slot comes 0.5 s later
        started = anyio.current_time()
        with anyio.move_on_after(0.1) as scope:
            await limiter.acquire()
        assert scope.cancelled_caught
        # Had the cancelled waiter reserved the 0.5 s slot, this would wait until 1 s.
        await other_process.acquire()
        elapsed = anyio.current_time() - started
    assert 0.4 <= elapsed < 0.9


@pytest.mark.anyio
async def test_the_key_expires_once_the_limit_is_idle(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=20, burst=2) as limiter:
        await limiter.acquire()
        await limiter.acquire()
        # Full again within burst / rate = 0.1 s, and the key goes with it.
        state, _ = limit_keys(key)
        assert 0 < inspector.pttl(state) <= 100
        await anyio.sleep(0.15)
        assert inspector.exists(state) == 0


def test_workers_in_separate_processes_share_one_limit(redis_url: str, key: str) -> None:
    rate, burst, seconds = 40, 1, 1.0
    # One worker on asyncio (redis.asyncio), one on trio (redis-py in a thread).
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WORKER, redis_url, key, str(rate), str(burst), str(seconds), b],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in ("asyncio", "trio")
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()  # the worker is ready: imports done, connected
            assert line.strip() == "ready", worker.communicate(timeout=10)[1]
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        counts = []
        for worker in workers:
            out, err = worker.communicate(timeout=15)
            assert worker.returncode == 0, err
            counts.append(int(out.split()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    total = sum(counts)
    most = burst + rate * seconds  # what one limit allows in the window
    assert total <= most + 2, counts  # + 2: the two windows start a few ms apart
    assert total >= 0.6 * rate * seconds, counts  # loose: the test machine may be busy
    # Which process gets the next free slot is a race, not a queue: no fairness check.


WORKER = """
import sys, time
import anyio
from aioparticipant.redis import RedisRateLimiter

url, key, rate, burst, seconds, backend = sys.argv[1:]

async def main():
    async with RedisRateLimiter(url, key=key + ":warm-up:" + backend, rate=1, burst=1) as warm_up:
        await warm_up.acquire()  # imports and the first connection, outside the window
    async with RedisRateLimiter(url, key=key, rate=float(rate), burst=int(burst)) as limiter:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        deadline = time.monotonic() + float(seconds)
        granted = 0
        while True:
            await limiter.acquire()
            if time.monotonic() > deadline:
                break
            granted += 1
    print("granted", granted, flush=True)

anyio.run(main, backend=backend)
"""


# --- in the client ----------------------------------------------------------------------


class CountingRedisLimiter(RedisRateLimiter):
    acquired = 0

    async def acquire(self) -> None:
        await super().acquire()
        self.acquired += 1


@pytest.mark.anyio
async def test_every_attempt_of_a_client_request_passes_the_redis_limiter(
    redis_url: str, key: str
) -> None:
    limiter = CountingRedisLimiter(redis_url, key=key, rate=10, burst=1)
    assert isinstance(limiter, Limiter)
    ok = httpx.Response(200, content=PARTICIPANT_JSON)
    async with limiter:
        with respx.mock() as mock:
            mock.post(PARTICIPANT_URL).mock(
                side_effect=[httpx.Response(503), httpx.Response(500), ok]
            )
            async with make_client(limiter=limiter) as client:
                started = anyio.current_time()
                participant = await client.conferences("CF1").participants("CA1").mute()
                elapsed = anyio.current_time() - started
        assert not limiter.is_closed  # the client does not close a limiter it was given
    assert participant.muted is True
    assert limiter.acquired == 3
    assert elapsed >= 2 / 10 - 0.01  # three attempts, one slot every 0.1 s


@pytest.mark.anyio
async def test_an_unreachable_redis_fails_the_request_without_retrying_it(key: str) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nobody listens there
    async with RedisRateLimiter(url, key=key, rate=10, burst=1) as limiter:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
            async with make_client(limiter=limiter) as client:
                with pytest.raises(RedisLimiterError) as caught:
                    await client.conferences("CF1").participants("CA1").mute()
        assert route.call_count == 0
    error = caught.value
    assert isinstance(error, AioParticipantError)
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)
    assert error.key == key
    assert "127.0.0.1" in str(error)
    assert PASSWORD not in str(error)
    assert PASSWORD not in repr(error)


@pytest.mark.anyio
async def test_a_wrong_password_is_a_limiter_error_that_shows_neither_password(
    redis_url: str, key: str
) -> None:
    wrong = "wrong-pw-1234"
    url = redis_url.replace(PASSWORD, wrong)
    async with RedisRateLimiter(url, key=key, rate=10, burst=1) as limiter:
        with pytest.raises(RedisLimiterError) as caught:
            await limiter.acquire()
    assert isinstance(caught.value.__cause__, redis.exceptions.AuthenticationError)
    for text in (str(caught.value), repr(caught.value), repr(limiter)):
        assert wrong not in text
        assert PASSWORD not in text


@pytest.mark.anyio
async def test_the_script_is_loaded_again_after_redis_forgets_it(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=10, burst=2) as limiter:
        await limiter.acquire()
        inspector.script_flush()  # what a restart or a failover to a fresh replica does
        await limiter.acquire()  # NOSCRIPT, then SCRIPT LOAD and EVALSHA again
    assert inspector.exists(limit_keys(key)[0]) == 1


@pytest.mark.anyio
async def test_the_first_call_loads_every_script_so_the_first_pause_needs_no_extra_trip(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    from aioparticipant.redis._connection import _SCRIPTS

    inspector.script_flush()
    async with RedisRateLimiter(redis_url, key=key, rate=10, burst=2) as limiter:
        await limiter.acquire()
    shas = [hashlib.sha1(script.encode()).hexdigest() for script in _SCRIPTS]  # noqa: S324
    assert inspector.script_exists(*shas) == [True] * len(_SCRIPTS)


@pytest.mark.anyio
async def test_grants_at_a_slower_rate_hold_a_faster_rate_for_one_burst_at_most(
    redis_url: str, key: str
) -> None:
    async with RedisRateLimiter(redis_url, key=key, rate=4, burst=2) as limiter:
        for _ in range(2):
            await limiter.acquire()  # the limit is full for the next half second at 4/s
        limiter.rate = 1000.0  # the pace rose (rate="auto" learns it does)
        # The debt at the old rate is forgiven down to one burst at the new one,
        # and that is kept: the wait given is the wait, not asked again forever.
        with anyio.fail_after(0.2):
            for _ in range(3):
                await limiter.acquire()


@pytest.mark.anyio
async def test_callers_that_come_at_once_ask_redis_one_at_a_time(
    redis_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asks = CallsAtOnce(monkeypatch, "acquire")
    async with (
        RedisRateLimiter(redis_url, key=key, rate=1000, burst=50) as limiter,
        anyio.create_task_group() as group,
    ):
        for _ in range(30):
            group.start_soon(functools.partial(limiter.acquire, priority="bulk"))
    # Not thirty round trips at once, each on a connection of its own.
    assert asks.calls >= 30
    assert asks.most == 1


@pytest.mark.anyio
async def test_a_key_of_another_type_is_a_limiter_error(
    redis_url: str, key: str, inspector: redis.Redis
) -> None:
    try:
        state, _ = limit_keys(key)
        inspector.rpush(state, "not a limit")
        async with RedisRateLimiter(redis_url, key=key, rate=10, burst=1) as limiter:
            with pytest.raises(RedisLimiterError, match="WRONGTYPE"):
                await limiter.acquire()
    finally:
        inspector.delete(state)


# --- clients, closing, backends -----------------------------------------------------------


@pytest.mark.anyio
async def test_a_sync_redis_client_works_on_either_backend_and_stays_open(
    redis_url: str, key: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        async with RedisRateLimiter.from_client(client, key=key, rate=20, burst=2) as limiter:
            started = anyio.current_time()
            for _ in range(3):
                await limiter.acquire()
            assert anyio.current_time() - started >= 1 / 20 - 0.01
        assert limiter.is_closed
        assert client.ping()  # not ours to close
    finally:
        client.close()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_an_asyncio_redis_client_is_used_and_left_open(redis_url: str, key: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with RedisRateLimiter.from_client(client, key=key, rate=10, burst=2) as limiter:
            await limiter.acquire()
            await limiter.acquire()
            port = redis_url.rsplit(":", 1)[1].split("/")[0]
            assert repr(limiter) == (
                f"RedisRateLimiter(client=<redis.asyncio.Redis at 127.0.0.1:{port}/0>, "
                f"key={key!r}, rate=10, burst=2, reserve=1)"
            )
        assert await client.ping()
        assert await client.exists(limit_keys(key)[0]) == 1  # the script ran through this client
    finally:
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_an_asyncio_redis_client_under_trio_is_refused_clearly(
    redis_url: str, key: str
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)  # never connects under trio
    limiter = RedisRateLimiter.from_client(client, key=key, rate=10, burst=1)
    with pytest.raises(RuntimeError, match=r"only runs on asyncio.*redis\.Redis"):
        await limiter.acquire()
    await limiter.aclose()


@pytest.mark.anyio
async def test_a_closed_limiter_refuses_to_acquire(redis_url: str, key: str) -> None:
    limiter = RedisRateLimiter(redis_url, key=key, rate=10, burst=1)
    await limiter.acquire()
    await limiter.aclose()
    await limiter.aclose()  # twice is fine
    assert limiter.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await limiter.acquire()


# --- arguments and secrets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://app:hunter2@localhost/1", "redis://app:***@localhost/1"),
        ("rediss://hunter2@redis.example.com:6380", "rediss://***@redis.example.com:6380"),
        ("redis://localhost/0?password=hunter2&db=1", "redis://localhost/0?password=***&db=1"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=***"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ],
)
def test_repr_never_shows_the_password(url: str, shown: str) -> None:
    limiter = RedisRateLimiter(url, key="k", rate=2.5, burst=3)
    assert repr(limiter) == (
        f"RedisRateLimiter(url={shown!r}, key='k', rate=2.5, burst=3, reserve=1)"
    )
    assert "hunter2" not in str(limiter)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": True}, "rate"),
        ({"rate": "10"}, "rate"),
        ({"burst": 0}, "burst"),
        ({"burst": 1.5}, "burst"),
        ({"burst": True}, "burst"),
        ({"key": ""}, "key"),
        ({"key": None}, "key"),
        ({"url": ""}, "url"),
        ({"url": "http://localhost:6379"}, "url"),
        ({"url": "redis://:hunter2@localhost:notaport/0"}, "url"),
    ],
)
def test_bad_arguments_are_refused_naming_the_parameter(
    arguments: dict[str, object], parameter: str
) -> None:
    options: dict[str, object] = {"url": "redis://localhost", "key": "k", "rate": 10, "burst": 1}
    options.update(arguments)
    url = options.pop("url")
    with pytest.raises(InvalidParameterError, match=parameter) as caught:
        RedisRateLimiter(url, **options)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
    assert isinstance(caught.value, ValueError)
    assert "hunter2" not in str(caught.value)


def test_burst_defaults_to_a_tenth_of_a_seconds_worth() -> None:
    assert RedisRateLimiter("redis://localhost", key="k", rate=2.5).burst == 1
    assert RedisRateLimiter("redis://localhost", key="k", rate=200).burst == 20
    assert RedisRateLimiter("redis://localhost", key="k", rate=0.2).burst == 1


def test_from_client_refuses_what_is_not_a_redis_client() -> None:
    with pytest.raises(InvalidParameterError, match="client"):
        RedisRateLimiter.from_client("redis://localhost", key="k", rate=1)  # type: ignore[arg-type]


def test_a_limiter_cannot_be_pickled_into_another_process() -> None:
    limiter = RedisRateLimiter("redis://:hunter2@localhost", key="k", rate=1)
    with pytest.raises(TypeError, match="each process"):
        pickle.dumps(limiter)


# --- the example ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_workers_example_mutes_everyone_under_the_shared_limit(
    redis_url: str, key: str
) -> None:
    # The example's worker, twice in this process (its multiprocessing part is plain stdlib).
    spec = importlib.util.spec_from_file_location("redis_workers_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for number in (1, 2):
            tg.start_soon(example.mute_everyone, number, redis_url, key, 50, 2, 10)
    # 20 updates through one limit of 50/s with a burst of 2: at least 18 intervals.
    assert anyio.current_time() - started >= 18 / 50 - 0.01
