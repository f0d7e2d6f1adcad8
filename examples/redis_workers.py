"""Several worker processes, one rate limit: RedisRateLimiter shares it through Redis.

    redis-server --port 6379 &            # or any Redis you can reach
    python examples/redis_workers.py --workers 4 --rate 20 --updates 30

Each worker is a separate process with its own AsyncClient, and mutes its own
participants in bulk as fast as it is allowed to. Every request of every worker
asks the same Redis key for a slot, so together they send about --rate updates
per second, however many workers you start. Meanwhile a "supervisor" process
clicks mute now and then: its requests are interactive, and the reserve the
limit keeps for them lets each click through at once, bulk jobs or not.

The processes talk to an in-process emulator, so no account is needed. Against
SignalWire, drop ``base_url=`` and ``transport=`` and let the client read
``SIGNALWIRE_PROJECT_ID``, ``SIGNALWIRE_API_TOKEN`` and ``SIGNALWIRE_SPACE_URL``;
use one key per project, since the API limits each project.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time

import httpx

from aioparticipant import AsyncClient, ParticipantUpdate
from aioparticipant.emulator import Emulator
from aioparticipant.redis import RedisRateLimiter


def client_for(emulator: Emulator, limiter: RedisRateLimiter) -> AsyncClient:
    return AsyncClient(
        emulator.project_id,
        emulator.token,
        base_url=emulator.base_url(),
        transport=httpx.ASGITransport(app=emulator),
        limiter=limiter,
    )


def worker(
    number: int, url: str, key: str, rate: float, burst: int, updates: int
) -> tuple[float, float]:
    """One process: mute ``updates`` participants under the shared limit; when it began and ended."""
    return asyncio.run(mute_everyone(number, url, key, rate, burst, updates))


async def mute_everyone(
    number: int,
    url: str,
    key: str,
    rate: float,
    burst: int,
    updates: int,
    fallback_rate: float | None = None,
) -> tuple[float, float]:
    emulator = Emulator()
    calls = [f"CA-worker{number}-{i}" for i in range(updates)]
    for call in calls:
        emulator.add_participant("CF-all-hands", call)

    # Each process makes its own limiter from the URL and key: same key, same limit.
    # With fallback_rate, a Redis outage slows this worker to its share instead of
    # failing its updates.
    async with (
        RedisRateLimiter(
            url, key=key, rate=rate, burst=burst, fallback_rate=fallback_rate
        ) as limiter,
        client_for(emulator, limiter) as client,
    ):
        began = time.time()
        muted = 0
        batch = (ParticipantUpdate("CF-all-hands", call, muted=True) for call in calls)
        async with client.bulk(batch, concurrency=10) as results:  # the bulk lane
            async for result in results:
                muted += result.ok
    print(f"worker {number} (pid {os.getpid()}): muted {muted} of {updates}")
    return began, time.time()


def supervisor(url: str, key: str, rate: float, burst: int, clicks: int) -> list[float]:
    """One process: ``clicks`` interactive mutes a second apart; each one's latency."""
    return asyncio.run(click_now_and_then(url, key, rate, burst, clicks))


async def click_now_and_then(
    url: str, key: str, rate: float, burst: int, clicks: int
) -> list[float]:
    emulator = Emulator()
    emulator.add_participant("CF-all-hands", "CA-abusive-caller")
    latencies = []
    async with (
        RedisRateLimiter(url, key=key, rate=rate, burst=burst) as limiter,
        client_for(emulator, limiter) as client,
    ):
        participant = client.conferences("CF-all-hands").participants("CA-abusive-caller")
        await participant.unmute()  # the first call of a process pays for connecting
        for _ in range(clicks):
            await asyncio.sleep(1)
            started = time.perf_counter()
            await participant.mute()  # a direct call: the interactive lane
            latencies.append(time.perf_counter() - started)
    print("supervisor clicks took " + ", ".join(f"{s * 1000:.0f} ms" for s in latencies))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    parser.add_argument("--key", default="aioparticipant-example:my-project")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20, help="updates per second, all together")
    parser.add_argument("--burst", type=int, default=4, help="of which half is kept for clicks")
    parser.add_argument("--updates", type=int, default=30, help="updates per worker")
    options = parser.parse_args()

    jobs = [
        (number, options.url, options.key, options.rate, options.burst, options.updates)
        for number in range(options.workers)
    ]
    clicks = max(1, int(options.workers * options.updates / options.rate) - 1)
    with multiprocessing.get_context("spawn").Pool(options.workers + 1) as pool:
        clicking = pool.apply_async(
            supervisor, (options.url, options.key, options.rate, options.burst, clicks)
        )
        spans = pool.starmap(worker, jobs)
        clicking.get()
    total = options.workers * options.updates
    seconds = max(end for _, end in spans) - min(begin for begin, _ in spans)
    print(
        f"together: {total} updates in {seconds:.1f} s = {total / seconds:.1f}/s "
        f"(limit {options.rate:g}/s, burst {options.burst}, plus {clicks} clicks)"
    )


if __name__ == "__main__":
    main()
