"""Bulk runs: many participant updates, a bounded number in flight, results as they complete.

The shape is aiometer's ``amap``: an async context manager owns a task group
(structured concurrency), and its ``__aenter__`` hands out the receiving end of
a memory stream. Unlike ``amap``, every buffer here is bounded, so a run over a
million updates holds a few dozen of them in memory at a time:

    input ──feeder──▶ work stream (no buffer) ──▶ N workers ──▶ results stream (N) ──▶ you

The feeder pulls the next update only when a worker is free to take it, and a
worker takes the next one only once its result has been handed on, so a slow
reader slows the whole run down instead of filling memory.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._bulk_outcomes import BulkResult
from ._constants import DEFAULT_BULK_CONCURRENCY
from ._participant_update import ParticipantUpdate
from ._resources import Conference, _Api
from ._validate import check_int

if sys.version_info >= (3, 11):
    _GROUP_TYPE: Any = builtins.BaseExceptionGroup
else:  # pragma: no cover
    # anyio depends on the exceptiongroup backport before 3.11; imported by name so
    # that type-checking for 3.10 on a newer Python does not need it installed.
    _GROUP_TYPE = importlib.import_module("exceptiongroup").BaseExceptionGroup

__all__ = ["BulkRun"]


class BulkRun:
    """A bulk run, returned by ``client.bulk()``; use it as an async context manager.

        async with client.bulk(updates, concurrency=50) as results:
            async for result in results:
                ...

    Nothing is sent before the ``async with`` is entered. Leaving the block,
    early or not, cancels whatever is still in flight and waits for it to stop.

    The input is read one update at a time, only when a worker is free. Its
    items are ``ParticipantUpdate`` objects, already validated when they were
    built, so every item read gives exactly one ``BulkResult``. An exception
    raised by the input itself (a generator building an invalid
    ``ParticipantUpdate``, a file that fails to read) is not a result: it ends
    the run, cancelling what is in flight, and propagates from the ``async
    with``. To record bad input instead, check it before yielding (the
    ``aioparticipant bulk`` command does). An async generator given as input is
    closed when the run ends.

    At most ``concurrency`` updates are in flight; the client's own
    ``max_connections`` bound applies on top, so a ``concurrency`` above it
    only queues at the client.
    """

    def __init__(
        self,
        api: _Api,
        updates: Iterable[ParticipantUpdate] | AsyncIterable[ParticipantUpdate],
        *,
        concurrency: int = DEFAULT_BULK_CONCURRENCY,
    ) -> None:
        check_int("concurrency", concurrency, minimum=1)
        if not isinstance(updates, (Iterable, AsyncIterable)):
            raise TypeError(
                "bulk() takes an iterable or async iterable of ParticipantUpdate, "
                f"got {type(updates).__name__}"
            )
        if api.closed or api.pipeline.closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")
        self._api = api
        self._updates = updates
        self._concurrency = concurrency
        self._context: Any = None

    async def __aenter__(self) -> AsyncIterator[BulkResult]:
        if self._context is not None:
            raise RuntimeError("a bulk run can be entered only once; call client.bulk() again")
        self._context = self._run()
        results: AsyncIterator[BulkResult] = await self._context.__aenter__()
        return results

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        result: bool | None = await self._context.__aexit__(*exc_info)
        return result

    def __aiter__(self) -> NoReturn:
        raise TypeError(
            "client.bulk() is an async context manager: write "
            "`async with client.bulk(updates) as results: async for result in results: ...`"
        )

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[AsyncIterator[BulkResult]]:
        concurrency = self._concurrency
        # No buffer for work: the feeder pulls an update only when a worker takes it.
        work_sender, work_receiver = anyio.create_memory_object_stream[ParticipantUpdate](0)
        result_sender, result_receiver = anyio.create_memory_object_stream[BulkResult](concurrency)
        with _collapse_single_groups(), result_receiver:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(self._feed, work_sender)
                with work_receiver, result_sender:
                    # Each worker holds a clone; the results stream ends when the last closes.
                    for _ in range(concurrency):
                        task_group.start_soon(
                            self._work, work_receiver.clone(), result_sender.clone()
                        )
                try:
                    yield result_receiver
                finally:
                    # Finished or not, the caller is done with the results: stop the rest.
                    task_group.cancel_scope.cancel()

    async def _feed(self, work: MemoryObjectSendStream[ParticipantUpdate]) -> None:
        with work:  # closing it tells the workers that nothing more is coming
            updates = self._updates
            if isinstance(updates, AsyncIterable):
                iterator = aiter(updates)
                try:
                    async for update in iterator:
                        await work.send(_checked(update))
                finally:
                    # An async generator we stopped early still holds its frame (an
                    # open page stream, a file): close it now rather than at GC.
                    aclose = getattr(iterator, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()
            else:
                for update in updates:
                    await work.send(_checked(update))

    async def _work(
        self,
        work: MemoryObjectReceiveStream[ParticipantUpdate],
        results: MemoryObjectSendStream[BulkResult],
    ) -> None:
        api = self._api
        with work, results:
            async for update in work:
                handle = Conference(api, update.conference_sid).participants(update.call_sid)
                try:
                    participant = await handle._post(update._form)
                except Exception as error:
                    # One update's failure is its own result; cancellation (a
                    # BaseException) still goes through and stops the run.
                    await results.send(BulkResult(update, None, error))
                else:
                    await results.send(BulkResult(update, participant, None))


def _checked(update: object) -> ParticipantUpdate:
    if not isinstance(update, ParticipantUpdate):
        raise TypeError(
            "bulk() input must yield ParticipantUpdate objects, got "
            f"{type(update).__name__}: build them as "
            "ParticipantUpdate(conference_sid, call_sid, muted=True, ...)"
        )
    return update


@contextmanager
def _collapse_single_groups() -> Generator[None, None, None]:
    """Re-raise a lone exception from a task group as itself, not wrapped in a group.

    The caller's own exception from inside ``async with`` (or the input's) is
    what they expect to catch; anyio wraps even a single one in a group.
    """
    try:
        yield
    except _GROUP_TYPE as group:
        error: Any = group
        while isinstance(error, _GROUP_TYPE) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        if error is group:
            raise
        context = error.__context__
        try:
            raise error
        finally:
            # Raising here would chain the group as the context; keep the original one.
            error.__context__ = context
