"""``AutoRateLimiter``: the token bucket behind ``rate_limit="auto"``, paced by a ``Pacer``.

The bucket keeps its lanes and its interactive reserve; the pacer (see
``_pacing``) sets its rate and burst from what the server answers, and may
add a wait of its own (a sliding window that is full, a 429 without
``Retry-After``).
"""

from __future__ import annotations

import contextvars
import math

import anyio

from ._lanes import Priority
from ._limiter import TokenBucket, default_reserve
from ._pacing import Pacer
from ._pacing_settings import FIRST_LATENCY, MARGIN, START_IN_FLIGHT
from ._validate import check_positive_number

__all__ = ["AutoRateLimiter"]


class AutoRateLimiter:
    """A rate limit learned from the server's 429s: what ``AsyncClient(rate_limit="auto")`` uses.

    It starts with few requests in flight, learns the limit from the first
    429 and its ``Retry-After`` (a bucket's rate or a window's size), paces
    1% under it and probes gently for more. ``rate`` is the pace now (requests
    per second), ``limit`` the server's limit as learned (``None`` until the
    first 429). ``AutoRateLimiter(rate=R)`` starts from a limit learned before
    instead of from nothing. Share one between clients with
    ``AsyncClient(limiter=...)``; the client tells it every answer
    (``observe``) and every ``Retry-After`` pause (``pause_for``).
    Interactive requests go first and keep their reserve, as with
    ``TokenBucket``.
    """

    def __init__(self, *, rate: float | None = None) -> None:
        self._warm = (
            None
            if rate is None
            else check_positive_number("rate", rate, what="requests per second")
        )
        self._pacer: Pacer | None = None  # made at first use, on the event loop's clock
        self._bucket: TokenBucket | None = None
        # When the current task's request left: an attempt's acquire and its
        # answer run in one task, so the answer finds its own entry in the log.
        self._sent: contextvars.ContextVar[float | None] = contextvars.ContextVar(
            "aioparticipant_sent", default=None
        )

    def __repr__(self) -> str:
        limit = "unknown" if self.limit is None else f"{self.limit:g}"
        return f"AutoRateLimiter(rate={self.rate:g}, limit={limit})"

    @property
    def rate(self) -> float:
        """Requests per second it paces at now."""
        pacer = self._pacer
        if pacer is None:
            if self._warm is not None:
                return self._warm * (1 - MARGIN)
            return START_IN_FLIGHT / FIRST_LATENCY
        return pacer.rate

    @property
    def limit(self) -> float | None:
        """The server's rate limit as learned so far (requests per second), or ``None``."""
        if self._pacer is None:
            return self._warm
        return self._pacer.limit

    @property
    def burst(self) -> int:
        """How many requests may go back to back now."""
        return self._bucket.burst if self._bucket is not None else math.ceil(START_IN_FLIGHT)

    async def acquire(self, *, priority: Priority = "interactive") -> None:
        """Wait for a token in ``priority``'s lane, then for the pacer's own wait, if any."""
        pacer, bucket = self._started()
        pacer.advance(anyio.current_time())
        self._sync(pacer, bucket)
        await bucket.acquire(priority=priority)
        # The waits are for time to pass (a window emptying), not for an event.
        while (wait := pacer.delay(anyio.current_time())) > 0:  # noqa: ASYNC110
            await anyio.sleep(wait)
        now = anyio.current_time()
        pacer.sent(now)
        self._sent.set(now)

    async def pause_for(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a 429's ``Retry-After``)."""
        pacer, bucket = self._started()
        pacer.hold(anyio.current_time(), seconds)
        await bucket.pause_for(seconds)

    def observe(self, status: int, latency: float, retry_after: float | None) -> None:
        """An HTTP answer: its status, the seconds since ``acquire`` let it go, a 429's ``Retry-After``."""
        pacer, bucket = self._started()
        now = anyio.current_time()
        pacer.answered(now, status, latency, retry_after, sent=self._sent.get())
        self._sent.set(None)
        pacer.advance(now)
        self._sync(pacer, bucket)

    def _started(self) -> tuple[Pacer, TokenBucket]:
        if self._pacer is None or self._bucket is None:
            pacer = Pacer(self._warm, now=anyio.current_time())
            self._pacer = pacer
            self._bucket = TokenBucket(pacer.rate, pacer.burst)
        return self._pacer, self._bucket

    @staticmethod
    def _sync(pacer: Pacer, bucket: TokenBucket) -> None:
        if bucket.rate != pacer.rate:
            bucket.rate = pacer.rate
        if bucket.burst != pacer.burst:
            bucket.burst = pacer.burst
            bucket.reserve = default_reserve(pacer.burst)
