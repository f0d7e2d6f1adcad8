"""Per-call options: timeout, retries, lane and hooks, shared by a client and its ``with_options`` views."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypedDict

import httpx

from ._events import EventHooks, EventHooksArg, check_event_hooks
from ._exceptions import InvalidParameterError
from ._lanes import Priority, check_priority
from ._validate import check_int

if TYPE_CHECKING:
    from ._senders import Sender

__all__ = ["CallOptions", "PerCallOptions", "check_max_retries", "check_timeout"]


class PerCallOptions(TypedDict, total=False):
    """What ``client.with_options(...)`` takes; a key left out is inherited."""

    timeout: float | httpx.Timeout | None
    max_retries: int
    priority: Priority
    event_hooks: EventHooksArg | None


def check_timeout(timeout: object) -> httpx.Timeout:
    """Seconds (> 0), an ``httpx.Timeout``, or ``None`` (no timeout) as an ``httpx.Timeout``."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidParameterError(
            "timeout", f"timeout must be seconds > 0 or an httpx.Timeout, got {timeout!r}"
        )
    return httpx.Timeout(float(timeout))


def check_max_retries(max_retries: object) -> int:
    """An int >= 0; 0 disables retrying."""
    return check_int("max_retries", max_retries, minimum=0, hint="0 disables retries")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The options every call of one client (or view) runs with, checked and prepared once."""

    timeout: httpx.Timeout
    #: ``timeout`` in the HTTP backend's own form.
    sender_timeout: object
    max_retries: int
    priority: Priority
    hooks: EventHooks

    @classmethod
    def build(
        cls,
        sender: Sender,
        *,
        timeout: object,
        max_retries: object,
        priority: object,
        event_hooks: object,
    ) -> CallOptions:
        checked_timeout = check_timeout(timeout)
        return cls(
            timeout=checked_timeout,
            sender_timeout=sender.prepare_timeout(checked_timeout),
            max_retries=check_max_retries(max_retries),
            priority=check_priority(priority),
            hooks=check_event_hooks(event_hooks),
        )

    def updated(self, sender: Sender, options: PerCallOptions) -> CallOptions:
        """These options with ``options`` applied; unknown keys are a ``TypeError``."""
        unknown = set(options) - set(PerCallOptions.__annotations__)
        if unknown:
            raise TypeError(
                f"with_options() got an unexpected keyword argument {sorted(unknown)[0]!r}; "
                f"it takes {', '.join(sorted(PerCallOptions.__annotations__))}"
            )
        changed = self
        if "timeout" in options:
            timeout = check_timeout(options["timeout"])
            changed = replace(
                changed, timeout=timeout, sender_timeout=sender.prepare_timeout(timeout)
            )
        if "max_retries" in options:
            changed = replace(changed, max_retries=check_max_retries(options["max_retries"]))
        if "priority" in options:
            changed = replace(changed, priority=check_priority(options["priority"]))
        if "event_hooks" in options:
            changed = replace(changed, hooks=check_event_hooks(options["event_hooks"]))
        return changed

    def in_lane(self, priority: Priority) -> CallOptions:
        """These options in another lane."""
        return self if priority == self.priority else replace(self, priority=priority)
