"""Self-pacing in virtual time: the real ``Pacer`` against model servers, no sockets.

    python bench/pacing_sim.py              # the promise, warm starts, limit changes
    python bench/pacing_sim.py --only sweep --rates 20 1000 --latencies 0.02

Servers: ``window1`` (the emulator's ``rate_limit=R``: at most R in any one
second), ``window10`` (SignalWire's: at most 10×R in any ten seconds) and
``bucket`` (a token bucket, capacity R, refilled at R/s). A 429 carries
``Retry-After``: the seconds until a request would be admitted, rounded up.
Answers take ``latency`` (±10%, seeded) there and back. The client is the
library's pipeline in miniature: ``concurrency`` workers, the shared pause
(no stagger under "auto", as ``SharedPause(stagger=False)``), retries that wait ``Retry-After``, and a
token bucket whose rate, burst and extra wait come from the ``Pacer``.

Columns: ``rate/R`` is updates ÷ wall time ÷ R for 20×R updates (a burst at
the start lets a window10 run reach ~1.2); ``429%`` is 429 answers ÷ requests
sent; ``conv s`` the first second at which the learned limit is within ±10%
of R (after the change, for changes); ``spread`` the 5th-95th percentile
range of the learned limit after that, ÷ R (0 = flat); ``events`` the 429s
that taught the pacer something; ``learned`` the limit at the end. Limit
changes run 150 s past the change; their ``rate/R`` and ``cv`` (the
coefficient of variation of updates per second: the oscillation) are over
the last 30 s.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from aioparticipant._pacing import Pacer

# --- the event loop --------------------------------------------------------------

Process = Generator[Any, Any, None]


class Loop:
    """Virtual time: callbacks at instants, processes as generators."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._heap, (max(when, self.now), self._order, callback))

    def resume(self, when: float, process: Process, value: Any = None) -> None:
        self.call_at(when, lambda: self.step(process, value))

    def step(self, process: Process, value: Any = None) -> None:
        try:
            command = process.send(value)
        except StopIteration:
            return
        command(self, process)

    def run(self, until: float) -> None:
        while self._heap and self._heap[0][0] <= until:
            self.now, _, callback = heapq.heappop(self._heap)
            callback()


def sleep(seconds: float) -> Callable[[Loop, Process], None]:
    return lambda loop, process: loop.resume(loop.now + max(0.0, seconds), process)


# --- servers -------------------------------------------------------------------------


@dataclass
class Schedule:
    """The server's limit over time: ``[(from_second, requests_per_second), ...]``."""

    steps: list[tuple[float, float]]

    def at(self, when: float) -> float:
        rate = self.steps[0][1]
        for start, value in self.steps:
            if when >= start:
                rate = value
        return rate


class BucketServer:
    """Capacity R, refill R per second; 429 + ceil(wait) when empty (the emulator)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.tokens = schedule.at(0.0)
        self.updated = 0.0

    def admit(self, when: float) -> tuple[int, float | None]:
        rate = self.schedule.at(when)
        self.tokens = min(rate, self.tokens + (when - self.updated) * rate)
        self.updated = when
        if self.tokens >= 1:
            self.tokens -= 1
            return 200, None
        return 429, float(max(1, math.ceil((1 - self.tokens) / rate)))


class WindowServer:
    """At most R×W admitted in any W seconds; 429 + seconds until one would be admitted."""

    def __init__(self, schedule: Schedule, window: float = 10.0) -> None:
        self.schedule = schedule
        self.window = window
        self.admitted: deque[float] = deque()

    def admit(self, when: float) -> tuple[int, float | None]:
        size = max(1, int(self.schedule.at(when) * self.window))
        while self.admitted and self.admitted[0] <= when - self.window:
            self.admitted.popleft()
        if len(self.admitted) < size:
            self.admitted.append(when)
            return 200, None
        frees_at = self.admitted[len(self.admitted) - size] + self.window
        return 429, float(max(1, math.ceil(frees_at - when)))


def make_server(kind: str, schedule: Schedule) -> BucketServer | WindowServer:
    """``bucket``, ``window1`` (the emulator's default) or ``window10`` (SignalWire's)."""
    if kind == "bucket":
        return BucketServer(schedule)
    return WindowServer(schedule, window=float(kind.removeprefix("window")))


# --- the client ------------------------------------------------------------------------


@dataclass
class Run:
    completions: list[float] = field(default_factory=list)
    attempts: int = 0
    limited: int = 0
    failed: int = 0
    limits: list[tuple[float, float | None, float]] = field(default_factory=list)


class Client:
    """The pipeline in miniature: pause → limiter → send → retry."""

    def __init__(
        self,
        loop: Loop,
        server: BucketServer | WindowServer,
        *,
        latency: float,
        concurrency: int = 64,
        max_retries: int = 3,
        seed: int = 1,
        warm: float | None = None,
    ) -> None:
        self.loop = loop
        self.server = server
        self.latency = latency
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.random = random.Random(seed)
        self.pacer = Pacer(warm)
        self.run = Run()
        self.pause_until = -math.inf
        self.tokens = float(self.pacer.burst)
        self.updated = 0.0
        self.queue: deque[Process] = deque()
        self.timer = 0

    # the shared pause, as _limiter.SharedPause(stagger=False): the pace spaces what it held
    def pause_for(self, seconds: float) -> None:
        self.pause_until = max(self.pause_until, self.loop.now + seconds)

    def pause_wait(self) -> Iterator[Any]:
        if self.pause_until == -math.inf:
            return
        while (remaining := self.pause_until - self.loop.now) > 1e-9:
            yield sleep(remaining + 1e-9)
        if self.loop.now >= self.pause_until:
            self.pause_until = -math.inf

    # the limiter: a FIFO token bucket whose settings come from the pacer
    def acquire(self) -> Callable[[Loop, Process], None]:
        def enqueue(loop: Loop, process: Process) -> None:
            self.queue.append(process)
            self.kick()

        return enqueue

    def kick(self) -> None:
        loop, pacer = self.loop, self.pacer
        while self.queue:
            now = loop.now
            pacer.advance(now)
            wait = pacer.delay(now)
            if wait <= 0:
                self.tokens = min(
                    float(pacer.burst), self.tokens + (now - self.updated) * pacer.rate
                )
                self.updated = now
                if self.tokens >= 1 - 1e-9:
                    self.tokens -= 1
                    pacer.sent(now)
                    loop.resume(now, self.queue.popleft())
                    continue
                wait = (1 - self.tokens) / pacer.rate
            self.timer += 1
            loop.call_at(now + min(max(wait, 1e-6), 0.05), self._timer(self.timer))
            return

    def _timer(self, number: int) -> Callable[[], None]:
        def fire() -> None:
            if number == self.timer:  # a later kick set a newer timer: this one is void
                self.kick()

        return fire

    def send(self) -> Callable[[Loop, Process], None]:
        def go(loop: Loop, process: Process) -> None:
            latency = self.latency * self.random.uniform(0.9, 1.1)

            def arrive() -> None:
                answer = self.server.admit(loop.now)
                loop.resume(loop.now + latency / 2, process, answer)

            loop.call_at(loop.now + latency / 2, arrive)

        return go

    def worker(self, updates: Iterator[int]) -> Process:
        run, loop = self.run, self.loop
        for _ in updates:
            attempt = 0
            while True:
                yield from self.pause_wait()
                yield self.acquire()
                run.attempts += 1
                sent = loop.now
                status, retry_after = yield self.send()
                self.pacer.answered(loop.now, status, loop.now - sent, retry_after)
                self.kick()
                if status != 429:
                    run.completions.append(loop.now)
                    break
                run.limited += 1
                if retry_after is not None and retry_after <= 60:
                    self.pause_for(retry_after)
                    self.pacer.hold(loop.now, retry_after)
                attempt += 1
                if attempt > self.max_retries:
                    run.failed += 1
                    break
                yield sleep(retry_after if retry_after is not None else 0.5)

    def sampler(self, every: float = 0.1) -> Process:
        while True:
            self.pacer.advance(self.loop.now)
            self.run.limits.append((self.loop.now, self.pacer.limit, self.pacer.rate))
            yield sleep(every)


def simulate(
    server: BucketServer | WindowServer,
    *,
    updates: int,
    latency: float,
    duration: float = 600.0,
    concurrency: int = 64,
    seed: int = 1,
    warm: float | None = None,
) -> Client:
    loop = Loop()
    client = Client(loop, server, latency=latency, concurrency=concurrency, seed=seed, warm=warm)
    shared = iter(range(updates))
    for _ in range(concurrency):
        loop.step(client.worker(shared))
    sampler = client.sampler()
    loop.step(sampler)
    last = 0.0
    while loop.now < duration and len(client.run.completions) + client.run.failed < updates:
        last = loop.now
        loop.run(until=last + 1.0)
        if not loop._heap:
            break
    sampler.close()
    return client


# --- measures ------------------------------------------------------------------------------


def converged(
    limits: list[tuple[float, float | None, float]], target: float, after: float = 0.0
) -> tuple[float | None, float]:
    """When the learned limit first came within ±10% of ``target``, and its spread after."""
    for when, limit, _ in limits:
        if when >= after and limit is not None and abs(limit - target) <= 0.1 * target:
            later = sorted(x for w, x, _ in limits if w >= when and x is not None)
            low = later[int(0.05 * (len(later) - 1))]
            high = later[int(0.95 * (len(later) - 1))]
            return when - after, (high - low) / target
    return None, math.nan


def sweep(
    rates: list[float], latencies: list[float], kinds: list[str], warm: float | None = None
) -> list[dict[str, Any]]:
    """The promise: 20×R updates from a cold start (or a warm one at ``warm``×R)."""
    rows = []
    for kind in kinds:
        for latency in latencies:
            for rate in rates:
                schedule = Schedule([(0.0, rate)])
                server = make_server(kind, schedule)
                client = simulate(
                    server,
                    updates=int(20 * rate),
                    latency=latency,
                    warm=None if warm is None else warm * rate,
                )
                run = client.run
                wall = max(run.completions)
                conv, spread = converged(run.limits, rate)
                rows.append(
                    {
                        "server": kind if warm is None else f"{kind[:3]}{kind[6:]}-warm",
                        "latency_ms": latency * 1000,
                        "R": rate,
                        "rate/R": len(run.completions) / wall / rate,
                        "429%": 100 * run.limited / run.attempts,
                        "429s": run.limited,
                        "conv_s": conv,
                        "spread": spread,
                        "events": client.pacer.events,
                        "failed": run.failed,
                        "learned": client.pacer.limit,
                    }
                )
                print_row(rows[-1])
    return rows


#: Limit changes: the last this many seconds are the steady state measured.
TAIL = 30.0


def change(
    kinds: list[str], latencies: list[float], pairs: list[tuple[float, float]], at: float = 30.0
) -> list[dict[str, Any]]:
    """The limit moves from ``before`` to ``after`` at ``at`` seconds; a long run goes on."""
    rows = []
    for kind in kinds:
        for latency in latencies:
            for before, after in pairs:
                schedule = Schedule([(0.0, before), (at, after)])
                server = make_server(kind, schedule)
                duration = at + 150.0
                client = simulate(
                    server,
                    updates=int(max(before, after) * duration * 3),
                    latency=latency,
                    duration=duration,
                )
                run = client.run
                conv, spread = converged(run.limits, after, after=at)
                tail = [t for t in run.completions if duration - TAIL <= t < duration]
                per_second = [0] * int(TAIL)
                for t in tail:
                    per_second[int(t - (duration - TAIL))] += 1
                mean = sum(per_second) / TAIL
                cv = math.sqrt(sum((x - mean) ** 2 for x in per_second) / TAIL) / mean
                rows.append(
                    {
                        "server": kind,
                        "latency_ms": latency * 1000,
                        "R": f"{before:g}->{after:g}",
                        "cv": cv,
                        "rate/R": len(tail) / TAIL / after,
                        "429%": 100 * run.limited / run.attempts,
                        "429s": run.limited,
                        "conv_s": conv,
                        "spread": spread,
                        "events": client.pacer.events,
                        "failed": run.failed,
                        "learned": client.pacer.limit,
                    }
                )
                print_row(rows[-1])
    return rows


HEADER = (
    f"{'server':8} {'lat ms':>6} {'R':>10} {'rate/R':>7} {'429%':>6} {'429s':>5} "
    f"{'conv s':>7} {'spread':>6} {'events':>6} {'failed':>6} {'learned':>8} (cv)"
)


def print_row(row: dict[str, Any]) -> None:
    conv = "never" if row["conv_s"] is None else f"{row['conv_s']:.1f}"
    learned = "-" if row["learned"] is None else f"{row['learned']:.1f}"
    cv = f" {row['cv']:5.3f}" if "cv" in row else ""
    print(
        f"{row['server']:8} {row['latency_ms']:6g} {row['R']!s:>10} {row['rate/R']:7.3f} "
        f"{row['429%']:6.2f} {row['429s']:5d} {conv:>7} {row['spread']:6.3f} "
        f"{row['events']:6d} {row['failed']:6d} {learned:>8}{cv}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("sweep", "warm", "change"), default=None)
    parser.add_argument("--rates", type=float, nargs="+", default=[20, 50, 100, 200, 500, 1000])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.001, 0.02])
    parser.add_argument("--kinds", nargs="+", default=["window1", "window10", "bucket"])
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    if args.only in (None, "sweep"):
        sweep(args.rates, args.latencies, args.kinds)
    if args.only in (None, "warm"):
        # A warm start from a limit learned earlier (e.g. shared through Redis).
        sweep([200, 500, 1000], [0.02], args.kinds, warm=1.0)
    if args.only in (None, "change"):
        change(args.kinds, args.latencies, [(100, 200), (200, 100), (50, 500)])


if __name__ == "__main__":
    main()
