"""Rate limiting: the limiter protocol, our token bucket, and the shared 429 pause.

Every attempt of every request passes here, retries included, in its lane
(``"interactive"`` or ``"bulk"``). Nothing here holds a token across an
await that can be cancelled: a cancelled waiter leaves the bucket exactly as
it found it.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio

from ._constants import DEFAULT_BURST_SECONDS
from ._exceptions import InvalidParameterError
from ._lanes import Priority, check_priority
from ._validate import check_int, check_positive_number
from ._wakeup import WakeUp

__all__ = ["Limiter", "SharedPause", "TokenBucket", "default_burst", "default_reserve"]


@runtime_checkable
class Limiter(Protocol):
    """Anything that can make a request wait its turn (``RedisRateLimiter`` is one).

    The client calls ``acquire(priority="interactive" | "bulk")`` when the
    limiter's ``acquire`` takes a ``priority`` keyword, plain ``acquire()``
    otherwise. A limiter may also define ``async def pause_for(self,
    seconds: float) -> None``: the client calls it on a 429 whose
    ``Retry-After`` is within the cap, so that everyone sharing the limiter
    holds back, not only this client. And it may define ``def observe(self,
    status: int, latency: float, retry_after: float | None) -> None``: the
    client calls it with every HTTP answer (its status, the seconds since
    ``acquire`` let the request go, a 429's ``Retry-After``), as
    ``AutoRateLimiter`` needs.
    """

    async def acquire(self) -> None:
        """Return when one more request may be sent."""


def default_burst(rate: float) -> int:
    """A tenth of a second's worth of ``rate``, at least 1 (measured: see ``_constants``)."""
    return max(1, math.ceil(rate * DEFAULT_BURST_SECONDS))


def default_reserve(burst: int) -> int:
    """Tokens kept for interactive requests unless told otherwise: half the burst, rounded down."""
    return burst // 2


def check_reserve(reserve: object, burst: int) -> int:
    """``reserve`` if it is an int from 0 to ``burst - 1``."""
    checked = check_int("reserve", reserve, minimum=0, hint="tokens only interactive requests take")
    if checked >= burst:
        raise InvalidParameterError(
            "reserve",
            f"reserve must be smaller than burst ({burst}), got {checked}: "
            "bulk requests need at least one token of the burst",
        )
    return checked


class TokenBucket:
    """A token bucket: ``rate`` requests per second on average, bursts of up to ``burst``.

    The bucket starts full. ``reserve`` of its tokens (default: half the
    burst, rounded down) are kept for interactive requests: a bulk request
    takes a token only while more than ``reserve`` are left, so a
    supervisor's click usually finds one at once, however busy a bulk run
    keeps the bucket. Waiting interactive requests are served before waiting
    bulk ones; within a lane, first come, first served. Only the first waiter
    of each lane sleeps, so a thousand waiters cost two timers.

    ``pause_for(seconds)`` holds every request back until then: share one
    bucket between clients (``AsyncClient(limiter=bucket)``) and a 429 that
    one of them receives pauses them all. ``rate`` may be changed while the
    bucket is in use; waiters feel a rise at once.
    """

    def __init__(
        self, rate: float, burst: int | None = None, *, reserve: int | None = None
    ) -> None:
        self._rate = check_positive_number("rate", rate, what="a number of requests per second")
        self.burst = (
            default_burst(self._rate) if burst is None else check_int("burst", burst, minimum=1)
        )
        self.reserve = (
            default_reserve(self.burst) if reserve is None else check_reserve(reserve, self.burst)
        )
        self._tokens = float(self.burst)
        self._updated: float | None = None
        self._paused_until = -math.inf
        self._queues = {"interactive": anyio.Lock(), "bulk": anyio.Lock()}
        self._rate_rose = WakeUp()  # a waiter sleeping at the old rate may be due sooner

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst}, reserve={self.reserve})"

    @property
    def rate(self) -> float:
        """Requests per second on average."""
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        self._refill(anyio.current_time())  # tokens earned so far are earned at the old rate
        old = self._rate
        self._rate = check_positive_number("rate", rate, what="a number of requests per second")
        if self._rate > old:
            self._rate_rose.wake()

    async def acquire(self, *, priority: Priority = "interactive") -> None:
        """Wait for a token in ``priority``'s lane and take it."""
        interactive = priority == "interactive"
        if not interactive and priority != "bulk":
            check_priority(priority)
        queue = self._queues[priority]
        if (
            not queue.locked()
            and (interactive or not self._queues["interactive"].locked())
            and self._take(self._floor(interactive), anyio.current_time())
        ):
            return  # fast path: a token is there, no pause, and nobody is ahead of us
        async with queue:
            # The waits are for time to pass, not for an event: sleep is the right tool.
            while True:
                now = anyio.current_time()
                floor = self._floor(interactive)  # read each time: an auto limiter moves it
                if now < self._paused_until:
                    await anyio.sleep(self._paused_until - now)
                elif not interactive and self._queues["interactive"].locked():
                    await anyio.sleep(1.0 / self._rate)  # an interactive waiter goes first
                elif self._take(floor, now):
                    return
                else:
                    await self._rate_rose.sleep((floor + 1.0 - self._tokens) / self._rate)

    async def pause_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (a longer pause already set stands)."""
        until = anyio.current_time() + seconds
        if until > self._paused_until:
            self._paused_until = until

    def _floor(self, interactive: bool) -> int:
        """Tokens a request of this lane must leave in the bucket."""
        return 0 if interactive else min(self.reserve, self.burst - 1)

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def _take(self, floor: int, now: float) -> bool:
        if now < self._paused_until:
            return False
        self._refill(now)
        # A hair of slack: a refill computed in floating point may fall a
        # rounding error short of a whole token and would never be topped up.
        if self._tokens + _ROUNDING >= floor + 1.0:
            self._tokens -= 1.0
            return True
        return False


def lane_acquirer(limiter: Limiter) -> Callable[[Priority], Awaitable[None]]:
    """``acquire(priority)`` for ``limiter``: with the lane if its ``acquire`` takes one."""
    acquire = limiter.acquire
    try:
        parameters = inspect.signature(acquire).parameters
    except (TypeError, ValueError):  # a callable inspect cannot read: assume the plain protocol
        parameters = {}  # type: ignore[assignment]
    takes_priority = "priority" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    if takes_priority:
        lane_aware: Callable[..., Awaitable[None]] = acquire

        def with_lane(priority: Priority) -> Awaitable[None]:
            return lane_aware(priority=priority)

        return with_lane

    def without_lane(priority: Priority) -> Awaitable[None]:
        return acquire()

    return without_lane


class SharedPause:
    """A client-wide pause: a 429 with ``Retry-After`` holds back every new attempt until then.

    When the pause ends, interactive requests go at once; bulk ones do not
    all leave at the same instant: each adds its own random delay of up to a
    second (at most the pause's length), so the requests that piled up do not
    hit the server as one burst and earn the next 429 together. With
    ``stagger=False`` they all go at once: a self-pacing limiter spaces them
    at the pace it learned, and a stagger would only slow the restart.
    """

    def __init__(self, *, stagger: bool = True) -> None:
        self._until = -math.inf
        self._spread = 0.0
        self._stagger = stagger

    def pause_for(self, seconds: float) -> None:
        """Hold every attempt back for ``seconds`` from now (an earlier, longer pause stands)."""
        until = anyio.current_time() + seconds
        if until > self._until:
            self._until = until
            self._spread = min(seconds, _MAX_SPREAD) if self._stagger else 0.0

    async def wait(self, priority: Priority = "interactive") -> None:
        """Return once no pause is in force (for bulk, a random moment after it ends)."""
        if self._until == -math.inf:
            return  # the usual case costs no clock read
        stagger = 0.0 if priority == "interactive" else random.uniform(0.0, self._spread)
        deadline = self._until + stagger
        while (remaining := deadline - anyio.current_time()) > 0:
            await anyio.sleep(remaining)
            deadline = max(deadline, self._until + stagger)  # a longer pause came meanwhile
        if anyio.current_time() >= self._until:
            self._until = -math.inf  # expired: no await since the check, so no pause is lost


#: Slack for a token short by a floating-point rounding error.
_ROUNDING = 1e-9

#: The longest stagger a waiter adds after a shared pause, in seconds.
_MAX_SPREAD = 1.0
