"""What the emulator has done: counters a test or the demo can read while it serves."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["EmulatorStats", "StatsCounter"]


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator has done so far; ``Emulator.stats`` takes a snapshot."""

    #: HTTP requests received.
    requests: int = 0
    #: Updates applied (including ones whose answer was then dropped).
    updates: int = 0
    fetches: int = 0
    lists: int = 0
    deletes: int = 0
    #: 429 answers sent because of ``rate_limit``.
    rate_limited: int = 0
    #: 5xx answers sent because of ``error_rate``.
    errors_injected: int = 0
    #: Connections closed without an answer because of ``drop_rate``.
    connections_dropped: int = 0
    #: AnnounceUrl deliveries, across all participants.
    announcements: int = 0
    #: Answers sent, by HTTP status.
    statuses: Mapping[int, int] = field(default_factory=dict)


class StatsCounter:
    """Thread-safe counters behind ``EmulatorStats`` (a served emulator counts in its own thread)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        """Add one to the ``EmulatorStats`` field ``name``."""
        with self._lock:
            self._counts[name] += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def snapshot(self) -> EmulatorStats:
        with self._lock:
            counts = dict(self._counts)
            statuses = dict(self._statuses)
        return EmulatorStats(**counts, statuses=statuses)
