"""``rate_limit="auto"``: the client learns the emulator's limit and paces under it.

The emulator runs in process; each run is a few seconds of real time, since
pacing is about time. Margins are wide (a loaded 2-core CI machine); the
figures themselves are measured by ``bench/pacing.py``.
"""

from __future__ import annotations

import anyio
import pytest

from aioparticipant import AsyncClient, AutoRateLimiter, InvalidParameterError, ParticipantUpdate
from aioparticipant.emulator import Emulator
from aioparticipant.testing import client_for

pytestmark = pytest.mark.anyio

CONFERENCE = "CF" + "1" * 32
LOOPBACK = "http://127.0.0.1:9/2010-04-01"


def call_sid(index: int) -> str:
    return f"CA{index:032x}"


async def paced_run(
    rate: float, window: float, updates: int
) -> tuple[float, float, AutoRateLimiter]:
    """Achieved updates per second ÷ ``rate``, the share of requests answered 429, the limiter."""
    emulator = Emulator(rate_limit=rate, rate_window=window)
    for index in range(50):
        emulator.add_participant(CONFERENCE, call_sid(index))
    batch = (
        ParticipantUpdate(CONFERENCE, call_sid(index % 50), muted=index % 2 == 0)
        for index in range(updates)
    )
    async with client_for(emulator, rate_limit="auto") as client:
        started = anyio.current_time()
        async with client.bulk(batch, concurrency=64) as results:
            failed = [result async for result in results if not result.ok]
        elapsed = anyio.current_time() - started
        limiter = client.limiter
    assert not failed
    assert isinstance(limiter, AutoRateLimiter)
    attempts = emulator.stats.requests
    return updates / elapsed / rate, emulator.stats.rate_limited / attempts, limiter


async def test_a_one_second_limit_is_learned_and_held() -> None:
    achieved, refused, limiter = await paced_run(100, 1.0, 500)
    assert achieved >= 0.85
    assert refused <= 0.02
    assert limiter.limit is not None
    assert 85 <= limiter.limit <= 101
    assert limiter.rate <= limiter.limit


async def test_a_long_window_is_learned_and_its_burst_not_repeated() -> None:
    # Two windows' worth: the first goes at once, the second as the first empties.
    achieved, refused, limiter = await paced_run(100, 3.0, 600)
    assert achieved >= 0.85
    assert refused <= 0.02
    assert limiter.limit is not None
    assert 100 * 3 / 4 <= limiter.limit <= 101  # 300 per window measured as 3 to 4 s


async def test_auto_builds_a_learning_limiter_that_knows_nothing_yet() -> None:
    async with AsyncClient("PJ1", "token", base_url=LOOPBACK, rate_limit="auto") as c:
        limiter = c.limiter
        assert isinstance(limiter, AutoRateLimiter)
        assert limiter.limit is None
        assert limiter.rate > 0
        assert "AutoRateLimiter" in repr(limiter)


async def test_a_warm_start_paces_at_once_under_the_given_limit() -> None:
    limiter = AutoRateLimiter(rate=50)
    assert limiter.limit == 50
    started = anyio.current_time()
    for _ in range(10):
        await limiter.acquire(priority="bulk")
    assert anyio.current_time() - started >= 6 / 50  # a small burst, then about 49 a second


async def test_lanes_hold_under_auto_interactive_first_and_its_reserve_kept() -> None:
    limiter = AutoRateLimiter(rate=50)  # pace 49/s, a burst of 5 of which 2 are reserved
    bulk_done: list[int] = []
    interactive_after: list[int] = []

    async def bulk(index: int) -> None:
        await limiter.acquire(priority="bulk")
        bulk_done.append(index)

    async def interactive() -> None:
        await limiter.acquire(priority="interactive")
        interactive_after.append(len(bulk_done))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for index in range(12):
                group.start_soon(bulk, index)
            await anyio.sleep(0.05)  # bulk has spent all but the reserve and queues
            assert len(bulk_done) < 12
            queued = 12 - len(bulk_done)
            for _ in range(2):  # the reserve: two clicks find a token at once
                group.start_soon(interactive)
            await anyio.sleep(0.005)
            assert len(interactive_after) == 2
            group.start_soon(interactive)  # a third waits, but ahead of every bulk waiter
    assert len(bulk_done) == 12
    assert interactive_after[2] <= 12 - queued + 1


@pytest.mark.parametrize("rate_limit", ["fast", "AUTO ", "", 0, -1.0, float("nan"), True])
def test_a_rate_limit_that_is_neither_a_number_nor_auto_is_refused(rate_limit: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncClient("PJ1", "token", base_url=LOOPBACK, rate_limit=rate_limit)  # type: ignore[arg-type]
    assert caught.value.parameter == "rate_limit"


def test_burst_is_learned_under_auto_not_given() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AsyncClient("PJ1", "token", base_url=LOOPBACK, rate_limit="auto", burst=5)
    assert caught.value.parameter == "burst"


def test_a_warm_start_needs_a_positive_rate() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AutoRateLimiter(rate=0)
    assert caught.value.parameter == "rate"
