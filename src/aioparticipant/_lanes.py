"""The two lanes every request runs in: ``"interactive"`` (a person is waiting) and ``"bulk"``.

Direct calls are interactive; ``client.bulk()``, the ``*_all`` helpers and
``aioparticipant bulk`` are bulk unless told otherwise. Wherever requests
wait their turn (a concurrency slot, a limiter token, the end of a shared
pause), an interactive request goes before every bulk one.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from ._exceptions import InvalidParameterError

__all__ = ["BULK", "INTERACTIVE", "PRIORITIES", "Priority", "check_priority"]

Priority: TypeAlias = Literal["interactive", "bulk"]
"""A request's lane: ``"interactive"`` (a person is waiting; direct calls) or ``"bulk"``
(``client.bulk()``, the ``*_all`` helpers, ``aioparticipant bulk``). Interactive requests
never wait behind bulk ones for a slot, a limiter token or the end of a shared pause."""

INTERACTIVE: Final = "interactive"
BULK: Final = "bulk"
PRIORITIES: Final[tuple[Priority, ...]] = ("interactive", "bulk")


def check_priority(value: object, parameter: str = "priority") -> Priority:
    """``value`` if it names a lane, else ``InvalidParameterError`` naming ``parameter``."""
    if value == "interactive":
        return "interactive"
    if value == "bulk":
        return "bulk"
    raise InvalidParameterError(
        parameter, f'{parameter} must be "interactive" or "bulk", got {value!r}'
    )
