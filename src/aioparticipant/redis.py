"""One rate limit shared by every process and machine that uses the same Redis key.

    from aioparticipant import AsyncClient
    from aioparticipant.redis import RedisRateLimiter

    async with (
        RedisRateLimiter("redis://localhost:6379/0", key="signalwire:my-project", rate=10, burst=10)
        as limiter,
        AsyncClient(limiter=limiter) as client,
    ):
        await client.conferences("CF...").participants("CA...").mute()

Every attempt of every request, retries included, asks Redis for a slot. The
decision is one Lua script (GCRA, the "generic cell rate algorithm") run
atomically on the Redis server with the server's own clock, so the workers'
clocks never matter. A slot is taken only when Redis grants it: a request
that is refused learns how long to wait, sleeps, and asks again, so cancelling
it while it waits costs the others nothing.

Needs the extra ``aioparticipant[redis]``. Runs on asyncio (``redis.asyncio``)
and on trio, where the same script goes through redis-py's synchronous client
in a worker thread (``redis.asyncio`` itself only runs on asyncio).
"""

from __future__ import annotations

import functools
import math
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import anyio
import anyio.from_thread
import anyio.to_thread
import sniffio

from ._constants import DEFAULT_BURST_SECONDS
from ._exceptions import AioParticipantError, InvalidParameterError

try:
    import redis
    import redis.asyncio
    import redis.commands.core
    import redis.exceptions
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "aioparticipant.redis needs the redis package: pip install 'aioparticipant[redis]'"
    ) from error

__all__ = ["DEFAULT_SOCKET_TIMEOUT", "RedisLimiterError", "RedisRateLimiter"]

#: Seconds to wait for Redis to connect or answer, for a limiter built from a URL
#: (a ``?socket_timeout=`` or ``?socket_connect_timeout=`` in the URL wins).
#: Without it a Redis that stops answering would hold every request forever.
DEFAULT_SOCKET_TIMEOUT = 5.0

# GCRA. The key holds the limit's "theoretical arrival time" (TAT): the
# instant, in microseconds of the Redis server's clock, at which the bucket
# will be full again. A request may go when TAT - now leaves room for one more
# interval within the burst; granting it moves TAT one interval on. Nothing is
# written when the answer is "wait": a refused caller holds no slot.
#
# KEYS[1]  the limit's key
# ARGV[1]  the interval between requests at the rate, in microseconds
# ARGV[2]  the burst
# Returns  0 when the request may go (and it is counted), else the microseconds
#          to wait before asking again (and nothing is counted).
_GCRA_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
elseif tat > now + capacity then
  -- Only if the server's clock stepped back (or a key is shared with a slower
  -- limit): never make anyone wait longer than one full burst takes to refill.
  tat = now + capacity
end
local wait = tat + interval - capacity - now
if wait > 0 then
  return math.ceil(wait)
end
tat = tat + interval
-- The key expires when the bucket is full again, so an idle limit leaves nothing behind.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return 0
"""


class RedisLimiterError(AioParticipantError):
    """The Redis rate limiter could not get an answer from Redis; nothing was sent.

    Raised from ``acquire()`` (and so from the client call that was waiting for
    it) when Redis cannot be reached, refuses the credentials, times out, or
    rejects the script (a ``WRONGTYPE`` key, for one). The redis-py exception
    is its ``__cause__``. It is not an ``APIConnectionError`` and is not
    retried by the client: the API was never contacted, and redis-py has
    already retried what it considers transient.
    """

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class RedisRateLimiter:
    """A rate limit shared through Redis by every process that uses the same ``key``.

    ``rate`` is requests per second across all of them, ``burst`` how many may
    go back to back after a quiet spell (default: a tenth of a second's worth, as for
    ``AsyncClient(rate_limit=...)``). Give every user of a key the same
    ``rate`` and ``burst``; to keep separate limits, use separate keys (for
    instance one per SignalWire project). The key is used as given and expires
    by itself whenever the limit is idle.

    ``url`` is a redis-py URL: ``redis://[[user]:password@]host[:port][/db]``,
    ``rediss://`` for TLS, ``unix:///path/to.sock``; query options such as
    ``?socket_timeout=2`` are passed on. For anything a URL cannot say
    (Sentinel, custom TLS contexts, retry policies) build the client yourself
    and use ``RedisRateLimiter.from_client``.

    Pass it to ``AsyncClient(limiter=...)``: every attempt, retries included,
    waits for a slot. ``async with`` (or ``await aclose()``) closes the
    connection pool the limiter created; the ``AsyncClient`` does not close it.
    Use one limiter per event loop; it cannot be pickled (create one in each
    worker process from the URL and key).

    Within a process, waiters are served in arrival order. Across processes
    the limit is exact but not a queue: the next free slot goes to whichever
    process asks first after it frees up.

    If Redis cannot be reached, ``acquire()`` raises ``RedisLimiterError``.
    """

    key: str
    rate: float
    burst: int

    def __init__(self, url: str, *, key: str, rate: float, burst: int | None = None) -> None:
        self._configure(key, rate, burst)
        if not isinstance(url, str) or not url.strip():
            raise InvalidParameterError(
                "url", "url must be a Redis URL such as 'redis://localhost:6379/0'"
            )
        self._where = _redact_url(url)
        self._secrets = _url_secrets(url)
        options: dict[str, Any] = {
            "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
            "socket_connect_timeout": DEFAULT_SOCKET_TIMEOUT,
        }
        try:
            async_client = redis.asyncio.Redis.from_url(url, **options)
            sync_client = redis.Redis.from_url(url, **options)
        except ValueError as error:
            raise InvalidParameterError(
                "url",
                f"url must be a Redis URL such as 'redis://localhost:6379/0' "
                f"(redis://, rediss:// or unix://), got {self._where!r}: "
                f"{self._scrub(str(error))}",
            ) from None
        self._use(async_client, sync_client, owned=True)

    @classmethod
    def from_client(
        cls,
        client: redis.asyncio.Redis | redis.Redis,
        *,
        key: str,
        rate: float,
        burst: int | None = None,
    ) -> RedisRateLimiter:
        """A limiter over a Redis client you already have; ``aclose()`` leaves it open.

        A ``redis.asyncio.Redis`` works on asyncio only. A synchronous
        ``redis.Redis`` works on asyncio and trio alike: each call goes through
        a worker thread.
        """
        self = cls.__new__(cls)
        self._configure(key, rate, burst)
        if isinstance(client, redis.asyncio.Redis):
            self._use(client, None, owned=False)
        elif isinstance(client, redis.Redis):
            self._use(None, client, owned=False)
        else:
            raise InvalidParameterError(
                "client",
                f"client must be a redis.asyncio.Redis or a redis.Redis, got {type(client).__name__}",
            )
        self._where = _describe_client(client)
        self._secrets = ()
        return self

    def _configure(self, key: str, rate: float, burst: int | None) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(
                "key", f"key must be a non-empty str naming the shared limit, got {key!r}"
            )
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not rate > 0
            or math.isinf(rate)
        ):
            raise InvalidParameterError(
                "rate", f"rate must be a finite number of requests per second > 0, got {rate!r}"
            )
        if burst is None:
            burst = max(1, math.ceil(rate * DEFAULT_BURST_SECONDS))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise InvalidParameterError("burst", f"burst must be an int >= 1, got {burst!r}")
        self.key = key
        self.rate = float(rate)
        self.burst = burst
        # repr() of a float round-trips exactly; the script reads it with tonumber().
        self._script_args = (repr(1_000_000 / self.rate), burst)
        self._queue = anyio.Lock()
        self._closed = False

    def _use(
        self,
        async_client: redis.asyncio.Redis | None,
        sync_client: redis.Redis | None,
        *,
        owned: bool,
    ) -> None:
        self._async_client = async_client
        self._sync_client = sync_client
        self._owns_clients = owned
        # register_script sends EVALSHA, and loads the script on NOSCRIPT (a
        # restarted or failed-over server) before trying once more.
        self._async_script = (
            None if async_client is None else async_client.register_script(_GCRA_SCRIPT)
        )
        self._sync_script = (
            None if sync_client is None else sync_client.register_script(_GCRA_SCRIPT)
        )

    def __repr__(self) -> str:
        where = f"url={self._where!r}" if self._owns_clients else f"client=<{self._where}>"
        return (
            f"RedisRateLimiter({where}, key={self.key!r}, rate={self.rate:g}, burst={self.burst})"
        )

    def __getstate__(self) -> object:
        raise TypeError(
            "RedisRateLimiter cannot be pickled: create one in each process "
            "from the same URL and key, and they will share the limit"
        )

    async def acquire(self) -> None:
        """Return when one more request may go; the slot is taken only then.

        While the limit is reached this sleeps for as long as Redis says and
        asks again. Cancelling it while it sleeps takes nothing from the limit
        (a cancel that lands during the round trip to Redis may find the slot
        already granted: Redis decided before the answer came back). Under
        trio the round trip runs in a worker thread and a cancel takes effect
        when it returns, within the socket timeout. Raises
        ``RedisLimiterError`` when Redis cannot be reached.
        """
        retry_at = -math.inf
        if not self._queue.locked():
            # Fast path: nobody in this process is waiting, ask at once (concurrently).
            wait = await self._take()
            if wait == 0:
                return
            retry_at = anyio.current_time() + wait
        # Past the limit, one waiter per process asks Redis at a time, in arrival order.
        async with self._queue:
            while True:
                delay = retry_at - anyio.current_time()
                if delay > 0:
                    await anyio.sleep(delay)
                wait = await self._take()
                if wait == 0:
                    return
                retry_at = anyio.current_time() + wait

    async def _take(self) -> float:
        """Take a slot if one is free: ``0`` when taken, else the seconds to wait (nothing taken)."""
        if self._closed:
            raise RuntimeError("this RedisRateLimiter is closed; create a new one")
        keys = [self.key]
        try:
            if self._async_script is not None and _on_asyncio():
                answer = await self._async_script(keys=keys, args=self._script_args)
            elif self._sync_script is not None:
                call = functools.partial(
                    _run_unless_cancelled, self._sync_script, keys, self._script_args
                )
                answer = await anyio.to_thread.run_sync(call)
            else:
                raise RuntimeError(
                    "RedisRateLimiter.from_client() was given a redis.asyncio client, which "
                    f"only runs on asyncio, not on {sniffio.current_async_library()}: pass a "
                    "synchronous redis.Redis client instead, or build the limiter from a URL"
                )
        except redis.exceptions.RedisError as error:
            raise RedisLimiterError(
                f"the Redis rate limiter for key {self.key!r} at {self._where} got no answer "
                f"from Redis, so the request waiting for it was not sent: "
                f"{type(error).__name__}: {self._scrub(str(error))}",
                key=self.key,
            ) from error
        return int(answer) / 1_000_000

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the Redis connections this limiter opened (not a client you passed in)."""
        if self._closed:
            return
        self._closed = True
        if not self._owns_clients:
            return
        # The asyncio client only ever connected under asyncio; under trio it
        # holds nothing, and closing it would need an asyncio loop.
        if self._async_client is not None and _on_asyncio():
            await self._async_client.aclose()
        if self._sync_client is not None:
            self._sync_client.close()

    async def __aenter__(self) -> RedisRateLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _describe_client(client: redis.asyncio.Redis | redis.Redis) -> str:
    """``redis.Redis at localhost:6379/0``: the class and where it points, never a password."""
    kind = "redis.asyncio.Redis" if isinstance(client, redis.asyncio.Redis) else "redis.Redis"
    try:
        options = client.connection_pool.connection_kwargs
    except AttributeError:  # pragma: no cover - a pool of another kind
        return kind
    if options.get("path"):
        return f"{kind} at {options['path']}"
    host, port, db = (
        options.get("host", "localhost"),
        options.get("port", 6379),
        options.get("db", 0),
    )
    return f"{kind} at {host}:{port}/{db}"


def _run_unless_cancelled(
    script: redis.commands.core.Script, keys: list[str], args: tuple[str, int]
) -> Any:
    # On a busy machine the thread may start late; a waiter cancelled by then
    # must not go on to take a slot it no longer wants.
    anyio.from_thread.check_cancelled()
    return script(keys=keys, args=args)


def _on_asyncio() -> bool:
    return sniffio.current_async_library() == "asyncio"


_SECRET_QUERY_WORDS = ("pass", "secret", "token", "auth")


def _redact_url(url: str) -> str:
    """``url`` with its password (in the user info or the query) replaced by ``***``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<a Redis URL that could not be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        user_info, _, host = netloc.rpartition("@")
        user, colon, _ = user_info.partition(":")
        # Without a colon the lone part is a user name by the URL rules, but
        # people do write a password there: hide it as well.
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(name, "***" if _is_secret_option(name) else value) for name, value in pairs],
            safe="*/",
        )
    # Every Redis scheme has the "//" (unix:///path too), which urlunsplit would drop.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _url_secrets(url: str) -> tuple[str, ...]:
    """Every password-like string in ``url``, raw and decoded, to keep out of error messages."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ()
    secrets: set[str] = set()
    if parts.password:
        secrets.add(parts.password)
    if "@" in parts.netloc:
        user_info = parts.netloc.rpartition("@")[0]
        secrets.add(user_info.partition(":")[2] or user_info)
    for name, value in parse_qsl(parts.query):
        if _is_secret_option(name):
            secrets.add(value)
    secrets |= {unquote(secret) for secret in secrets}
    # Longest first, so a secret is never half replaced by a shorter one inside it.
    return tuple(sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True))


def _is_secret_option(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)
