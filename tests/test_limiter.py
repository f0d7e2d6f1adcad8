"""Token bucket, shared 429 pause, custom limiters and the concurrency bound.

Timing checks use lower bounds (which cannot flake) and generous upper bounds.
"""

from __future__ import annotations

import anyio
import httpx
import pytest
import respx

from aioparticipant import Limiter, Priority, TokenBucket

from .helpers import PARTICIPANT_JSON, PARTICIPANT_URL, make_client

pytestmark = pytest.mark.anyio


async def test_a_full_bucket_lets_a_burst_through_at_once() -> None:
    bucket = TokenBucket(rate=1, burst=5)
    started = anyio.current_time()
    for _ in range(5):
        await bucket.acquire()
    assert anyio.current_time() - started < 0.5  # 5 tokens were waiting; a sixth would take 1 s


async def test_past_the_burst_requests_are_spaced_at_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    started = anyio.current_time()
    for _ in range(11):
        await bucket.acquire()
    elapsed = anyio.current_time() - started
    assert elapsed >= 10 / 50 - 0.005
    assert elapsed < 1.5


async def test_concurrent_waiters_share_the_rate() -> None:
    bucket = TokenBucket(rate=100, burst=1)
    done: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        done.append(anyio.current_time())

    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(21):
            tg.start_soon(one)
    assert len(done) == 21
    assert max(done) - started >= 20 / 100 - 0.005


async def test_a_cancelled_waiter_takes_no_token() -> None:
    bucket = TokenBucket(rate=5, burst=1)  # one token every 0.2 s
    await bucket.acquire()  # empty now
    started = anyio.current_time()
    with anyio.move_on_after(0.05):
        await bucket.acquire()  # cancelled while waiting
    await bucket.acquire()  # must get the token refilled at ~0.2 s, not wait for a second one
    elapsed = anyio.current_time() - started
    assert 0.19 <= elapsed < 0.35


async def test_a_bulk_waiter_is_served_when_the_burst_and_reserve_shrink_under_it() -> None:
    # An auto limiter moves burst and reserve while requests wait: a bulk
    # waiter that kept the old reserve (1 of a burst of 2) would wait for a
    # second token that a burst of 1 can never hold (CI hung on this).
    bucket = TokenBucket(rate=20, burst=2, reserve=1)
    await bucket.acquire(priority="bulk")  # one token left: the reserve
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: bucket.acquire(priority="bulk"))
            await anyio.sleep(0.01)  # the bulk waiter is asleep, waiting for two tokens
            bucket.burst, bucket.reserve = 1, 0
    assert bucket.burst == 1


async def test_a_waiter_takes_its_token_sooner_when_the_rate_rises() -> None:
    # A self-pacing limiter starts slow and raises its rate with the first
    # answers: a waiter that went to sleep on the slow rate must not sleep it out.
    bucket = TokenBucket(rate=1, burst=1)
    await bucket.acquire(priority="bulk")  # the bucket is empty: the next token is a second away
    waited = anyio.Event()

    async def waiter() -> None:
        await bucket.acquire(priority="bulk")
        waited.set()

    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.sleep(0.05)
        assert not waited.is_set()
        bucket.rate = 10  # the token is now 0.05 s away, not 0.95 s
        with anyio.fail_after(0.6):
            await waited.wait()
    assert anyio.current_time() - started >= 0.09


async def test_a_waiter_keeps_its_place_when_the_rate_falls() -> None:
    bucket = TokenBucket(rate=20, burst=1)
    await bucket.acquire()
    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        group.start_soon(bucket.acquire)
        await anyio.sleep(0.01)
        bucket.rate = 2  # the rest of its token now comes at 2/s
    assert anyio.current_time() - started >= 0.2


async def test_bad_rates_are_refused() -> None:
    for rate, burst in (
        (0, None),
        (-1, None),
        (float("inf"), None),
        (1, 0),
        (1, 1.5),
        (True, None),
    ):
        with pytest.raises(ValueError):
            TokenBucket(rate, burst)  # type: ignore[arg-type]
    assert TokenBucket(2.5).burst == 1
    assert TokenBucket(200).burst == 20  # a tenth of a second's worth


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> None:
        self.acquired += 1


async def test_every_attempt_passes_the_limiter_retries_included() -> None:
    limiter = CountingLimiter()
    assert isinstance(limiter, Limiter)
    ok = httpx.Response(200, content=PARTICIPANT_JSON)
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(side_effect=[httpx.Response(503), httpx.Response(500), ok])
        async with make_client(limiter=limiter) as client:
            await client.conferences("CF1").participants("CA1").mute()
    assert limiter.acquired == 3


async def test_rate_limit_applies_to_the_client() -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with make_client(rate_limit=40, burst=1) as client:
            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for _ in range(9):
                    tg.start_soon(client.conferences("CF1").participants("CA1").mute)
            assert anyio.current_time() - started >= 8 / 40 - 0.005


@pytest.mark.parametrize("with_limiter", ["none", "bucket", "custom"])
async def test_a_429_with_retry_after_pauses_every_new_request(with_limiter: str) -> None:
    sent_at: list[tuple[str, float]] = []
    first = True

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal first
        sent_at.append((request.url.path, anyio.current_time()))
        if first:
            first = False
            return httpx.Response(429, headers={"Retry-After": "0.3"})
        return httpx.Response(200, content=PARTICIPANT_JSON)

    options: dict[str, object] = {
        "none": {},
        "bucket": {"rate_limit": 1000},
        "custom": {"limiter": CountingLimiter()},
    }[with_limiter]  # type: ignore[assignment]
    with respx.mock() as mock:
        mock.post(url__regex=r".*").mock(side_effect=answer)
        async with make_client(**options) as client:
            started = anyio.current_time()
            await_first = client.conferences("CF1").participants("CA1").mute
            async with anyio.create_task_group() as tg:
                tg.start_soon(await_first)
                await anyio.sleep(0.05)  # the 429 has come back by now
                for call in ("CA2", "CA3"):
                    tg.start_soon(client.conferences("CF1").participants(call).mute)
    later = [at for path, at in sent_at if not path.endswith("CA1.json")]
    assert len(later) == 2
    assert min(later) - started >= 0.3 - 0.005


class InFlight:
    """A respx side effect that answers after 10 ms (or once ``release`` is set) and
    records the most requests it ever had in flight at once (``peak``)."""

    def __init__(self, release: anyio.Event | None = None) -> None:
        self.release = release
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.release is not None and not self.release.is_set():
                await self.release.wait()
            await anyio.sleep(0.01)
        finally:
            self.in_flight -= 1
        return httpx.Response(200, content=PARTICIPANT_JSON)


async def test_concurrency_is_bounded_before_the_pool() -> None:
    server = InFlight()
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(side_effect=server)
        async with make_client(max_connections=3) as client, anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(client.conferences("CF1").participants("CA1").mute)
    assert server.peak == 3


async def test_cancelled_waiters_lose_no_slot() -> None:
    release = anyio.Event()
    server = InFlight(release)
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(side_effect=server)
        async with make_client(max_connections=2) as client:
            mute = client.conferences("CF1").participants("CA1").mute
            # Ten requests: two hold the slots, eight wait; then cancel them all mid-flight.
            with anyio.move_on_after(0.1):
                async with anyio.create_task_group() as tg:
                    for _ in range(10):
                        tg.start_soon(mute)
            release.set()
            server.peak = 0
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    for _ in range(6):
                        tg.start_soon(mute)
    assert server.peak == 2  # both slots came back: full concurrency again


async def test_bulk_waiters_leave_a_shared_pause_staggered_interactive_ones_at_once() -> None:
    from aioparticipant._limiter import SharedPause

    pause = SharedPause()
    pause.pause_for(0.2)
    started = anyio.current_time()
    left: dict[str, list[float]] = {"interactive": [], "bulk": []}

    async def waiter(lane: Priority) -> None:
        await pause.wait(lane)
        left[lane].append(anyio.current_time() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(waiter, "bulk")
        for _ in range(3):
            tg.start_soon(waiter, "interactive")
    bulk, interactive = left["bulk"], left["interactive"]
    assert min(bulk + interactive) >= 0.2 - 0.005  # nobody leaves early
    assert max(bulk) < 0.2 + 0.2 + 0.5  # the stagger is at most the pause's length (plus slack)
    assert len({round(t, 3) for t in bulk}) > 5  # not all at the same instant
    assert max(interactive) < 0.2 + 0.1  # interactive requests do not wait out the stagger
    # An interactive waiter ending the pause does not release the staggered bulk waiters early.
    assert sum(t < 0.25 for t in bulk) < 15


async def test_without_stagger_bulk_waiters_leave_a_shared_pause_together() -> None:
    from aioparticipant._limiter import SharedPause

    # A self-pacing limiter spaces what the pause held at the pace it learned.
    pause = SharedPause(stagger=False)
    pause.pause_for(0.2)
    started = anyio.current_time()
    left: list[float] = []

    async def waiter() -> None:
        await pause.wait("bulk")
        left.append(anyio.current_time() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(waiter)
    assert min(left) >= 0.2 - 0.005
    assert max(left) < 0.2 + 0.1  # with the stagger, over up to 0.2 s more
