"""An async iterator read as a plain one: one item per call into the client's loop."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from ._loop import LoopThread

__all__ = ["BlockingIterator"]

T = TypeVar("T")

_END: Any = object()


class BlockingIterator(Iterator[T], Generic[T]):
    """Pulls ``source`` one item per ``next()``, in the loop that owns it.

    ``close()`` (or garbage collection, or reading to the end) closes the async
    iterator in its loop, as leaving an ``async for`` early would.
    """

    def __init__(self, loop: LoopThread, source: AsyncIterator[T], owner: object = None) -> None:
        self._loop = loop
        self._source: AsyncIterator[T] | None = source
        self._owner = owner  # keeps the client (and so its loop) alive while we are read
        self._pulled = False  # an async iterator never pulled holds nothing to close

    def __iter__(self) -> BlockingIterator[T]:
        return self

    def __next__(self) -> T:
        source = self._source
        if source is None:
            raise StopIteration
        self._pulled = True
        try:
            item: T = self._loop.call(_next, source)
        except BaseException:
            self.close()
            raise
        if item is _END:
            self._source = None
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop reading: the async iterator is closed, and ``next()`` raises ``StopIteration``."""
        source, self._source = self._source, None
        aclose = getattr(source, "aclose", None)
        loop = self._loop
        if aclose is not None and self._pulled and not loop.stopped and loop.pid == os.getpid():
            loop.call(aclose)

    def __del__(self) -> None:
        source, self._source = getattr(self, "_source", None), None
        aclose = getattr(source, "aclose", None)
        if aclose is not None and getattr(self, "_pulled", False):
            self._loop.call_soon(aclose)


async def _next(source: AsyncIterator[T]) -> T:
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        result: T = _END
        return result
