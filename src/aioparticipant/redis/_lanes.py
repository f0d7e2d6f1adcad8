"""Inside one process: interactive waiters before bulk ones, and the shared pause seen locally.

Each lane has its own queue, so an interactive caller never queues behind a
bulk one; a bulk caller asks Redis only while no interactive caller of this
process is waiting. Across processes, the reserve in the script is what lets
an interactive request through first.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import anyio

from .._lanes import BULK, Priority
from .._wakeup import WakeUp

__all__ = ["Lanes", "LocalPause", "bulk_keep"]

#: The longest stagger a bulk waiter adds after a shared pause, in seconds.
MAX_SPREAD = 1.0
#: How late a bulk waiter may wake for its token without losing it (seconds).
LATE_WAKE_SECONDS = 0.010


def bulk_keep(reserve: int, rate: float) -> str | int:
    """The reserve a bulk request must leave, less a few milliseconds' worth (at most all of it).

    A bulk waiter wakes a little late for its token (its sleep, the round
    trip): rather than lose that capacity for good, it may dip into the
    reserve by that much, and an interactive request waits as much longer.
    """
    if not reserve:
        return 0
    return repr(max(0.0, reserve - LATE_WAKE_SECONDS * rate))


class Lanes:
    """One queue per lane, and a count of the interactive callers in ``acquire``."""

    def __init__(self) -> None:
        self.interactive_queue = anyio.Lock()
        self.bulk_queue = anyio.Lock()
        self.interactive = 0
        self._no_interactive: anyio.Event | None = None
        self._pace_rose = WakeUp()

    def queue(self, lane: Priority) -> anyio.Lock:
        """The queue of ``lane``."""
        return self.bulk_queue if lane == BULK else self.interactive_queue

    def interactive_arrived(self) -> None:
        """An interactive caller entered ``acquire``."""
        self.interactive += 1

    def interactive_left(self) -> None:
        """An interactive caller left ``acquire`` (granted, failed or cancelled)."""
        self.interactive -= 1
        if self.interactive == 0 and self._no_interactive is not None:
            self._no_interactive.set()
            self._no_interactive = None

    async def wait_for_interactive(self) -> None:
        """Return once no interactive caller of this process is waiting."""
        while self.interactive:
            if self._no_interactive is None:
                self._no_interactive = anyio.Event()
            await self._no_interactive.wait()

    def wake(self) -> None:
        """Have every waiter asleep until its turn ask Redis again now (the pace rose)."""
        self._pace_rose.wake()

    async def take(
        self,
        lane: Priority,
        ask: Callable[[], Awaitable[float | None]],
        held: Callable[[], bool],
    ) -> bool:
        """Take a slot in ``lane``: ``True`` once taken, ``False`` to wait a pause or fall back.

        ``ask()`` asks Redis: seconds to wait before asking again (0: granted),
        or ``None`` when a pause or the fallback takes over; ``held()`` says the
        same before asking again from the queue.
        """
        retry_at = -math.inf
        # One caller per lane asks Redis at a time, in arrival order: callers
        # that come at once wait for its answer, not each for a connection of
        # its own (a cold start would open dozens).
        async with self.queue(lane):
            while True:
                if lane == BULK and self.interactive:
                    await self.wait_for_interactive()
                    continue
                delay = retry_at - anyio.current_time()
                if delay > 0:
                    if await self._pace_rose.sleep(delay):
                        retry_at = -math.inf
                    continue
                if held():
                    return False  # waited out in acquire(), outside the queue
                wait = await ask()
                if wait is None or wait == 0:
                    return wait == 0
                retry_at = anyio.current_time() + wait


class LocalPause:
    """This process's copy of the shared pause: when it ends, and how bulk waiters leave.

    When it ends, interactive waiters go at once; each bulk waiter that it
    held (it arrived before the end) leaves at its own moment within
    ``spread`` after the end (at most a second, at most the pause's length),
    so the bulk requests that piled up do not return as one burst.
    """

    def __init__(self) -> None:
        self.until = -math.inf
        self.spread = 0.0

    def extend(self, seconds: float, spread: float) -> None:
        """Hold waiters for ``seconds`` from now, unless a later end is already known."""
        until = anyio.current_time() + seconds
        if until > self.until:
            self.until = until
            self.spread = min(spread, MAX_SPREAD)

    def release_at(self, lane: Priority, arrived: float, stagger: float) -> float:
        """When a waiter of ``lane`` that arrived at ``arrived`` may go (``-inf``: now).

        ``stagger`` is the waiter's own fraction of the spread, drawn once
        per call to ``acquire``, so asking again gives the same moment.
        """
        if self.until == -math.inf or arrived >= self.until:
            return -math.inf  # no pause, or it ended before this waiter came
        if lane == BULK:
            return self.until + stagger * self.spread
        return self.until

    async def wait(self, lane: Priority, arrived: float, stagger: float) -> None:
        """Return once no pause holds this waiter."""
        if self.until == -math.inf:
            return  # the usual case costs no clock read
        now = anyio.current_time()
        while (remaining := self.release_at(lane, arrived, stagger) - now) > 0:
            await anyio.sleep(remaining)
            now = anyio.current_time()
        if now >= self.until + self.spread:
            self.until = -math.inf  # over for every waiter it held
