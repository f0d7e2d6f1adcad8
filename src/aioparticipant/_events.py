"""Event hooks: what a caller can watch of each attempt, without touching the transport.

``event_hooks={"request": [...], "response": [...], "retry": [...]}`` on the
client (or ``with_options``) lists callables, plain or async, called once per
attempt with one of the small frozen events below. No event carries the token
or the ``Authorization`` header: only what the caller sent as a path, and the
response headers the server wrote.

A hook that raises fails the call with its own exception, as in httpx: a hook
is the caller's code, and a broken metric or policy check should be seen, not
logged away. A request hook that raises stops the attempt before anything is
sent; a response hook runs after the server answered (an update may have been
applied); a retry hook's exception ends the retries.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._exceptions import InvalidParameterError
from ._lanes import Priority

__all__ = [
    "EVENT_NAMES",
    "EventHooks",
    "EventHooksArg",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "check_event_hooks",
]


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """An attempt is about to be sent (it has waited its turn). ``attempt`` counts from 1."""

    method: str
    path: str
    attempt: int
    priority: Priority


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """An attempt was answered, error statuses included; ``elapsed`` is seconds on the wire."""

    method: str
    path: str
    attempt: int
    priority: Priority
    status: int
    headers: Mapping[str, str]
    elapsed: float


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Attempt ``attempt`` failed with ``error``; the next one follows after ``wait`` seconds."""

    method: str
    path: str
    attempt: int
    priority: Priority
    error: BaseException
    wait: float


Hook: TypeAlias = Callable[[Any], object]
#: What ``event_hooks=`` takes: event name → callables, each plain or async.
EventHooksArg: TypeAlias = Mapping[str, Sequence[Callable[..., object]]]

EVENT_NAMES = ("request", "response", "retry")


@dataclass(frozen=True, slots=True)
class EventHooks:
    """The checked hooks of a client; empty tuples cost nothing per attempt."""

    request: tuple[Hook, ...] = ()
    response: tuple[Hook, ...] = ()
    retry: tuple[Hook, ...] = ()


async def emit(hooks: Iterable[Hook], event: object) -> None:
    """Call each hook with ``event``, awaiting the ones that return an awaitable."""
    for hook in hooks:
        result = hook(event)
        if inspect.isawaitable(result):
            await result


def check_event_hooks(event_hooks: object) -> EventHooks:
    """``event_hooks`` as ``EventHooks``; a bad name, list or hook is ``InvalidParameterError``."""
    if event_hooks is None:
        return EventHooks()
    if not isinstance(event_hooks, Mapping):
        raise InvalidParameterError(
            "event_hooks",
            'event_hooks must be a dict such as {"request": [hook], "response": [hook], '
            f'"retry": [hook]}}, got {type(event_hooks).__name__}',
        )
    checked: dict[str, tuple[Hook, ...]] = {}
    for name, hooks in event_hooks.items():
        if name not in EVENT_NAMES:
            raise InvalidParameterError(
                "event_hooks",
                f'event_hooks has no event {name!r}: use "request", "response" or "retry"',
            )
        if callable(hooks) or not isinstance(hooks, Iterable) or isinstance(hooks, (str, bytes)):
            raise InvalidParameterError(
                "event_hooks", f'event_hooks["{name}"] must be a list of callables'
            )
        listed = tuple(hooks)
        for hook in listed:
            if not callable(hook):
                raise InvalidParameterError(
                    "event_hooks",
                    f'event_hooks["{name}"] holds {hook!r}, which is not callable',
                )
        checked[name] = listed
    return EventHooks(**checked)
