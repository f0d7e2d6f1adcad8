"""The one request pipeline: wait its turn (pause → rate → slot) → send → classify → retry.

Read top to bottom, this is everything that happens to a request after its
parameters were validated. Every wait is lane-aware: an interactive request
never queues behind a bulk one, for the end of a pause, a token or a slot.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ._events import RequestEvent, ResponseEvent, RetryEvent, emit
from ._exceptions import APIConnectionError, APIError, error_from_response, record_attempts
from ._lanes import Priority
from ._limiter import Limiter, SharedPause, lane_acquirer
from ._options import CallOptions
from ._redact import scrub
from ._retry import Backoff, decide, log_retry, make_retrying
from ._senders import RawResponse, Sender
from ._slots import LaneSlots
from ._tracing import ATTEMPTS, call_span

__all__ = ["Call", "ClientStats", "Pipeline"]


class _Attempts:
    """How many attempts one call has made so far."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> int:
        self.count += 1
        return self.count


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

    def _count_retry(self, cause: BaseException) -> None:
        self.retries += 1
        if isinstance(cause, APIError):
            if cause.status == 429:
                self.retries_after_429 += 1
            else:
                self.retries_after_5xx += 1
        else:
            self.retries_after_connection_error += 1


@dataclass(frozen=True, slots=True)
class Call:
    """One API call: what it is (for spans) and what to send.

    ``path`` is what log lines, events and errors show of the URL;
    ``announces`` marks a request that must not be delivered twice.
    """

    operation: str
    method: str
    url: str
    path: str
    form: bytes | None = None
    announces: bool = False
    conference_sid: str | None = None
    call_sid: str | None = None


class Pipeline:
    """Sends the calls of one client (and its views) under its bound, limiter and retry policy."""

    def __init__(
        self,
        *,
        sender: Sender,
        max_in_flight: int,
        limiter: Limiter | None,
        backoff: Backoff,
        secrets: tuple[bytes, ...] = (),
    ) -> None:
        self.sender = sender
        # Credentials an error page may quote back (a proxy echoing the
        # Authorization header): they never reach an exception message.
        self._secrets = tuple(
            sorted((secret for secret in secrets if len(secret) >= 4), key=len, reverse=True)
        )
        # Our own bound in front of the connection pool: a request waits here,
        # where cancelling it is free, never inside the pool.
        self._slots = LaneSlots(max_in_flight)
        self._take_token = None if limiter is None else lane_acquirer(limiter)
        self._limiter_pause: Callable[[float], Awaitable[None]] | None = getattr(
            limiter, "pause_for", None
        )
        self._limiter_observe: Callable[[int, float, float | None], None] | None = getattr(
            limiter, "observe", None
        )
        # A self-pacing limiter (it observes answers) spaces what a pause held.
        self._pause = SharedPause(stagger=self._limiter_observe is None)
        self._backoff = backoff
        self.closed = False
        self.stats = ClientStats()

    async def request(self, call: Call, options: CallOptions) -> RawResponse:
        """Send ``call`` with retries; return a 2xx response or raise the right error."""
        if self.closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")
        self.stats.requests += 1
        attempts = _Attempts()
        try:
            return await self._traced(call, options, attempts)
        except (APIError, APIConnectionError) as error:
            # The one point a call's final error leaves the pipeline, retried or not.
            record_attempts(error, attempts.count)
            raise

    async def _traced(self, call: Call, options: CallOptions, attempts: _Attempts) -> RawResponse:
        span = call_span(call.operation, options.priority, call.conference_sid, call.call_sid)
        if span is None:
            return await self._with_retries(call, options, attempts)
        with span as current:
            try:
                return await self._with_retries(call, options, attempts)
            finally:
                current.set_attribute(ATTEMPTS, attempts.count)

    async def _with_retries(
        self, call: Call, options: CallOptions, attempts: _Attempts
    ) -> RawResponse:
        # The first attempt runs bare: most requests succeed, and a tenacity
        # controller per request would cost more CPU than the request itself.
        try:
            return await self._attempt(call, options, attempts)
        except (APIError, APIConnectionError) as error:
            verdict = decide(error, announces=call.announces, backoff=self._backoff)
            if options.max_retries == 0 or not verdict.retry:
                raise
            first_failure: BaseException = error
        # From the first failure on, retrying is tenacity's: it is handed that
        # failure as its own first attempt, then owns every wait and stop.
        replay = [first_failure]

        async def attempt() -> RawResponse:
            if replay:
                raise replay.pop()
            return await self._attempt(call, options, attempts)

        async def before_retry(error: BaseException, failed: int, wait: float) -> None:
            self.stats._count_retry(error)
            log_retry(call.method, call.path, error, failed, options.max_retries + 1, wait)
            if options.hooks.retry:
                event = RetryEvent(call.method, call.path, failed, options.priority, error, wait)
                await emit(options.hooks.retry, event)

        retrying = make_retrying(
            max_retries=options.max_retries,
            backoff=self._backoff,
            announces=call.announces,
            before_retry=before_retry,
        )
        response: RawResponse = await retrying(attempt)
        return response

    async def _attempt(self, call: Call, options: CallOptions, attempts: _Attempts) -> RawResponse:
        lane = options.priority
        await self._pause.wait(lane)  # a 429's pause; interactive requests go first when it ends
        await self._wait_for_token(lane)  # the rate limit; bulk leaves the reserve alone
        let_go = time.perf_counter()  # a self-pacing limiter times each answer from here
        await self._slots.acquire(lane)  # the concurrency bound; interactive first
        try:
            attempt = attempts.next()
            self.stats.attempts += 1
            await self._announce(call, options, attempt)
            started = time.perf_counter()
            response = await self.sender.send(
                call.method, call.url, call.form, options.sender_timeout
            )
        finally:
            self._slots.release()
        await self._report(call, options, attempt, response, time.perf_counter() - started)
        if response.status < 300:
            self._tell_limiter(response.status, let_go, None)
            return response
        raise await self._failure(call, response, let_go)

    async def _wait_for_token(self, lane: Priority) -> None:
        if self._take_token is not None:
            await self._take_token(lane)

    async def _announce(self, call: Call, options: CallOptions, attempt: int) -> None:
        if options.hooks.request:
            event = RequestEvent(call.method, call.path, attempt, options.priority)
            await emit(options.hooks.request, event)

    def _tell_limiter(self, status: int, let_go: float, retry_after: float | None) -> None:
        if self._limiter_observe is not None:  # a self-pacing limiter learns from answers
            self._limiter_observe(status, time.perf_counter() - let_go, retry_after)

    async def _report(
        self,
        call: Call,
        options: CallOptions,
        attempt: int,
        response: RawResponse,
        elapsed: float,
    ) -> None:
        if options.hooks.response:
            event = ResponseEvent(
                call.method,
                call.path,
                attempt,
                options.priority,
                response.status,
                response.headers,
                elapsed,
            )
            await emit(options.hooks.response, event)

    async def _failure(self, call: Call, response: RawResponse, let_go: float) -> APIError:
        """The error for an error response, after pausing everyone if it was a 429 with Retry-After."""
        error = error_from_response(
            response.status,
            response.headers,
            scrub(response.body, self._secrets),
            reason=response.reason,
            method=call.method,
            path=call.path,
        )
        self._tell_limiter(response.status, let_go, error.retry_after)
        pause = decide(error, announces=call.announces, backoff=self._backoff).pause
        if pause is not None:
            self._pause.pause_for(pause)
            if self._limiter_pause is not None:
                await self._limiter_pause(pause)
        return error

    async def aclose(self) -> None:
        self.closed = True
        await self.sender.aclose()
