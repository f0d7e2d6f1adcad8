"""``fallback_rate``: pacing one process by itself while Redis cannot be reached.

On the first "unreachable" error (a refused connection, a timeout, a cluster
that is down) the limiter logs one WARNING and sends this process's requests
through an in-process ``TokenBucket`` at the fallback rate, lanes and pauses
included. At most once a second a PING goes to Redis in the background (a
thread, or an asyncio task for a ``redis.asyncio`` client), so no request
waits for a dead Redis; once one is answered, the next request goes back to
the shared limit, with one WARNING saying so.
"""

from __future__ import annotations

import logging
import time

from .._limiter import TokenBucket
from ._connection import Connection

__all__ = ["PROBE_INTERVAL", "Fallback", "logger"]

logger = logging.getLogger("aioparticipant.redis")

#: Seconds between two PINGs to an unreachable Redis.
PROBE_INTERVAL = 1.0


class Fallback:
    """Whether this process paces itself now, and the bucket it paces with."""

    def __init__(self, rate: float, connection: Connection) -> None:
        self.bucket = TokenBucket(rate)
        self.active = False
        self._connection = connection
        self._next_probe = 0.0
        self._where = ""

    def in_use(self) -> bool:
        """Whether requests go through the local bucket now (and probe Redis when due)."""
        if not self.active:
            return False
        if self._connection.probe_answered:
            self.active = False
            logger.warning(
                "%s answers again: back on the shared rate limit instead of %g requests/s "
                "for this process",
                self._where,
                self.bucket.rate,
            )
            return False
        now = time.monotonic()
        if now >= self._next_probe:
            self._next_probe = now + PROBE_INTERVAL
            self._connection.start_probe()
        return True

    def enter(self, failure: str, where: str) -> None:
        """Switch to the local bucket (``failure`` says why, without secrets)."""
        if self.active:
            return
        self.active = True
        self._where = where
        self._connection.probe_answered = False
        self._next_probe = time.monotonic() + PROBE_INTERVAL
        logger.warning(
            "%s; pacing this process by itself at fallback_rate=%g requests/s until Redis "
            "answers again",
            failure,
            self.bucket.rate,
        )
