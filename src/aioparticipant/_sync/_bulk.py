"""Bulk runs for the blocking client: ``with client.bulk(updates) as results: for result in results``.

The run itself is the async ``BulkRun``, held open in the client's loop by
the portal. Plain (non-async) input is read in the caller's own thread, one
update each time a worker is free, never in the loop: a generator over a
Django queryset or a file keeps its thread, and a slow one never stalls the
loop. The caller's thread and the run trade through one small exchange:

    caller ── update ──▶ exchange ──▶ run          (when the run asks for one)
    caller ◀── result / "need input" / done ──     (whichever comes first)
"""

from __future__ import annotations

import concurrent.futures
import inspect
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Final, NoReturn

import anyio

from .._bulk import BulkResult, BulkRun, ParticipantUpdate
from ._loop import CLOSED_MESSAGE, LoopThread

__all__ = ["SyncBulkRun"]

# What the exchange hands the caller's thread.
_RESULT: Final = 0
_NEED_INPUT: Final = 1
_DONE: Final = 2

#: "No update to deliver" and "the input is exhausted", as the caller's thread tells the run.
_NOTHING: Any = object()
_END: Any = object()


class _Exchange:
    """The run's side of the trade with the caller's thread (lives in the loop)."""

    def __init__(self) -> None:
        # No buffer for events: the run waits until the caller takes each one.
        self._events_in, self._events = anyio.create_memory_object_stream[tuple[int, Any]](0)
        # One slot for input: it is delivered only when asked for, so it never blocks.
        self._input_in, self._input = anyio.create_memory_object_stream[Any](1)

    async def updates(self) -> AsyncIterator[ParticipantUpdate]:
        """The run's input: each update is asked of the caller's thread when a worker is free."""
        while True:
            await self._events_in.send((_NEED_INPUT, None))
            update = await self._input.receive()
            if update is _END:
                return
            yield update

    async def forward(self, results: AsyncIterator[BulkResult]) -> None:
        async for result in results:
            await self._events_in.send((_RESULT, result))
        await self._events_in.send((_DONE, None))

    async def trade(self, update: Any) -> list[tuple[int, Any]]:
        """Deliver ``update`` (unless ``_NOTHING``), then wait for events and take all that are ready.

        One call into the loop both hands the run its next update and brings
        back a burst of results, not one each.
        """
        if update is not _NOTHING:
            self._input_in.send_nowait(update)
        events: list[tuple[int, Any]] = []
        try:
            events.append(await self._events.receive())
            while events[-1][0] != _DONE:
                events.append(self._events.receive_nowait())
        except anyio.WouldBlock:
            pass
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            events.append((_DONE, None))  # the run ended under us (an error); __exit__ raises it
        return events

    def close(self) -> None:
        self._events_in.close()
        self._input_in.close()


class _Results(Iterator[BulkResult]):
    """The caller's side: a plain iterator of results, which feeds the run as it goes."""

    def __init__(self, loop: LoopThread, exchange: _Exchange, updates: Iterator[Any] | None):
        self._loop = loop
        self._exchange = exchange
        self._updates = updates
        self._ready: deque[BulkResult] = deque()
        self._update: Any = _NOTHING  # read from the input, not yet handed to the run
        self.done = False

    def __iter__(self) -> _Results:
        return self

    def __next__(self) -> BulkResult:
        while True:
            if self._ready:
                # An update read meanwhile goes with the next call: one call per
                # result in the steady state. Only the one worker that asked for
                # it waits, and only while the caller handles this result.
                return self._ready.popleft()
            if self.done:
                raise StopIteration
            update, self._update = self._update, _NOTHING
            events: list[tuple[int, Any]] = self._loop.call(self._exchange.trade, update)
            for kind, value in events:
                if kind == _RESULT:
                    self._ready.append(value)
                elif kind == _DONE:
                    self.done = True
                elif self._updates is None:  # pragma: no cover - async input is never asked for
                    raise RuntimeError("the bulk run asked for input it does not read")
                else:
                    # Read here, in the caller's thread; an error here ends the run with it.
                    self._update = next(self._updates, _END)


class SyncBulkRun:
    """A bulk run, returned by ``client.bulk()``; use it as a context manager.

        with client.bulk(updates, concurrency=32) as results:
            for result in results:
                ...

    The blocking twin of ``BulkRun``: nothing is sent before the ``with`` is
    entered; results come in completion order; leaving the block, early or
    not, cancels what is still in flight. ``updates`` is read lazily, in the
    thread that iterates the results, one update whenever a worker is free (a
    generator over a database query keeps its own thread). An exception
    raised by the input ends the run and propagates from the ``with``.
    """

    def __init__(
        self,
        loop: LoopThread,
        make_run: Callable[
            [Iterable[ParticipantUpdate] | AsyncIterable[ParticipantUpdate]], BulkRun
        ],
        updates: Iterable[ParticipantUpdate] | AsyncIterable[ParticipantUpdate],
    ) -> None:
        self._loop = loop
        self._exchange = _Exchange()
        self._updates = updates
        plain = isinstance(updates, Iterable) and not isinstance(updates, AsyncIterable)
        self._plain = plain
        # The async run checks concurrency, the lane and the input's type, in this thread.
        self._run = make_run(self._exchange.updates() if plain else updates)
        self._context: AbstractContextManager[_Results] | None = None
        self._results: _Results | None = None
        self._iterator: Iterator[Any] | None = None

    def __enter__(self) -> Iterator[BulkResult]:
        if self._context is not None:
            raise RuntimeError("a bulk run can be entered only once; call client.bulk() again")
        self._iterator = (
            iter(self._updates) if isinstance(self._updates, Iterable) and self._plain else None
        )
        self._context = self._loop.wrap(self._session())
        self._results = self._context.__enter__()
        return self._results

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._context is not None
        assert self._results is not None
        self._results.done = True
        try:
            if exc is not None and not isinstance(exc, Exception):
                # Ctrl-C or SystemExit belongs to this thread: the run just stops.
                self._context.__exit__(None, None, None)
                return None
            return self._context.__exit__(exc_type, exc, traceback)
        except concurrent.futures.CancelledError:
            if self._loop.stopped:
                raise RuntimeError(CLOSED_MESSAGE + " (it was closed during this run)") from None
            raise
        finally:
            if inspect.isgenerator(self._iterator):
                self._iterator.close()  # as the async run closes an async generator

    def __iter__(self) -> NoReturn:
        raise TypeError(
            "client.bulk() is a context manager: write "
            "`with client.bulk(updates) as results: for result in results: ...`"
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[_Results]:
        exchange = self._exchange
        try:
            async with self._run as results, anyio.create_task_group() as task_group:
                task_group.start_soon(exchange.forward, results)
                try:
                    yield _Results(self._loop, exchange, self._iterator)
                finally:
                    task_group.cancel_scope.cancel()
        finally:
            exchange.close()  # wakes a caller still waiting, if the run ended in an error
