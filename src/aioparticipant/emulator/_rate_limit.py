"""The emulator's rate limit: at most R×W requests in any window of W seconds.

A sliding window, exact: the times of the requests admitted in the last W
seconds are kept in order, so a request is admitted when fewer than R×W of
them are younger than W seconds. That is how SignalWire counts (13,800 per
10 s per Space), and the contract's promise: no W-second window, wherever it
falls, ever holds more than R×W admitted requests.

With W = 1 this is "a bucket holding one second's worth": from rest, R
requests pass at once, and steady traffic at R/s passes forever. It is not a
token bucket refilling at R/s: such a bucket, emptied by a burst, admits one
more request every 1/R s after it, up to 2R in the second that began with the
burst, which the promise forbids. After a burst of R the window admits the
next request when the first of the burst is a second old.

Memory is one float per request admitted in the last W seconds: at most R×W
(14,000 floats for SignalWire's limit), whatever the traffic.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .._validate import check_positive_number
from ._problems import TOO_MANY_REQUESTS, ApiProblem

__all__ = ["SlidingWindowLimit", "retry_after_seconds"]


class SlidingWindowLimit:
    """Admits at most ``rate × window`` requests in any ``window`` seconds.

    ``take()`` answers 0.0 when a request may pass (and counts it), else how
    many seconds until one could: the basis of the ``Retry-After`` header.

    When ``rate × window`` is below one request, the window stretches to
    ``1 / rate`` seconds, so that one request passes per window and the rate
    still holds. Otherwise the window holds ``floor(rate × window)``
    requests: never more than the promise allows.
    """

    def __init__(
        self, rate: float, window: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = check_positive_number("rate_limit", rate, what="requests per second")
        self.window = check_positive_number("rate_window", window, what="seconds")
        self.capacity = max(1, math.floor(self.rate * self.window))
        self._span = max(self.window, 1.0 / self.rate)
        self._admitted: deque[float] = deque()
        self._clock = clock
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if a request passes now (it is counted), else seconds until one would."""
        with self._lock:
            now = self._clock()
            admitted = self._admitted
            # A request admitted at t counts in every window (now - span, now].
            horizon = now - self._span
            while admitted and admitted[0] <= horizon:
                admitted.popleft()
            if len(admitted) < self.capacity:
                admitted.append(now)
                return 0.0
            return admitted[0] + self._span - now

    def admit(self) -> None:
        """Count the request in, or raise the 429 (with ``Retry-After``) the API would send."""
        wait = self.take()
        if wait > 0:
            raise ApiProblem(
                429,
                TOO_MANY_REQUESTS,
                f"Too Many Requests: the limit is {self.describe()}",
                headers=[("retry-after", str(retry_after_seconds(wait)))],
            )

    def describe(self) -> str:
        """The limit in words, for the 429's message."""
        if self.window == 1.0:
            return f"{self.rate:g} requests per second"
        return f"{self.capacity} requests per {self.window:g} seconds"


def retry_after_seconds(wait: float) -> int:
    """``wait`` as a ``Retry-After`` value: whole seconds (RFC 9110), rounded up, never 0.

    Rounding up keeps the header truthful: a client that waits what it says
    finds the oldest request of the window expired. Never 0, which would
    invite a hot loop.
    """
    return max(1, math.ceil(wait))
