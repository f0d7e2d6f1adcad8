"""Counting the limiter's calls to Redis: how many, and how many at once."""

from __future__ import annotations

import anyio
import pytest

from aioparticipant.redis._connection import Connection


class CallsAtOnce:
    """Counts the calls of one ``Connection`` script method, and the most in flight at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, method: str, *, delay: float = 0.0) -> None:
        """``delay``: seconds each call waits before it goes (a slow round trip)."""
        self.calls = self.most = 0
        self._now = 0
        original = getattr(Connection, method)

        async def counting(
            connection: Connection, keys: list[str], args: list[str | int]
        ) -> object:
            self.calls += 1
            self._now += 1
            self.most = max(self.most, self._now)
            try:
                if delay:
                    await anyio.sleep(delay)
                return await original(connection, keys, args)
            finally:
                self._now -= 1

        monkeypatch.setattr(Connection, method, counting)
