"""What is retried, and how long to wait first. Retrying itself is tenacity's.

The rule, in one place:

* Retried: 429, 500, 502, 503, 504, connection failures and timeouts.
* Never retried: other 4xx, a bad response body, cancellation, anything else.
* An update carrying ``announce_url`` is retried only where it cannot have
  been delivered (connect failures, connect and pool timeouts, 429): a second
  delivery would play the announcement twice.
* ``Retry-After`` (seconds or HTTP date) is honoured; past ``max_retry_after``
  the ``RateLimitError`` is raised at once instead.
* Otherwise: exponential backoff with full jitter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from ._exceptions import APIConnectionError, APIError, RateLimitError
from ._retry_after import parse_retry_after

__all__ = ["Backoff", "is_retryable", "make_retrying", "retry_after_of"]

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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Backoff.{name} must be a number of seconds >= 0, got {value!r}")


def retry_after_of(error: BaseException) -> float | None:
    """The server's ``Retry-After`` on an API error, in seconds, or ``None``."""
    if isinstance(error, RateLimitError):
        return error.retry_after
    if isinstance(error, APIError):
        for key, value in error.headers.items():
            if key.lower() == "retry-after":
                return parse_retry_after(value)
    return None


def is_retryable(error: BaseException, *, announces: bool, backoff: Backoff) -> bool:
    """Whether another attempt is safe and useful after ``error``."""
    if isinstance(error, RateLimitError):
        # Both vendors document that a 429 was not processed: safe even for announcements.
        retry_after = error.retry_after
        return retry_after is None or retry_after <= backoff.max_retry_after
    if isinstance(error, APIError):
        if error.status not in RETRYABLE_STATUSES or announces:
            return False
        retry_after = retry_after_of(error)
        return retry_after is None or retry_after <= backoff.max_retry_after
    if isinstance(error, APIConnectionError):
        return not (announces and error.possibly_delivered)
    return False  # cancellation, KeyboardInterrupt, bugs: never retried


def make_retrying(
    *,
    max_retries: int,
    backoff: Backoff,
    announces: bool,
    on_retry: Callable[[BaseException | None], None] | None = None,
) -> tenacity.AsyncRetrying:
    """A tenacity controller for one request. Call it as ``await retrying(fn, method, path, ...)``."""
    jitter = wait_random_exponential(multiplier=backoff.initial, max=backoff.maximum)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = retry_after_of(error) if error is not None else None
        return retry_after if retry_after is not None else float(jitter(state))

    def should_retry(error: BaseException) -> bool:
        return is_retryable(error, announces=announces, backoff=backoff)

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=wait,
        retry=tenacity.retry_if_exception(should_retry),
        before_sleep=_log_retry(max_retries + 1, on_retry),
        sleep=anyio.sleep,
        reraise=True,
    )


def _log_retry(
    attempts: int, on_retry: Callable[[BaseException | None], None] | None
) -> Callable[[tenacity.RetryCallState], None]:
    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None:
            on_retry(error)
        method, path = state.args[0], state.args[1]
        if isinstance(error, APIError):
            reason = f"HTTP {error.status}"
        elif error is not None:
            reason = type(error).__name__
        else:  # pragma: no cover - only exceptions are retried
            reason = "result"
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "retrying %s %s after %s (attempt %d of %d), waiting %.2fs",
            method,
            path,
            reason,
            state.attempt_number,
            attempts,
            wait,
        )

    return log
