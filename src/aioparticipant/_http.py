"""The one request pipeline: bound → pause → rate → send → classify → retry.

Read top to bottom, this is everything that happens to a request after its
parameters were validated.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from ._exceptions import APIConnectionError, APIError, RateLimitError, error_from_response
from ._limiter import Limiter, SharedPause
from ._retry import Backoff, is_retryable, make_retrying
from ._senders import RawResponse, Sender

__all__ = ["ClientStats", "Pipeline"]


@dataclass
class ClientStats:
    """What a client has done so far: counters for dashboards, progress bars and tests.

    ``requests`` counts calls (an update, a fetch, a page of a list),
    ``attempts`` the HTTP requests sent for them, retries included;
    ``retries`` splits into ``retries_after_429``, ``retries_after_5xx`` and
    ``retries_after_connection_error`` (connect failures, resets, timeouts).
    """

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    retries_after_429: int = 0
    retries_after_5xx: int = 0
    retries_after_connection_error: int = 0

    def _count_retry(self, cause: BaseException | None) -> None:
        self.retries += 1
        if isinstance(cause, APIError):
            if cause.status == 429:
                self.retries_after_429 += 1
            else:
                self.retries_after_5xx += 1
        else:
            self.retries_after_connection_error += 1


class Pipeline:
    """Sends requests for one client under its concurrency bound, limiter and retry policy."""

    def __init__(
        self,
        *,
        sender: Sender,
        max_in_flight: int,
        limiter: Limiter | None,
        max_retries: int,
        backoff: Backoff,
        secrets: tuple[bytes, ...] = (),
    ) -> None:
        self._sender = sender
        # Credentials an error page may quote back (a proxy echoing the
        # Authorization header): they never reach an exception message.
        self._secrets = tuple(secret for secret in secrets if len(secret) >= 4)
        # Our own bound in front of the connection pool: a request waits here,
        # where cancelling it is free, never inside the pool.
        self._slots = anyio.Semaphore(max_in_flight, fast_acquire=True)
        self._limiter = limiter
        self._pause = SharedPause()
        self._max_retries = max_retries
        self._backoff = backoff
        self.closed = False
        self.stats = ClientStats()

    async def request(
        self,
        method: str,
        url: str,
        path: str,
        *,
        form: bytes | None = None,
        announces: bool = False,
    ) -> RawResponse:
        """Send ``method url`` with retries; return a 2xx response or raise the right error.

        ``path`` is what log lines and errors show of the URL. ``announces``
        marks a request that must not be delivered twice.
        """
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")
        self.stats.requests += 1
        # The first attempt runs bare: most requests succeed, and a tenacity
        # controller per request would cost more CPU than the request itself.
        try:
            return await self._attempt(method, path, url, form)
        except (APIError, APIConnectionError) as error:
            if self._max_retries == 0 or not is_retryable(
                error, announces=announces, backoff=self._backoff
            ):
                raise
            first_failure: BaseException = error
        # From the first failure on, retrying is tenacity's: it is handed that
        # failure as its own first attempt, then owns every wait, log line and stop.
        retrying = make_retrying(
            max_retries=self._max_retries,
            backoff=self._backoff,
            announces=announces,
            on_retry=self.stats._count_retry,
        )
        replay = [first_failure]

        async def attempt(method: str, path: str, url: str, form: bytes | None) -> RawResponse:
            if replay:
                raise replay.pop()
            return await self._attempt(method, path, url, form)

        try:
            response: RawResponse = await retrying(attempt, method, path, url, form)
        except (APIError, APIConnectionError) as error:
            error.attempts = retrying.statistics.get("attempt_number", 1)
            raise
        return response

    async def _attempt(self, method: str, path: str, url: str, form: bytes | None) -> RawResponse:
        async with self._slots:
            await self._pause.wait()
            if self._limiter is not None:
                await self._limiter.acquire()
            self.stats.attempts += 1
            response = await self._sender.send(method, url, form)
        if response.status < 300:
            return response
        body = response.body
        for secret in self._secrets:
            body = body.replace(secret, b"[redacted]")
        error = error_from_response(
            response.status,
            response.headers,
            body,
            reason=response.reason,
            method=method,
            path=path,
        )
        if (
            isinstance(error, RateLimitError)
            and error.retry_after is not None
            and error.retry_after <= self._backoff.max_retry_after
        ):
            self._pause.pause_for(error.retry_after)
        raise error

    async def aclose(self) -> None:
        self.closed = True
        await self._sender.aclose()
