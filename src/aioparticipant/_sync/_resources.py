"""The blocking handles: each method is its async twin's, run in the client's loop.

The methods are not written out again: ``blocking(ParticipantHandle.mute)``
makes the blocking method from the async one, with its signature, types and
docstring, so the two cannot drift apart. Only what cannot be the same
(``stream`` gives a plain iterator) is written here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from .._models import Participant
from .._params import ListFilters, Unpack
from .._resources import ConferenceParticipants, ParticipantHandle
from ._iterate import BlockingIterator
from ._loop import LoopThread

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = ["SyncConference", "SyncConferenceParticipants", "SyncParticipantHandle", "blocking"]

P = ParamSpec("P")
T = TypeVar("T")
H = TypeVar("H")


class Owner(Protocol):
    """The client a handle belongs to (``Client`` or one of its ``with_options`` views)."""

    def _async_client(self) -> AsyncClient:
        """The async client of this process (made anew after a fork), for building handles."""

    def _running(self) -> tuple[LoopThread, AsyncClient]:
        """The loop and the async client to run a call with; ``RuntimeError`` once closed."""


class _Twin(Generic[H]):
    """A blocking handle over the async handle ``make(async_client)``.

    The async handle is made at once, in the caller's thread, so a bad sid
    raises here as it does in the async API. A forked child gets a fresh one
    for its own client.
    """

    def __init__(self, owner: Owner, make: Callable[[AsyncClient], H]) -> None:
        self._owner = owner
        self._make = make
        client = owner._async_client()
        self._made: tuple[AsyncClient, H] = (client, make(client))

    def _twin(self) -> tuple[LoopThread, H]:
        loop, client = self._owner._running()
        made_for, handle = self._made
        if made_for is not client:
            handle = self._make(client)
            self._made = (client, handle)
        return loop, handle

    def _run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop, handle = self._twin()
        return loop.call(functools.partial(getattr(handle, name), *args, **kwargs))


def blocking(
    method: Callable[Concatenate[Any, P], Awaitable[T]],
) -> Callable[Concatenate[_Twin[Any], P], T]:
    """The blocking twin of an async handle method: same name, parameters, types and docstring."""
    name = method.__name__

    def call(self: _Twin[Any], /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = self._run(name, args, kwargs)
        return result

    call.__name__ = name
    call.__qualname__ = f"Sync{method.__qualname__}"
    call.__doc__ = method.__doc__
    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return call


class SyncParticipantHandle(_Twin[ParticipantHandle]):
    """One participant of one conference; each method blocks until the API has answered.

    The blocking twin of ``ParticipantHandle``: the same methods, parameters
    and errors.
    """

    def __init__(self, owner: Owner, make: Callable[[AsyncClient], ParticipantHandle]) -> None:
        super().__init__(owner, make)
        self.conference_sid = self._made[1].conference_sid
        self.call_sid = self._made[1].call_sid

    def __repr__(self) -> str:
        return f"Sync{self._made[1]!r}"

    update = blocking(ParticipantHandle.update)
    fetch = blocking(ParticipantHandle.fetch)
    delete = blocking(ParticipantHandle.delete)
    mute = blocking(ParticipantHandle.mute)
    unmute = blocking(ParticipantHandle.unmute)
    hold = blocking(ParticipantHandle.hold)
    unhold = blocking(ParticipantHandle.unhold)
    coach = blocking(ParticipantHandle.coach)
    monitor = blocking(ParticipantHandle.monitor)
    barge = blocking(ParticipantHandle.barge)
    announce = blocking(ParticipantHandle.announce)


class SyncConferenceParticipants(_Twin[ConferenceParticipants]):
    """The participants of one conference: call it with a call sid, or list them."""

    def __call__(self, call_sid: str) -> SyncParticipantHandle:
        """The participant whose call (or Twilio label) is ``call_sid``."""
        make = self._make
        return SyncParticipantHandle(self._owner, lambda client: make(client)(call_sid))

    list = blocking(ConferenceParticipants.list)

    def stream(self, **filters: Unpack[ListFilters]) -> Iterator[Participant]:
        """Participants one at a time, fetching the next page only when needed.

        A plain iterator; ``close()`` it (or let it go) to stop early. Pages are
        followed through ``next_page_uri``, which must stay on the API's own
        scheme and host.
        """
        loop, handle = self._twin()
        return BlockingIterator(loop, handle.stream(**filters), owner=self._owner)


class SyncConference:
    """A conference, addressed by its sid. ``participants`` reaches the people in it."""

    def __init__(self, owner: Owner, conference_sid: str) -> None:
        self.sid = conference_sid
        self.participants = SyncConferenceParticipants(
            owner, lambda client: client.conferences(conference_sid).participants
        )

    def __repr__(self) -> str:
        return f"SyncConference({self.sid!r})"
