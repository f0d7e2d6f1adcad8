"""``RedisRateLimiter(rate="auto")``: each process learns its part; Redis adds the parts up.

Every process runs its own ``Pacer`` on what it sends and what comes back.
Against a limit shared with others, what a process learns from its 429s is
its own part of the limit: the requests the server let *it* send. Those
parts add up to the limit, as flows through one bottleneck do: a process
that takes more than its part earns the next 429 and backs off.

Through one small hash in Redis (``FLEET_SCRIPT``) each process publishes its
part every half second, and reads the sum: that is the fleet's learned limit
(``RedisRateLimiter.limit``), and the shared GCRA script caps the fleet at
its pace, on top of each process's own pacing. A process that joins knowing
nothing starts from an equal part of what the others learned. A 429 pauses
every process, as with any ``RedisRateLimiter``.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Final

import anyio

from .._pacing import MARGIN, Mode, Pacer

__all__ = ["FleetPacing"]

#: Seconds between reports to Redis ...
REPORT_EVERY: Final = 0.5
#: ... and how long a process's part counts without being renewed.
PART_LIFETIME: Final = 5.0


class FleetPacing:
    """One process's side of a self-paced limit shared through Redis."""

    def __init__(self) -> None:
        self.pacer = Pacer()
        self.limit: float | None = None  # the fleet's: the sum of the parts
        self._id = uuid.uuid4().hex
        self._report_at = -math.inf
        self._reported: float | None = None

    @property
    def rate(self) -> float:
        """What the shared GCRA may let the whole fleet send: its pace, or ours before it."""
        fleet = 0.0 if self.limit is None else self.limit * (1 - MARGIN)
        return max(self.pacer.rate, fleet)

    def due(self, now: float) -> bool:
        """Whether to report to Redis before the next request."""
        return now >= self._report_at or self.pacer.limit != self._reported

    def arguments(self) -> list[str | int]:
        """``FLEET_SCRIPT``'s arguments for a report now."""
        pacer = self.pacer
        part = (
            "" if pacer.limit is None else f"{pacer.limit!r} {pacer.mode} {pacer.window_seconds!r}"
        )
        return [self._id, part, math.ceil(PART_LIFETIME * 1_000_000)]

    def reported(self, now: float, reply: Any) -> None:
        """Redis's answer to a report: the sum of the parts, and another process's part."""
        total, processes, other = float(_text(reply[0])), int(reply[1]), _text(reply[2])
        self._report_at = now + REPORT_EVERY
        self._reported = self.pacer.limit
        self.limit = total if processes else None
        if self.pacer.limit is None and other:
            # Joining a fleet that knows the limit: take an equal part of it.
            _, mode, seconds = other.split()
            part = total / (processes + 1)
            self.pacer.adopt(now, part, _mode(mode), float(seconds))

    def sent(self, now: float) -> None:
        """A request of this process was let go."""
        self.pacer.sent(now)

    def answered(self, now: float, status: int, latency: float, retry_after: float | None) -> None:
        """An answer to a request of this process."""
        self.pacer.answered(now, status, latency, retry_after)
        self.pacer.advance(now)

    async def wait_for_room(self) -> None:
        """The pacer's own wait (a pause, this process's part of a full window)."""
        while (wait := self.pacer.delay(anyio.current_time())) > 0:  # noqa: ASYNC110
            await anyio.sleep(wait)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mode(text: str) -> Mode:
    return "window" if text == "window" else "bucket"
