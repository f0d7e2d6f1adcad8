"""What is retried, how long to wait first, and when everyone pauses. Retrying itself is tenacity's.

The rule, in one place (``decide``):

* Retried: 429, 500, 502, 503, 504, connection failures and timeouts.
* Never retried: other 4xx, a bad response body, a proxy refusing the tunnel,
  cancellation, anything else.
* An update carrying ``announce_url`` is retried only where it cannot have
  been delivered (connect failures, connect and pool timeouts, 429): a second
  delivery would play the announcement twice.
* ``Retry-After`` (seconds or HTTP date, on any status) is honoured; past
  ``max_retry_after`` the error is raised at once instead.
* A 429 whose ``Retry-After`` is within that cap pauses every new attempt of
  the client (and of everyone sharing its limiter) until then.
* Otherwise: exponential backoff with full jitter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import tenacity
from tenacity.wait import wait_random_exponential

from ._constants import (
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_RETRY_AFTER,
    RETRYABLE_STATUSES,
)
from ._exceptions import APIConnectionError, APIError
from ._validate import check_seconds

__all__ = ["Backoff", "Verdict", "decide", "make_retrying"]

logger = logging.getLogger("aioparticipant")


@dataclass(frozen=True)
class Backoff:
    """How long retries wait.

    Attempt *n* waits a random time between 0 and
    ``min(maximum, initial * 2 ** (n - 1))`` seconds (full jitter), unless the
    server said how long with ``Retry-After``. A ``Retry-After`` beyond
    ``max_retry_after`` raises ``RateLimitError`` at once.
    """

    initial: float = DEFAULT_BACKOFF_INITIAL
    maximum: float = DEFAULT_BACKOFF_MAX
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "max_retry_after"):
            check_seconds(f"Backoff.{name}", getattr(self, name))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after a failed attempt.

    ``retry``: whether another attempt is safe and useful. ``server_wait``:
    the seconds the server asked for (within the cap), else ``None`` (back
    off with jitter). ``pause``: seconds every new attempt of everyone sharing
    the client's limiter should hold back (a 429 with ``Retry-After``), else ``None``.
    """

    retry: bool
    server_wait: float | None = None
    pause: float | None = None


_NO = Verdict(retry=False)


def decide(error: BaseException, *, announces: bool, backoff: Backoff) -> Verdict:
    """The one retry rule: retry or not, wait how long, pause everyone or not."""
    if isinstance(error, APIError):
        retryable = error.status in RETRYABLE_STATUSES
        # Both vendors document that a 429 was not processed: safe even for announcements.
        if not retryable or (announces and error.status != 429):
            return _NO
        wait = error.retry_after
        if wait is not None and wait > backoff.max_retry_after:
            return _NO  # raised at once rather than sleeping that long
        pause = wait if error.status == 429 else None
        return Verdict(retry=True, server_wait=wait, pause=pause)
    if isinstance(error, APIConnectionError):
        return Verdict(retry=error.transient and not (announces and error.possibly_delivered))
    return _NO  # cancellation, KeyboardInterrupt, bugs: never retried


def make_retrying(
    *,
    max_retries: int,
    backoff: Backoff,
    announces: bool,
    before_retry: Callable[[BaseException, int, float], Awaitable[None]],
) -> tenacity.AsyncRetrying:
    """A tenacity controller for one request, from its first failure on.

    ``before_retry(error, failed_attempt, wait)`` runs before each wait (log
    line, stats, retry hooks). Call it as ``await retrying(attempt_function)``.
    """
    jitter = wait_random_exponential(multiplier=backoff.initial, max=backoff.maximum)

    def verdict(state: tenacity.RetryCallState) -> Verdict:
        error = state.outcome.exception() if state.outcome else None
        return _NO if error is None else decide(error, announces=announces, backoff=backoff)

    def wait(state: tenacity.RetryCallState) -> float:
        server_wait = verdict(state).server_wait
        return server_wait if server_wait is not None else float(jitter(state))

    def should_retry(state: tenacity.RetryCallState) -> bool:
        return verdict(state).retry

    async def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None  # only exceptions are retried
        wait_seconds = state.next_action.sleep if state.next_action else 0.0
        await before_retry(error, state.attempt_number, wait_seconds)

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=wait,
        retry=should_retry,
        before_sleep=before_sleep,
        sleep=anyio.sleep,
        reraise=True,
    )


def log_retry(
    method: str, path: str, error: BaseException, attempt: int, attempts: int, wait: float
) -> None:
    """One WARNING line per retry: method, path, cause, attempt and wait; never a secret."""
    reason = f"HTTP {error.status}" if isinstance(error, APIError) else type(error).__name__
    logger.warning(
        "retrying %s %s after %s (attempt %d of %d), waiting %.2fs",
        method,
        path,
        reason,
        attempt,
        attempts,
        wait,
    )
