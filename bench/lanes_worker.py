"""One client process of the lanes bench (``bench/lanes.py`` starts it): bulk, clicks, or both.

    python bench/lanes_worker.py --port P --rate R --role both|bulk|interactive
        [--backend httpx|aiohttp] [--seconds 6] [--warmup 0.5] [--interval 0.05]
        [--concurrency 64] [--before] [--redis-url URL --redis-key KEY]

It builds one ``AsyncClient`` against the emulator on 127.0.0.1:P with
``max_connections=concurrency`` and a limit of R requests per second: its own
``rate_limit=R``, or a ``RedisRateLimiter`` on KEY shared with the other
processes. ``--before`` undoes the lanes the way a user could: the limiter
keeps no reserve (``TokenBucket(R, reserve=0)`` or ``reserve=0`` in Redis) and
the clicks go through ``client.with_options(priority="bulk")``.

After one warm-up update it prints ``ready`` and waits for a line on stdin, so
that every process of a scenario starts together. Then, for ``--seconds``:

* ``bulk``: ``client.bulk`` over an endless stream of updates, ``concurrency``
  in flight; completions inside the measuring window are counted;
* ``interactive``: from ``--warmup`` seconds on (once the bucket's initial
  burst has gone), one update, a pause of ``--interval``, and again; each
  update's latency is recorded.

The measuring window is [warmup, seconds] after the start line, for both.
Prints one JSON line and exits; nothing outlives ``seconds`` + 10.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from typing import Any

import anyio
from limiter_check import ACCOUNT_SID, CONFERENCE_SID, LAML, TOKEN, call_sid

from aioparticipant import AsyncClient, ParticipantUpdate, TokenBucket

#: Bulk updates cycle over these participants; the clicks use the next one.
BULK_PARTICIPANTS = 100
CLICKED = BULK_PARTICIPANTS


def make_limiter(args: argparse.Namespace) -> Any:
    """The limiter the scenario asks for; ``None`` means ``rate_limit=R`` (lanes, default reserve)."""
    if args.redis_url:
        from aioparticipant.redis import RedisRateLimiter

        return RedisRateLimiter(
            args.redis_url,
            key=args.redis_key,
            rate=args.rate,
            burst=args.burst,
            reserve=0 if args.before else None,
        )
    if args.before:
        return TokenBucket(args.rate, args.burst, reserve=0)
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limiter = make_limiter(args)
    report: dict[str, Any] = {"role": args.role}
    async with AsyncClient(
        ACCOUNT_SID,
        TOKEN,
        base_url=f"http://127.0.0.1:{args.port}{LAML}",
        http_backend=args.backend,
        max_connections=args.concurrency,
        rate_limit=args.rate if limiter is None else None,
        burst=args.burst if limiter is None else None,
        limiter=limiter,
    ) as client:
        # Each click's wait for its turn (pause, token, slot) ends when its request hook runs.
        turn_started: list[float] = []
        hooks = {"request": [lambda event: turn_started.append(time.perf_counter())]}
        clicker = client.with_options(
            event_hooks=hooks, **({"priority": "bulk"} if args.before else {})
        )
        participant = clicker.conferences(CONFERENCE_SID).participants(call_sid(CLICKED))
        await participant.update(muted=False)  # a connection, and Redis's script, made before
        report["burst"] = getattr(client.limiter, "burst", None)
        report["reserve"] = getattr(client.limiter, "reserve", None)
        time_redis_round_trips(limiter)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await anyio.to_thread.run_sync(sys.stdin.readline)
        started = time.monotonic()
        window = (started + args.warmup, started + args.seconds)
        cpu = time.process_time()
        with anyio.move_on_after(args.seconds + 10):
            async with anyio.create_task_group() as group:
                if args.role in ("bulk", "both"):
                    group.start_soon(bulk, client, args.concurrency, window, report)
                if args.role in ("interactive", "both"):
                    group.start_soon(
                        clicks, participant, turn_started, args.interval, window, report
                    )
                    group.start_soon(loop_lag, window, report)
        report["cpu_s"] = time.process_time() - cpu
        report.update(redis_round_trips(limiter))
        report["window_s"] = window[1] - window[0]
        report["retries_after_429"] = client.stats.retries_after_429
    if limiter is not None and hasattr(limiter, "aclose"):
        await limiter.aclose()
    return report


def time_redis_round_trips(limiter: Any) -> None:
    """Record how long each of the limiter's round trips to Redis takes (bench only)."""
    connection = getattr(limiter, "_connection", None)
    if connection is None:
        return
    ask = connection.acquire
    trips: list[float] = []

    async def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await ask(*args)
        finally:
            trips.append(time.perf_counter() - started)

    connection.acquire = timed
    limiter._bench_trips = trips


def redis_round_trips(limiter: Any) -> dict[str, Any]:
    trips = sorted(getattr(limiter, "_bench_trips", ()))
    if not trips:
        return {}
    return {
        "redis_asks": len(trips),
        "redis_p50_ms": 1000 * trips[len(trips) // 2],
        "redis_p99_ms": 1000 * trips[int(0.99 * (len(trips) - 1))],
    }


async def bulk(
    client: AsyncClient, concurrency: int, window: tuple[float, float], report: dict[str, Any]
) -> None:
    """An endless bulk run, left when the window ends; counts completions inside it."""
    updates = (
        ParticipantUpdate(CONFERENCE_SID, call_sid(index % BULK_PARTICIPANTS), muted=index % 2 == 0)
        for index in itertools.count()
    )
    done = in_window = failures = 0
    first_error = None
    async with client.bulk(updates, concurrency=concurrency) as results:
        async for result in results:
            now = time.monotonic()
            if now >= window[1]:
                break
            if not result.ok:
                failures += 1
                first_error = first_error or repr(result.error)[:300]
                continue
            done += 1
            in_window += now >= window[0]
    report.update(
        bulk_done=done, bulk_in_window=in_window, bulk_failures=failures, first_error=first_error
    )


async def clicks(
    participant: Any,
    turn_started: list[float],
    interval: float,
    window: tuple[float, float],
    report: dict[str, Any],
) -> None:
    """A supervisor clicking: one update, a pause, again, through the window.

    Records each update's latency, and how much of it was the wait for its
    turn (until its request hook ran: the part the lanes decide).
    """
    await anyio.sleep(max(0.0, window[0] - time.monotonic()))
    latencies: list[float] = []
    turns: list[float] = []
    failures = 0
    muted = True
    while time.monotonic() < window[1]:
        turn_started.clear()
        started = time.perf_counter()
        try:
            await participant.update(muted=muted)
        except Exception as error:
            failures += 1
            report.setdefault("click_error", repr(error)[:300])
        else:
            latencies.append(time.perf_counter() - started)
            turns.append(turn_started[0] - started)
        muted = not muted
        await anyio.sleep(interval)
    report.update(latencies=latencies, turns=turns, click_failures=failures)


async def loop_lag(window: tuple[float, float], report: dict[str, Any]) -> None:
    """How late this process's event loop wakes a 10 ms sleep: CPU contention, seen from inside."""
    await anyio.sleep(max(0.0, window[0] - time.monotonic()))
    lags: list[float] = []
    while time.monotonic() < window[1]:
        started = time.perf_counter()
        await anyio.sleep(0.01)
        lags.append(time.perf_counter() - started - 0.01)
    report["lags"] = lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--role", choices=("both", "bulk", "interactive"), required=True)
    parser.add_argument("--backend", choices=("httpx", "aiohttp"), default="httpx")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--burst", type=int, default=None, help="default: the library's")
    parser.add_argument("--before", action="store_true", help="no reserve, clicks in bulk lane")
    parser.add_argument("--redis-url")
    parser.add_argument("--redis-key", default="bench-lanes")
    args = parser.parse_args()
    if not 0 < args.warmup < args.seconds <= 120:
        parser.error("need 0 < --warmup < --seconds <= 120")
    sys.stdout.write(json.dumps(anyio.run(run, args)) + "\n")


if __name__ == "__main__":
    main()
