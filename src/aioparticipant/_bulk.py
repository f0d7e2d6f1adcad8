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
import enum
import importlib
import sys
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, NoReturn

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._constants import DEFAULT_BULK_CONCURRENCY
from ._exceptions import InvalidParameterError, NotFoundError
from ._models import Participant
from ._params import Unpack, UpdateParameters, encode_update, validate_sid
from ._resources import Conference, _Api

if sys.version_info >= (3, 11):
    _GROUP_TYPE: Any = builtins.BaseExceptionGroup
else:  # pragma: no cover
    # anyio depends on the exceptiongroup backport before 3.11; imported by name so
    # that type-checking for 3.10 on a newer Python does not need it installed.
    _GROUP_TYPE = importlib.import_module("exceptiongroup").BaseExceptionGroup

__all__ = ["BulkOutcome", "BulkResult", "BulkRun", "ParticipantUpdate"]


class ParticipantUpdate:
    """One update to send in a bulk run: which participant, and what to change.

    ``ParticipantUpdate(conference_sid, call_sid, **params)`` takes the same
    keywords as ``participant.update()`` and checks them the same way, at
    construction: a bad value raises ``InvalidParameterError`` (a ``ValueError``),
    an unknown keyword ``TypeError``. The wire form is computed once, here, so a
    run does not validate anything again. Instances are immutable and hashable.
    """

    __slots__ = ("_form", "_params", "call_sid", "conference_sid")

    conference_sid: str
    call_sid: str
    _params: dict[str, object]
    _form: dict[str, str]

    def __init__(
        self, conference_sid: str, call_sid: str, **params: Unpack[UpdateParameters]
    ) -> None:
        form = encode_update(params, caller="ParticipantUpdate")
        set_attribute = object.__setattr__
        set_attribute(self, "conference_sid", validate_sid("conference_sid", conference_sid))
        set_attribute(self, "call_sid", validate_sid("call_sid", call_sid))
        set_attribute(self, "_params", {k: v for k, v in params.items() if v is not None})
        set_attribute(self, "_form", form)

    @property
    def params(self) -> Mapping[str, object]:
        """The keywords that are set (``None`` ones dropped), as given."""
        return MappingProxyType(self._params)

    @property
    def form(self) -> Mapping[str, str]:
        """The form fields that will be sent, by wire name (``{"Muted": "true"}``)."""
        return MappingProxyType(self._form)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"ParticipantUpdate is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"ParticipantUpdate is immutable; cannot delete {name!r}")

    def _key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.conference_sid, self.call_sid, tuple(sorted(self._form.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParticipantUpdate):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        keywords = "".join(f", {name}={value!r}" for name, value in self._params.items())
        return f"ParticipantUpdate({self.conference_sid!r}, {self.call_sid!r}{keywords})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Positional sids plus keywords do not fit pickle's default protocol for slots.
        return (_rebuild_update, (self.conference_sid, self.call_sid, self._params))


def _rebuild_update(
    conference_sid: str, call_sid: str, params: dict[str, Any]
) -> ParticipantUpdate:
    return ParticipantUpdate(conference_sid, call_sid, **params)


class BulkOutcome(str, enum.Enum):
    """How one update of a bulk run ended."""

    #: The server applied the update; ``result.participant`` is the new state.
    OK = "ok"
    #: 404: the conference or participant does not exist (often: they already left).
    NOT_FOUND = "not_found"
    #: Anything else: refused, rate limited past the retries, server or network failure.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What happened to one update of a bulk run.

    Exactly one of ``participant`` (the state the server answered with) and
    ``error`` (the exception the update ended with, retries spent) is set.
    ``ok`` tells them apart; ``not_found`` singles out a 404, which in bulk
    work usually means the participant left the call before their turn.
    """

    update: ParticipantUpdate
    participant: Participant | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the update was applied."""
        return self.error is None

    @property
    def not_found(self) -> bool:
        """Whether the update failed with 404 (no such participant or conference)."""
        return isinstance(self.error, NotFoundError)

    @property
    def outcome(self) -> BulkOutcome:
        """``OK``, ``NOT_FOUND`` or ``FAILED``."""
        if self.error is None:
            return BulkOutcome.OK
        if isinstance(self.error, NotFoundError):
            return BulkOutcome.NOT_FOUND
        return BulkOutcome.FAILED


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
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidParameterError(
                "concurrency", f"concurrency must be an int >= 1, got {concurrency!r}"
            )
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

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        result: bool | None = await self._context.__aexit__(exc_type, exc, traceback)
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
