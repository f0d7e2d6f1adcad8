"""The client's concurrency bound in front of the connection pool, interactive first.

At most ``capacity`` requests are in flight. A few slots are kept for the
interactive lane, and a freed slot goes to a waiting interactive request
before any bulk one, so a supervisor's click never queues behind a bulk run
for a slot. A waiter that is cancelled leaves the count exactly as it found
it: a slot handed to it in the meantime is passed on to the next waiter.
"""

from __future__ import annotations

from collections import deque

import anyio

from ._lanes import Priority

__all__ = ["LaneSlots", "interactive_only_slots"]


def interactive_only_slots(capacity: int) -> int:
    """Slots bulk requests may not take: one in sixteen, at least one once there are two."""
    return 0 if capacity < 2 else max(1, capacity // 16)


class LaneSlots:
    """A semaphore with two lanes: interactive waiters first, and slots bulk may not use."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.bulk_capacity = capacity - interactive_only_slots(capacity)
        self.in_use = 0
        self._interactive: deque[anyio.Event] = deque()
        self._bulk: deque[anyio.Event] = deque()

    async def acquire(self, priority: Priority) -> None:
        """Wait for a slot in ``priority``'s lane and take it."""
        if priority == "interactive":
            queue, limit = self._interactive, self.capacity
        else:
            queue, limit = self._bulk, self.bulk_capacity
        if (
            self.in_use < limit
            and not queue
            and (priority == "interactive" or not self._interactive)
        ):
            self.in_use += 1  # the usual case: a free slot and nobody ahead
            return
        handed_over = anyio.Event()
        queue.append(handed_over)
        try:
            await handed_over.wait()
        except BaseException:
            if handed_over.is_set():
                self.release()  # the slot came as we were cancelled: pass it on
            else:
                queue.remove(handed_over)
            raise

    def release(self) -> None:
        """Give a slot back; it goes straight to the next waiter, interactive ones first."""
        self.in_use -= 1
        if self._interactive:
            self.in_use += 1
            self._interactive.popleft().set()
        elif self._bulk and self.in_use < self.bulk_capacity:
            self.in_use += 1
            self._bulk.popleft().set()
