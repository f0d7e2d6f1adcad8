"""``RedisRateLimiter(rate="auto")``: processes on one key learn one limit and share it.

A real redis-server on 127.0.0.1; the emulator in process. Two limiters on
one key stand for two processes (each has its own learner and its own share
of the fleet, as a process would). Margins are wide; ``bench/pacing.py``
measures two real processes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from aioparticipant import InvalidParameterError, ParticipantUpdate
from aioparticipant.emulator import Emulator
from aioparticipant.redis import RedisRateLimiter
from aioparticipant.redis._scripts import text
from aioparticipant.testing import client_for

from .redis_calls import CallsAtOnce

CONFERENCE = "CF" + "2" * 32


def call_sid(index: int) -> str:
    return f"CA{index:032x}"


def batch(start: int, count: int) -> Iterator[ParticipantUpdate]:
    for index in range(start, start + count):
        yield ParticipantUpdate(CONFERENCE, call_sid(index % 40), muted=index % 2 == 0)


async def run_one(emulator: Emulator, limiter: RedisRateLimiter, start: int, count: int) -> int:
    """Send ``count`` updates through a client on ``limiter``; the number that failed."""
    async with (
        client_for(emulator, limiter=limiter) as client,
        client.bulk(batch(start, count), concurrency=32) as results,
    ):
        errors = [result.error async for result in results if not result.ok]
    assert not errors, errors[:3]
    return 0


@pytest.mark.anyio
async def test_two_processes_on_one_key_learn_one_limit_and_keep_under_it(
    redis_url: str, key: str
) -> None:
    rate = 60
    emulator = Emulator(rate_limit=rate)
    for index in range(40):
        emulator.add_participant(CONFERENCE, call_sid(index))
    first = RedisRateLimiter(redis_url, key=key, rate="auto")
    second = RedisRateLimiter(redis_url, key=key, rate="auto")
    failed: list[int] = []
    async with first, second:
        started = anyio.current_time()
        async with anyio.create_task_group() as group:

            async def one(limiter: RedisRateLimiter, start: int) -> None:
                failed.append(await run_one(emulator, limiter, start, 5 * rate))

            group.start_soon(one, first, 0)
            group.start_soon(one, second, 5 * rate)
        elapsed = anyio.current_time() - started
    assert failed == [0, 0]
    stats = emulator.stats
    assert stats.rate_limited <= 0.03 * stats.requests
    assert 10 * rate / elapsed >= 0.7 * rate
    for limiter in (first, second):
        assert limiter.limit is not None
        assert 0.7 * rate <= limiter.limit <= 1.05 * rate


@pytest.mark.anyio
async def test_a_process_that_joins_later_starts_from_the_limit_the_others_learned(
    redis_url: str, key: str
) -> None:
    rate = 50
    emulator = Emulator(rate_limit=rate)
    for index in range(40):
        emulator.add_participant(CONFERENCE, call_sid(index))
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as first:
        assert await run_one(emulator, first, 0, 2 * rate) == 0
        learned = first.limit
    assert learned is not None
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as late:
        assert late.limit is None
        await late.acquire(priority="bulk")  # its first report brings the fleet's limit
        assert late.limit == pytest.approx(learned, rel=0.05)
        assert late.rate <= learned


async def admitted(
    limiter: RedisRateLimiter, count: int, granted: list[float] | None = None
) -> None:
    """``count`` requests through ``limiter``, each answered 200 at once (granted at ``granted``)."""
    for _ in range(count):
        await limiter.acquire(priority="bulk")
        if granted is not None:
            granted.append(anyio.current_time())
        limiter.observe(200, 0.001, None)


async def refused_after(
    limiter: RedisRateLimiter, count: int, granted: list[float] | None = None
) -> None:
    """``count`` admitted requests, then one refused: its 429 and pause, as the client reports them."""
    await admitted(limiter, count, granted)
    await anyio.sleep(0.03)  # the refused request leaves after the others
    await limiter.acquire(priority="bulk")
    limiter.observe(429, 0.001, 1.0)
    await limiter.pause_for(0.01)  # the 429's pause: the fleet is counted and told now


@pytest.fixture
async def two_processes(
    redis_url: str, key: str
) -> AsyncIterator[tuple[RedisRateLimiter, RedisRateLimiter]]:
    """Two limiters on one key, as two processes would have."""
    first = RedisRateLimiter(redis_url, key=key, rate="auto")
    second = RedisRateLimiter(redis_url, key=key, rate="auto")
    async with first, second:
        yield first, second


@pytest.mark.anyio
async def test_the_first_429_reaches_a_process_still_learning_before_its_next_request(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    await second.acquire(priority="bulk")  # it looks: nothing learned yet
    await refused_after(first, 5)
    assert first.limit is not None
    # Sooner than its next regular look (every half second), and with no
    # request from the first process in between, the second knows the limit
    # before its next request goes: that one waits, for the window is full.
    with anyio.move_on_after(0.2) as waited:
        await second.acquire(priority="bulk")
    assert waited.cancelled_caught
    assert second.limit == pytest.approx(first.limit)


@pytest.mark.anyio
async def test_the_limit_is_the_grants_the_whole_fleet_got_in_the_refused_requests_window(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    await admitted(second, 3)
    await refused_after(first, 4)
    # Counted at the grants' own times, not in buckets: exactly, not ± one.
    assert first.limit == 7.0
    assert second.limit is None or second.limit == 7.0


@pytest.mark.anyio
async def test_the_fleet_never_puts_more_than_the_learned_window_into_any_window(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    granted: list[float] = []
    await refused_after(first, 5, granted)  # a window of one second holds 5
    assert first.limit == 5.0

    async def keep_asking(limiter: RedisRateLimiter) -> None:
        while True:
            await admitted(limiter, 1, granted)

    # Paced at 4.9/s with a burst of 2, the pace alone would put 7 or more into
    # the second the five were granted in; the shared window log holds it to 5.
    with anyio.move_on_after(2.2):
        async with anyio.create_task_group() as group:
            group.start_soon(keep_asking, first)
            group.start_soon(keep_asking, second)
    granted.sort()
    # (Seen from here, a grant's time is off by a round trip, or a thread's hop on trio.)
    busiest = max(sum(at <= t < at + 0.95 for t in granted) for at in granted)
    assert busiest <= 5
    # ... and lets the next window's worth go once the first has left it.
    assert len(granted) >= 5 + 4


@pytest.mark.anyio
async def test_a_429_for_a_request_sent_before_the_fleet_learned_is_an_echo(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    await admitted(second, 4)
    await anyio.sleep(0.2)  # what the second process sends next is still on its way ...
    await refused_after(first, 6)  # ... when the first learns the limit and publishes it
    learned = first.limit
    assert learned is not None
    # The second's request, sent 0.25 s ago, is refused by the same full
    # window: counted over its own stretch it would teach another limit.
    second.observe(429, 0.25, 1.0)
    await second.pause_for(0.01)
    assert second.limit == learned
    assert first.limit == learned


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [({"rate": "fast"}, "rate"), ({"burst": 5}, "burst"), ({"reserve": 1}, "reserve")],
)
def test_auto_takes_neither_another_word_nor_a_burst(
    arguments: dict[str, object], parameter: str
) -> None:
    options: dict[str, object] = {"key": "k", "rate": "auto"}
    options.update(arguments)
    with pytest.raises(InvalidParameterError) as caught:
        RedisRateLimiter("redis://localhost", **options)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


@pytest.mark.anyio
async def test_a_process_that_has_not_heard_of_the_limit_yet_keeps_the_fleets_window(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_processes
    await refused_after(first, 5)
    assert first.limit == 5.0
    monkeypatch.setattr(second._fleet, "look", lambda now: None)  # its next look is not due yet
    with anyio.move_on_after(0.3) as waited:
        await second.acquire(priority="bulk")
    assert second.limit is None
    assert waited.cancelled_caught  # the window the fleet learned is full: it waits too


def test_the_fleet_is_recounted_after_a_429_even_if_the_sleep_for_it_ends_a_little_early() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    for at in range(10):
        fleet.answered(100.0 + at / 100, 200, 0.001, None)
    fleet.answered(100.2, 429, 0.001, 10.0)  # the first 429: a ten-second window
    wait = fleet.settle_wait(100.2)
    assert 0 < wait <= 0.5
    assert fleet.recount(100.2) is None  # not yet: the 429s sent before it are still coming
    # asyncio may end a sleep up to its clock's resolution early; the window's
    # limit must still be counted and published now, not when the pause ends.
    assert fleet.recount(100.2 + wait - 0.001) is not None


@pytest.mark.anyio
async def test_a_429_without_retry_after_holds_the_process_before_its_grant_never_after(
    redis_url: str, key: str
) -> None:
    import redis

    async with RedisRateLimiter(redis_url, key=key, rate="auto") as limiter:
        await admitted(limiter, 3)
        limiter.observe(429, 0.001, None)  # read as Retry-After: 1, and no shared pause
        started = anyio.current_time()
        await limiter.acquire(priority="bulk")
        assert anyio.current_time() - started >= 0.9  # held for that second ...
        with redis.Redis.from_url(redis_url) as direct:
            seconds, micros = direct.time()
            ((_, granted),) = direct.zrange(limiter._keys[2], -1, -1, withscores=True)
    # ... before its grant: granted just now, it reaches the server in the window
    # the fleet's log puts it in.
    assert seconds * 1e6 + micros - granted < 100_000


def test_at_first_contact_the_fleet_lets_no_more_go_back_to_back_than_it_keeps_in_flight() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    for at in range(20):  # 2 ms answers: the pace is 1,000 requests a second
        fleet.answered(100.0 + at / 100, 200, 0.002, None)
    assert fleet.rate >= 900
    # Not 20 ms' worth of that pace (20 at once from a standing start, which a
    # window server would refuse together): the 2 a single client keeps in flight.
    assert fleet.burst == 2


@pytest.mark.parametrize(("seconds", "span"), [(1.0, 1.01), (10.0, 10.1), (0.5, 0.51)])
def test_a_grant_counts_in_the_fleets_window_a_little_longer_than_the_window(
    seconds: float, span: float
) -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    fleet.pacer.adopt(100.0, 50.0, "window" if seconds > 1 else "bucket", seconds)
    size, span_us, *_ = fleet.gate()
    assert float(size) == pytest.approx(50.0 * seconds)
    # A request reaches the server a little after its grant: the grant is kept 1 %
    # of the window longer (at least 10 ms), what pacing 1 % under gives up anyway.
    assert span_us == math.ceil(span * 1e6)


@pytest.mark.anyio
async def test_a_grant_is_in_the_fleets_window_while_in_flight_then_from_its_answer(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    await refused_after(first, 5)  # a window of one second holds 5
    await anyio.sleep(1.1)  # ... and has emptied
    assert first._fleet is not None
    first._fleet.pacer.latency = 0.3  # its answers take 0.3 s: in flight for up to 1.2 s
    answer = anyio.Event()

    async def one_request() -> None:  # a task per request: its answer finds its own grant
        await first.acquire(priority="bulk")
        await answer.wait()
        first.observe(200, 1.2, None)  # answered at last

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one_request)
        await anyio.sleep(1.1)
        # Granted 1.1 s ago and still in flight: the server may have counted them
        # just now, so they still fill its window (by their grants' times alone
        # they would have left it).
        with anyio.move_on_after(0.2) as waited:
            await second.acquire(priority="bulk")
        assert waited.cancelled_caught
        answer.set()
    # Answered now: in the window until a second after their answers.
    with anyio.move_on_after(0.6) as waited:
        await first.acquire(priority="bulk")
    assert waited.cancelled_caught
    with anyio.fail_after(1.0):
        await first.acquire(priority="bulk")


@pytest.mark.anyio
async def test_an_answer_moves_its_grant_in_the_fleets_window_and_a_429_takes_it_out() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")

    async def one_request(granted_at: int, member: str, status: int) -> None:
        now = anyio.current_time()
        fleet.granting(now, granted_at, member, now)
        await anyio.sleep(0.03)  # held up between the grant and its sending (a busy loop)
        fleet.let_go()
        await anyio.sleep(0.05)
        fleet.answered(anyio.current_time(), status, 0.05, 1.0)

    await one_request(5_000_000, "member-1", 200)
    await one_request(6_000_000, "member-2", 429)
    *_, flight, one, moved, two, removed = fleet.gate()
    assert (one, two, removed) == ("member-1", "member-2", "-")
    # On Redis's clock: its grant's time plus the time from asking for it to
    # its answer (the 30 ms it was held up included: the server may have
    # counted it that much later), less the 10 ms a grant counts past the
    # window anyway.
    assert isinstance(moved, int)
    assert 5_070_000 <= moved <= 5_220_000
    assert flight == pytest.approx(4 * 50_000, rel=0.2)  # in flight for 4 latencies at most
    assert len(fleet.gate()) == 4  # the answers are taken once


def test_a_429_at_the_pace_thought_safe_never_raises_the_fleets_limit() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    fleet.looked(100.0, [b"100.0 bucket 1.0", 1, 0])  # the fleet's limit: 100/s
    for at in range(50):
        fleet.answered(100.5 + at / 100, 200, 0.01, None)
    fleet.answered(101.1, 429, 0.01, 1.0)  # refused at our own pace
    recount = fleet.recount(102.0)
    assert recount is not None
    # Requests reach the server some while after their grants, so a count by
    # the grants' times is off either way; refused at the pace thought safe,
    # the limit is lower than it was taken to be, whatever the count says.
    fleet.recounted(102.0, [130, 0], recount[1])
    assert fleet.limit == pytest.approx(98.0)


def test_on_a_short_limit_the_fleet_counts_only_what_its_window_surely_held() -> None:
    from aioparticipant.redis._auto import FleetPacing
    from aioparticipant.redis._fleet_settings import SLACK

    fleet = FleetPacing("{key}")
    for at in range(50):
        fleet.answered(100.0 + at / 50, 200, 0.01, None)
    granted = 5_000_000_000  # the refused request's grant, on Redis's clock (µs)
    fleet.granting(101.0, granted, "member", 100.99)
    fleet.answered(101.0, 429, 0.01, 1.0)
    recount = fleet.recount(102.0)
    assert recount is not None
    (first, last), seconds = recount[0][:2], recount[1]
    assert fleet.pacer.mode == "bucket"
    assert seconds == 1.0
    # Up to the refused request's grant, from SLACK after a second before it:
    # a grant that early may have reached the server before the server's
    # window began (delays between grant and server differ by up to SLACK),
    # and a count with it would read the limit high.
    assert int(last) == pytest.approx(granted, abs=2)
    assert (int(last) - int(first)) / 1e6 == pytest.approx(seconds - SLACK, abs=1e-5)


def test_the_fleets_first_limit_is_its_count_whatever_one_process_counted_first() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    for at in range(50):  # this process's half of the fleet's first second
        fleet.answered(100.0 + at / 50, 200, 0.01, None)
    fleet.answered(101.0, 429, 0.01, 1.0)
    fleet.answered(101.02, 429, 0.005, 1.0)  # another, sent after the first came back
    assert fleet.limit is not None
    assert fleet.limit < 60  # what this process saw of it
    recount = fleet.recount(102.0)
    assert recount is not None
    fleet.recounted(102.0, [100, 0], recount[1])
    assert fleet.limit == 100.0  # not capped by a limit the fleet never had


@pytest.mark.anyio
async def test_of_two_counts_of_one_long_window_the_fleet_keeps_the_larger(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    # Each process counts the fleet's grants up to its own refused request's
    # grant; a request granted after that one may still have reached the server
    # first, so every count of the window is short. Two counts of one window
    # (the second an echo: its request was sent before the first was
    # published): the larger stands, and the others take it at their next look.
    first, second = two_processes
    assert first._fleet is not None
    keys = [first._fleet.learned_key]
    reply = await first._connection.fleet(keys, [f"{998 / 10.6!r} window 10.6", 0])
    assert int(reply[2]) == 1  # the fleet's first count: 998
    reply = await second._connection.fleet(keys, [f"{1000 / 10.6!r} window 10.6", 100_000])
    assert int(reply[2]) == 1  # an echo that counted more: 1,000
    assert float(text(reply[0]).split()[0]) * 10.6 == pytest.approx(1000)
    reply = await first._connection.fleet(keys, [f"{999 / 10.6!r} window 10.6", 100_000])
    assert int(reply[2]) == 0  # an echo that counted less leaves it
    assert float(text(reply[0]).split()[0]) * 10.6 == pytest.approx(1000)
    version = int(reply[1])
    # A short limit's echo never raises it: counted by grant times, a short
    # window's count may run over.
    reply = await first._connection.fleet(keys, ["100.0 bucket 1.0", 0])  # a new event
    assert int(reply[2]) == 1
    reply = await second._connection.fleet(keys, ["105.0 bucket 1.0", 100_000])
    assert int(reply[2]) == 0
    assert text(reply[0]) == "100.0 bucket 1.0"
    assert int(reply[1]) == version + 1


def test_at_first_contact_the_fleet_keeps_one_clients_share_of_all_its_grants_in_flight() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    fleet.granting(1.0, 1, "1", 0.99, fleet_granted=1)  # the first ask opens the connection
    fleet.granting(1.1, 2, "2", 1.1 - 0.0005, fleet_granted=800)  # a round trip of 0.5 ms
    fleet.answered(1.2, 200, 0.002, None)
    # This process was admitted once, but the fleet was granted 800: as one client
    # it keeps 1.25 % of them in flight (10). A 429 stops the other processes only
    # once relayed through Redis, so the round trip counts as latency.
    assert fleet.rate == pytest.approx(10 / (0.002 + 0.0005))
    assert fleet.pacer.rate == pytest.approx(2 / 0.002)  # what it alone would keep
    assert fleet.burst == 2  # and no more back to back than it alone would
    fleet.answered(1.3, 429, 0.002, 1.0)  # a limit learned: its pace, shared
    assert fleet.pacer.mode == "bucket"
    assert fleet.rate == fleet.pacer.rate


@pytest.mark.anyio
async def test_each_grant_at_first_contact_tells_the_fleets_grants_so_far(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    first, second = two_processes
    for limiter, count in ((first, 3), (second, 1)):
        await admitted(limiter, count)
    fleet = second._fleet
    assert fleet is not None
    assert fleet._fleet_granted == 4  # its own one and the first's three
    await refused_after(first, 2)  # a limit learned: no longer first contact
    await anyio.sleep(1.1)  # its window has emptied
    answer = await second._ask("interactive")
    assert answer is not None
    assert answer.wait == 0
    assert answer.fleet_granted is None


def test_an_acquire_reply_reads_with_and_without_the_fleets_count() -> None:
    from aioparticipant.redis._scripts import read_answer

    assert read_answer([0, 0, 0]).fleet_granted is None
    assert read_answer([0, 0, 0, 5, b"5", -1]).fleet_granted is None  # a window is known
    answer = read_answer([0, 0, 0, 5, b"5", 7])
    assert (answer.granted_at, answer.member, answer.fleet_granted) == (5, "5", 7)


@pytest.mark.anyio
async def test_a_waiter_asleep_at_the_guessed_first_pace_goes_when_the_first_answer_comes(
    redis_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aioparticipant._pacing

    # Until the first answer the pace is a guess at the latency: here 2 a second.
    monkeypatch.setattr(aioparticipant._pacing, "FIRST_LATENCY", 1.0)
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as limiter:
        await limiter.acquire(priority="bulk")
        started = anyio.current_time()
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(limiter.acquire, priority="bulk"))  # asleep at 2/s
            await anyio.sleep(0.05)
            limiter.observe(200, 0.005, None)  # 5 ms answers: hundreds a second
        # It asked again at the pace the answer told, not at the guessed one.
        assert anyio.current_time() - started < 0.4


@pytest.mark.anyio
async def test_requests_that_come_at_once_share_one_look_at_what_the_fleet_learned(
    redis_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = CallsAtOnce(monkeypatch, "fleet")
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as limiter:
        with anyio.move_on_after(0.1):
            async with anyio.create_task_group() as group:
                for _ in range(30):  # a bulk run's workers, all at once at a cold start
                    group.start_soon(functools.partial(limiter.acquire, priority="bulk"))
    assert looks.calls >= 1
    assert looks.most == 1


@pytest.mark.anyio
async def test_requests_share_one_look_however_long_its_round_trip(
    redis_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each look takes 50 ms (a busy machine, a cold connection): five times the
    # pause between looks while the fleet has learned nothing.
    looks = CallsAtOnce(monkeypatch, "fleet", delay=0.05)
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as limiter:
        with anyio.move_on_after(0.3):
            async with anyio.create_task_group() as group:
                for _ in range(30):
                    group.start_soon(functools.partial(limiter.acquire, priority="bulk"))
                    await anyio.sleep(0.005)
    assert looks.calls >= 2  # one after another
    assert looks.most == 1


@pytest.mark.anyio
async def test_a_look_that_fails_is_taken_again_soon(
    redis_url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    from aioparticipant.redis._connection import Connection

    original = Connection.fleet
    calls = 0

    async def failing_once(connection: Connection, keys: list[str], args: list[str | int]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise redis.exceptions.ConnectionError("Redis went away for a moment")
        return await original(connection, keys, args)

    monkeypatch.setattr(Connection, "fleet", failing_once)
    async with RedisRateLimiter(redis_url, key=key, rate="auto") as limiter:
        for _ in range(5):
            await limiter.acquire(priority="bulk")
            await anyio.sleep(0.02)
    assert calls >= 2


def test_answers_that_took_no_time_at_first_contact_leave_the_pace_to_the_learner() -> None:
    from aioparticipant.redis._auto import FleetPacing

    fleet = FleetPacing("{key}")
    fleet.answered(1.0, 200, 0.0, None)  # a clock too coarse to see it
    assert fleet.rate == fleet.pacer.rate > 0


@pytest.mark.anyio
async def test_a_429s_limit_is_published_within_its_pause_even_when_the_settling_passed_meanwhile(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a busy machine logging the refusal may take longer than the settling
    # (20 ms plus the latency): the recount is due at once, and it must not wait
    # for this process's next acquire, after the pause, while the others go on
    # without the limit.
    first, second = two_processes
    refuse = first._connection.refuse

    async def slow_refuse(*args: Any) -> Any:
        await anyio.sleep(0.1)
        return await refuse(*args)

    monkeypatch.setattr(first._connection, "refuse", slow_refuse)
    await refused_after(first, 5)
    assert second._fleet is not None
    reply = await second._connection.fleet([second._fleet.learned_key], [""])
    assert text(reply[0]).split()[1:] == ["bucket", "1.0"]


@pytest.mark.anyio
async def test_after_a_pause_the_fleet_goes_at_its_pace_with_no_burst_on_top(
    two_processes: tuple[RedisRateLimiter, RedisRateLimiter],
) -> None:
    # The pace spaces what a pause held. A full burst at its end would put more
    # than the pace into the server's next window: past a limit learned a hair
    # high, a 429 and another whole pause.
    first, second = two_processes
    await refused_after(first, 10)  # a one-second window holds 10
    await anyio.sleep(1.1)  # ... and has emptied; the bucket has long been full
    assert first.limit is not None
    assert second.burst == 2
    interval = 1 / second.rate  # about 0.1 s
    started = anyio.current_time()
    await first.pause_for(0.3)
    for _ in range(2):
        await second.acquire()
    # The bucket is empty when the pause ends and fills at the pace from then.
    assert anyio.current_time() - started >= 0.3 + 1.5 * interval
