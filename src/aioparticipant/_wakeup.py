"""Sleepers that can be woken early: a waiter's due time moved sooner (a rate rose)."""

from __future__ import annotations

import anyio

__all__ = ["WakeUp"]


class WakeUp:
    """``sleep(seconds)`` until then, or until ``wake()`` is called, whichever comes first."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None  # made by the first sleeper, spent by wake()

    def wake(self) -> None:
        """End every sleep in progress now."""
        if self._event is not None:
            self._event.set()
            self._event = None

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; ``True`` if ``wake()`` ended it sooner."""
        if self._event is None:
            self._event = anyio.Event()
        event = self._event
        with anyio.move_on_after(seconds):
            await event.wait()
        return event.is_set()
