"""Inside one process: interactive waiters before bulk ones, and the shared pause seen locally.

Each lane has its own queue, so an interactive caller never queues behind a
bulk one; a bulk caller asks Redis only while no interactive caller of this
process is waiting. Across processes, the reserve in the script is what lets
an interactive request through first.
"""

from __future__ import annotations

import math
import random

import anyio

from .._lanes import BULK, Priority

__all__ = ["Lanes", "LocalPause"]

#: The longest stagger a bulk waiter adds after a shared pause, in seconds.
MAX_SPREAD = 1.0


class Lanes:
    """One queue per lane, and a count of the interactive callers in ``acquire``."""

    def __init__(self) -> None:
        self.interactive_queue = anyio.Lock()
        self.bulk_queue = anyio.Lock()
        self.interactive = 0
        self._no_interactive: anyio.Event | None = None

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


class LocalPause:
    """This process's copy of the shared pause: when it ends, and how bulk waiters leave.

    When it ends, interactive waiters go at once; each bulk waiter adds its
    own random delay of up to ``spread`` (at most a second, at most the
    pause's length), so the bulk requests that piled up do not return as
    one burst.
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

    def active(self) -> bool:
        """Whether a pause is in force now."""
        return self.until != -math.inf and anyio.current_time() < self.until

    async def wait(self, lane: Priority) -> None:
        """Return once no pause holds ``lane`` (with a bulk waiter's stagger)."""
        if self.until == -math.inf:
            return  # the usual case costs no clock read
        if anyio.current_time() >= self.until:
            self.until = -math.inf  # over: no await since the check, so no pause is lost
            return
        stagger = random.uniform(0.0, self.spread) if lane == BULK else 0.0
        while (remaining := self.until + stagger - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)
