"""Rate limiting: the limiter protocol, our token bucket, and the shared 429 pause.

Every attempt of every request passes here, retries included. Nothing here
holds a token across an await that can be cancelled: a cancelled waiter leaves
the bucket exactly as it found it.
"""

from __future__ import annotations

import math
import random
from typing import Protocol, runtime_checkable

import anyio

from ._constants import DEFAULT_BURST_SECONDS

__all__ = ["Limiter", "SharedPause", "TokenBucket"]


@runtime_checkable
class Limiter(Protocol):
    """Anything that can make a request wait its turn (``RedisRateLimiter`` is one)."""

    async def acquire(self) -> None:
        """Return when one more request may be sent."""


class TokenBucket:
    """A token bucket: ``rate`` requests per second on average, bursts of up to ``burst``.

    The bucket starts full. Waiters are served first come, first served, and
    only the one at the head of the queue sleeps, so a thousand waiters cost
    one timer, not a thousand.
    """

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        if math.isinf(rate):
            raise ValueError("rate must be finite; leave rate_limit unset for no limit")
        if burst is None:
            burst = max(1, math.ceil(rate * DEFAULT_BURST_SECONDS))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int of at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None
        self._queue = anyio.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst})"

    async def acquire(self) -> None:
        """Wait for a token and take it."""
        if not self._queue.locked() and self._take():
            return  # fast path: a token is there and nobody is ahead of us
        async with self._queue:
            # The wait is for time to pass, not for an event: sleep is the right tool.
            while not self._take():  # noqa: ASYNC110
                await anyio.sleep((1.0 - self._tokens) / self.rate)

    def _take(self) -> bool:
        now = anyio.current_time()
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SharedPause:
    """A client-wide pause: a 429 with ``Retry-After`` holds back every new attempt until then.

    Waiters do not all leave at the same instant when the pause ends: each
    adds its own random delay of up to a second (at most the pause's length),
    so the requests that piled up do not hit the server as one burst and
    earn the next 429 together.
    """

    def __init__(self) -> None:
        self._until = -math.inf
        self._spread = 0.0

    def pause_for(self, seconds: float) -> None:
        """Hold every attempt back for ``seconds`` from now (an earlier, longer pause stands)."""
        until = anyio.current_time() + seconds
        if until > self._until:
            self._until = until
            self._spread = min(seconds, _MAX_SPREAD)

    async def wait(self) -> None:
        """Return once no pause is in force."""
        if self._until == -math.inf:
            return  # the usual case costs no clock read
        stagger = random.uniform(0.0, self._spread)
        while (remaining := self._until + stagger - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)
        if anyio.current_time() >= self._until:
            self._until = -math.inf  # expired: no await since the check, so no pause is lost


#: The longest stagger a waiter adds after a shared pause, in seconds.
_MAX_SPREAD = 1.0
