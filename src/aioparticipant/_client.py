"""AsyncClient: configuration and lifecycle."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterable, Iterable
from typing import Literal

import anyio.abc
import httpx

from ._auto_limiter import AutoRateLimiter
from ._bulk import BulkRun
from ._config import base_url_from, credential_from
from ._constants import (
    DEFAULT_BULK_CONCURRENCY,
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ENV_API_TOKEN,
    ENV_PROJECT_ID,
    USER_AGENT,
)
from ._events import EventHooksArg
from ._exceptions import InvalidParameterError
from ._http import ClientStats, Pipeline
from ._lanes import Priority, check_priority
from ._limiter import Limiter, TokenBucket
from ._network import resolve_network
from ._options import CallOptions, PerCallOptions
from ._params import Unpack, encode_path_segment
from ._participant_update import ParticipantUpdate
from ._resources import Conference, _Api
from ._retry import Backoff
from ._senders import AiohttpSender, HttpxSender, Sender
from ._tls import VerifyTypes
from ._validate import check_int, check_positive_number

__all__ = ["AsyncClient"]


class AsyncClient(anyio.abc.AsyncResource):
    """The client: one pooled HTTP connection pool, retries and rate limits for every call.

    Use it as ``async with AsyncClient() as client:`` (or call ``await
    client.aclose()``). Credentials fall back to ``SIGNALWIRE_PROJECT_ID``,
    ``SIGNALWIRE_API_TOKEN`` and ``SIGNALWIRE_SPACE_URL``. ``base_url`` (Twilio's
    ``https://api.twilio.com/2010-04-01``, or a loopback emulator) replaces the
    space. ``timeout`` is seconds or an ``httpx.Timeout``. ``max_connections``
    bounds both the pool and the requests in flight. ``rate_limit`` (requests
    per second) and ``burst`` build a token bucket; ``rate_limit="auto"`` one
    that learns the server's limit from its 429s (``AutoRateLimiter``);
    ``limiter`` takes any object with ``async def acquire()`` instead. ``http_backend="aiohttp"`` is the
    faster asyncio-only transport (extra ``aioparticipant[fast]``).
    ``proxy="http://[user:password@]host:port"`` sends every request through
    that proxy; ``verify`` is ``True``, a CA bundle path or an
    ``ssl.SSLContext`` (verification cannot be switched off). With
    ``trust_env`` (the default), ``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` apply
    unless ``proxy``/``verify`` are given.
    ``event_hooks`` (``{"request": [...], "response": [...], "retry": [...]}``)
    are called once per attempt; see ``RequestEvent``. Direct calls run in the
    interactive lane; ``with_options(priority="bulk")`` and ``bulk()`` use the
    bulk lane, which never delays an interactive call.
    """

    def __init__(
        self,
        project_id: str | None = None,
        token: str | None = None,
        *,
        space_url: str | None = None,
        base_url: str | None = None,
        account_sid: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        rate_limit: float | Literal["auto"] | None = None,
        burst: int | None = None,
        limiter: Limiter | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        http_backend: Literal["httpx", "aiohttp"] = "httpx",
        backoff: Backoff | None = None,
        event_hooks: EventHooksArg | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: VerifyTypes = True,
    ) -> None:
        project_id = credential_from(project_id, "project_id", ENV_PROJECT_ID)
        token = credential_from(token, "token", ENV_API_TOKEN)
        if ":" in project_id:
            raise InvalidParameterError(
                "project_id", "project_id must not contain ':' (it is the Basic-auth user name)"
            )
        self.base_url = base_url_from(base_url, space_url, allow_insecure_http=allow_insecure_http)
        self.project_id = project_id
        self.account_sid = project_id if account_sid is None else account_sid
        account_segment = encode_path_segment("account_sid", self.account_sid)

        check_int("max_connections", max_connections, minimum=1)
        self._limiter = _limiter(rate_limit, burst, limiter)
        network = resolve_network(
            self.base_url,
            proxy=proxy,
            trust_env=trust_env,
            verify=verify,
            custom_transport=transport is not None,
        )

        credentials = base64.b64encode(f"{project_id}:{token}".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {credentials}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        sender: Sender
        if http_backend == "httpx":
            limits = httpx.Limits(
                max_connections=max_connections,
                # Keep every connection we may open: a smaller keep-alive pool
                # closes and reopens connections on every burst.
                max_keepalive_connections=max_connections,
                keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY,
            )
            sender = HttpxSender(
                headers=headers,
                limits=limits,
                transport=transport,
                network=network,
            )
        elif http_backend == "aiohttp":
            if transport is not None:
                raise InvalidParameterError(
                    "transport",
                    'transport= is an httpx transport; use it with http_backend="httpx"',
                )
            sender = AiohttpSender(
                headers=headers,
                max_connections=max_connections,
                keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY,
                network=network,
            )
        else:
            raise InvalidParameterError(
                "http_backend", f'http_backend must be "httpx" or "aiohttp", got {http_backend!r}'
            )
        self.http_backend = http_backend
        self.max_connections = max_connections
        options = CallOptions.build(
            sender,
            timeout=timeout,
            max_retries=max_retries,
            priority="interactive",
            event_hooks=event_hooks,
        )
        self._pipeline = Pipeline(
            sender=sender,
            max_in_flight=max_connections,
            limiter=self._limiter,
            backoff=backoff or Backoff(),
            secrets=(credentials.encode("ascii"), token.encode()),
        )
        self._api = _Api(self._pipeline, self.base_url, f"/Accounts/{account_segment}", options)
        self._is_view = False

    def __repr__(self) -> str:
        lane = self._api.options.priority
        return (
            f"AsyncClient(base_url={self.base_url!r}, account_sid={self.account_sid!r}, "
            f"http_backend={self.http_backend!r}"
            + (f", priority={lane!r}" if lane != "interactive" else "")
            + ")"
        )

    def with_options(self, **options: Unpack[PerCallOptions]) -> AsyncClient:
        """A client for the same Space with other per-call options; what is left out is inherited.

        ``timeout``, ``max_retries``, ``priority`` (``"interactive"`` or
        ``"bulk"``) and ``event_hooks``. The new client shares this one's
        connections, limiter, shared pause and ``stats``: it costs nothing to
        make, per request handler or per job. Closing this client closes it
        too; its own ``aclose()`` closes nothing but itself.

            fast = client.with_options(timeout=0.3, max_retries=0)   # a web handler's budget
            batch = client.with_options(priority="bulk")              # background work
        """
        call_options = self._api.options.updated(self._pipeline.sender, options)
        view = object.__new__(AsyncClient)  # not copy.copy: pickling is refused on purpose
        view.__dict__.update(self.__dict__)
        view._api = self._api.with_options(call_options)
        view._is_view = True
        return view

    def __getstate__(self) -> object:
        raise TypeError("AsyncClient cannot be pickled: it holds credentials and open connections")

    def conferences(self, conference_sid: str) -> Conference:
        """The conference ``conference_sid``; ``.participants(call_sid)`` reaches one person in it."""
        return Conference(self._api, conference_sid)

    def bulk(
        self,
        updates: Iterable[ParticipantUpdate] | AsyncIterable[ParticipantUpdate],
        *,
        concurrency: int = DEFAULT_BULK_CONCURRENCY,
        priority: Priority = "bulk",
    ) -> BulkRun:
        """Send many updates, at most ``concurrency`` at a time; results come as they complete.

            async with client.bulk(updates, concurrency=50) as results:
                async for result in results:
                    if not result.ok:
                        print(result.update.call_sid, result.error)

        ``updates`` (``ParticipantUpdate`` objects, an iterable or async
        iterable) is read lazily. Every update read gives one ``BulkResult``;
        a failure is a result, never the end of the run. Leaving the block
        early cancels the updates still in flight. The run is in the bulk lane
        unless ``priority="interactive"``: interactive calls made meanwhile go
        first. See ``BulkRun``.
        """
        self._check_open()
        api = self._api.in_lane(check_priority(priority))
        return BulkRun(api, updates, concurrency=concurrency)

    @property
    def limiter(self) -> Limiter | None:
        """The limiter every attempt passes (the bucket ``rate_limit`` built), if any.

        With ``rate_limit="auto"`` its ``rate`` is the pace learned so far.
        """
        return self._limiter

    @property
    def stats(self) -> ClientStats:
        """Counters of requests, attempts and retries (by cause) since the client was made."""
        return self._pipeline.stats

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` was called (on this client, or on the one it was made from)."""
        return self._api.closed or self._pipeline.closed

    async def aclose(self) -> None:
        """Close the connection pool. The client cannot be used afterwards.

        On a client from ``with_options`` this closes only that client.
        """
        if self._is_view:
            self._api.closed = True
            return
        await self._pipeline.aclose()

    def _check_open(self) -> None:
        if self.is_closed:
            raise RuntimeError("this AsyncClient is closed; create a new one")


def _limiter(
    rate_limit: float | str | None, burst: int | None, limiter: Limiter | None
) -> Limiter | None:
    if limiter is not None:
        if rate_limit is not None or burst is not None:
            raise InvalidParameterError(
                "limiter", "pass either limiter= or rate_limit=/burst=, not both"
            )
        if not callable(getattr(limiter, "acquire", None)):
            raise InvalidParameterError(
                "limiter", "limiter must have an `async def acquire(self) -> None` method"
            )
        return limiter
    if rate_limit is None:
        if burst is not None:
            raise InvalidParameterError("burst", "burst needs rate_limit: pass rate_limit=... too")
        return None
    if isinstance(rate_limit, str):
        if rate_limit != "auto":
            raise InvalidParameterError(
                "rate_limit",
                f'rate_limit must be a number of requests per second or "auto", got {rate_limit!r}',
            )
        if burst is not None:
            raise InvalidParameterError("burst", 'burst is learned under rate_limit="auto"')
        return AutoRateLimiter()
    if rate_limit == math.inf:
        raise InvalidParameterError(
            "rate_limit", "rate_limit must be finite; leave it unset for no limit"
        )
    rate = check_positive_number("rate_limit", rate_limit, what="a number of requests per second")
    return TokenBucket(rate, burst)
