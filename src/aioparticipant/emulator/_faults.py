"""The faults the emulator injects on purpose: 5xx answers and dropped connections.

Deterministic given a seed and an order of arrival, so a failing test can be
replayed. (The rate limit is ``_rate_limit``.)
"""

from __future__ import annotations

import enum
import random
import threading

from .._exceptions import InvalidParameterError
from .._validate import check_fraction
from ._asgi import Answer
from ._problems import INTERNAL_ERROR, SERVICE_UNAVAILABLE, error_body

__all__ = ["Fault", "FaultInjector", "injected_error"]


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
        self.error_rate = check_fraction("error_rate", error_rate)
        self.drop_rate = check_fraction("drop_rate", drop_rate)
        if self.error_rate + self.drop_rate > 1:
            raise InvalidParameterError("drop_rate", "error_rate + drop_rate must not exceed 1")
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


def injected_error(status: int) -> Answer:
    """The answer to a request drawn for ``Fault.ERROR``: a 500 or a 503, as the API words them."""
    if status == 503:
        return Answer(503, error_body(503, SERVICE_UNAVAILABLE, "Service Unavailable"))
    return Answer(500, error_body(500, INTERNAL_ERROR, "Internal Server Error"))
