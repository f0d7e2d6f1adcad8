"""The faults the emulator injects on purpose: 5xx answers and dropped connections.

Deterministic given a seed and an order of arrival, so a failing test can be
replayed. (The rate limit is ``_rate_limit``.)
"""

from __future__ import annotations

import enum
import random
import threading

__all__ = ["Fault", "FaultInjector"]


class Fault(enum.Enum):
    """What happens to one request."""

    NONE = "none"
    #: Answered with a 500 or 503 before anything is done.
    ERROR = "error"
    #: Done, but the connection closes before the answer goes out.
    DROP = "drop"


class FaultInjector:
    """Draws one fault per request from a seeded generator."""

    def __init__(self, *, error_rate: float, drop_rate: float, seed: int | None) -> None:
        for name, value in (("error_rate", error_rate), ("drop_rate", drop_rate)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value!r}")
        if error_rate + drop_rate > 1:
            raise ValueError("error_rate + drop_rate must not exceed 1")
        self.error_rate = float(error_rate)
        self.drop_rate = float(drop_rate)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> tuple[Fault, int]:
        """The fault for the next request, and the status to answer with if it is an error."""
        if not self.error_rate and not self.drop_rate:
            return Fault.NONE, 0
        with self._lock:
            roll = self._random.random()
            status = 503 if self._random.random() < 0.5 else 500
        if roll < self.error_rate:
            return Fault.ERROR, status
        if roll < self.error_rate + self.drop_rate:
            return Fault.DROP, 0
        return Fault.NONE, 0
