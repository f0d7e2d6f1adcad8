"""The Redis clients a limiter talks through, reached from whichever event loop runs.

A ``redis.asyncio`` client (plain or cluster) runs on asyncio only. A
synchronous ``redis.Redis`` or ``redis.RedisCluster`` runs anywhere: each
call goes through a worker thread. A limiter built from a URL has one of
each and uses the asyncio one on asyncio, the synchronous one on trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import redis
import redis.asyncio
import redis.commands.core
import redis.exceptions
import sniffio

from .._exceptions import AioParticipantError, InvalidParameterError
from .._redact import scrub
from ._scripts import ACQUIRE_SCRIPT, COUNT_SCRIPT, FLEET_SCRIPT, PAUSE_SCRIPT, REFUSE_SCRIPT

__all__ = [
    "DEFAULT_SOCKET_TIMEOUT",
    "REDIS_ERRORS",
    "AsyncClient",
    "Connection",
    "RedisLimiterError",
    "SyncClient",
    "describe_client",
    "is_unreachable",
]

#: The scripts every connection registers, in the order ``_run`` numbers them.
_SCRIPTS = (ACQUIRE_SCRIPT, PAUSE_SCRIPT, FLEET_SCRIPT, COUNT_SCRIPT, REFUSE_SCRIPT)

DEFAULT_SOCKET_TIMEOUT = 5.0
"""Seconds to wait for Redis to connect or answer, for a limiter built from a URL (a
``?socket_timeout=`` or ``?socket_connect_timeout=`` in the URL wins). Without it a
Redis that stops answering would hold every request forever."""


class RedisLimiterError(AioParticipantError):
    """The Redis rate limiter could not get an answer from Redis; nothing was sent.

    Raised from ``acquire()`` (and so from the client call that was waiting for
    it) when Redis cannot be reached, refuses the credentials, times out, or
    rejects the script (a ``WRONGTYPE`` key, for one). The redis-py exception
    is its ``__cause__``. It is not an ``APIConnectionError`` and is not
    retried by the client: the API was never contacted, and redis-py has
    already retried what it considers transient. With ``fallback_rate`` set,
    only refused credentials and rejected scripts raise it: an unreachable
    Redis is paced around locally.
    """

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


AsyncClient = redis.asyncio.Redis | redis.asyncio.RedisCluster
SyncClient = redis.Redis | redis.RedisCluster

#: Everything redis-py raises when a command gets no good answer.
REDIS_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)

# "Redis cannot be reached right now": worth pacing locally and asking again
# later. Refused credentials, a key of another type or a missing permission
# are mistakes to fix, not outages, and stay errors.
_UNREACHABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,  # and MasterDownError
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,  # a failover in progress
    redis.exceptions.SlotNotCoveredError,
)
_MISTAKES = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means Redis cannot answer now (not that it refused us)."""
    return isinstance(error, _UNREACHABLE) and not isinstance(error, _MISTAKES)


class Connection:
    """Runs the limiter's scripts through the client that suits the running event loop."""

    @classmethod
    def from_url(cls, url: str, *, shown: str, secrets: tuple[str, ...]) -> Connection:
        """Both clients for ``url`` (``shown`` and ``secrets`` keep its password out of errors)."""
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
                f"(redis://, rediss:// or unix://), got {shown!r}: {scrub(str(error), secrets)}",
            ) from None
        return cls(async_client, sync_client, owned=True)

    @classmethod
    def from_client(cls, client: object) -> Connection:
        """A connection through ``client``, which the limiter will not close."""
        if isinstance(client, (redis.asyncio.Redis, redis.asyncio.RedisCluster)):
            return cls(client, None, owned=False)
        if isinstance(client, (redis.Redis, redis.RedisCluster)):
            return cls(None, client, owned=False)
        raise InvalidParameterError(
            "client",
            "client must be a redis.asyncio.Redis, redis.asyncio.RedisCluster, "
            f"redis.Redis or redis.RedisCluster, got {type(client).__name__}",
        )

    def __init__(
        self, async_client: AsyncClient | None, sync_client: SyncClient | None, *, owned: bool
    ) -> None:
        self.async_client = async_client
        self.sync_client = sync_client
        self.owned = owned
        # register_script sends EVALSHA, and loads the script on NOSCRIPT (a
        # restarted or failed-over server) before trying once more.
        self._async_scripts = (
            None if async_client is None else tuple(map(async_client.register_script, _SCRIPTS))
        )
        self._sync_scripts = (
            None if sync_client is None else tuple(map(sync_client.register_script, _SCRIPTS))
        )
        # Every script is loaded with the first call: the first 429's pause,
        # which the other processes wait to hear of, costs no extra round trip.
        self._async_loaded = self._sync_loaded = False
        self._probing = False
        self.probe_answered = False
        self._probe_task: asyncio.Task[None] | None = None

    async def acquire(self, keys: list[str], args: list[str | int]) -> Any:
        """Run the acquire script; its raw reply."""
        return await self._run(0, keys, args)

    async def pause(self, keys: list[str], args: list[str | int]) -> Any:
        """Run the pause script; its raw reply."""
        return await self._run(1, keys, args)

    async def fleet(self, keys: list[str], args: list[str | int]) -> Any:
        """Run the script that shares what ``rate="auto"`` learned; its raw reply."""
        return await self._run(2, keys, args)

    async def count(self, keys: list[str], args: list[str | int]) -> Any:
        """Run the script that counts the fleet's recent grants; its raw reply."""
        return await self._run(3, keys, args)

    async def refuse(self, keys: list[str], args: list[str | int]) -> Any:
        """Run the script that logs requests the server refused; its raw reply."""
        return await self._run(4, keys, args)

    async def _run(self, which: int, keys: list[str], args: list[str | int]) -> Any:
        if self._async_scripts is not None and _on_asyncio():
            if not self._async_loaded:
                await self._load_async()
            return await self._async_scripts[which](keys=keys, args=args)
        if self._sync_scripts is not None:
            call = functools.partial(_run_unless_cancelled, self._sync_scripts[which], keys, args)
            if not self._sync_loaded:
                call = functools.partial(self._load_sync_then, call)
            return await anyio.to_thread.run_sync(call)
        raise RuntimeError(
            "RedisRateLimiter.from_client() was given a redis.asyncio client, which "
            f"only runs on asyncio, not on {sniffio.current_async_library()}: pass a "
            "synchronous redis.Redis (or redis.RedisCluster) client instead, or build "
            "the limiter from a URL"
        )

    async def _load_async(self) -> None:
        assert self.async_client is not None
        self._async_loaded = True  # the others meanwhile load on NOSCRIPT, as after a restart
        try:
            for script in _SCRIPTS:
                await self.async_client.script_load(script)
        except BaseException:
            self._async_loaded = False
            raise

    def _load_sync_then(self, call: Callable[[], Any]) -> Any:
        assert self.sync_client is not None
        if not self._sync_loaded:
            for script in _SCRIPTS:
                self.sync_client.script_load(script)
            self._sync_loaded = True
        return call()

    def start_probe(self) -> None:
        """Ask Redis for a PING in the background; ``probe_answered`` turns true if it answers.

        The caller does not wait: while Redis is down, a probe may take a
        whole socket timeout, and no request should pay for it. One probe at
        a time.
        """
        if self._probing:
            return
        self._probing = True
        if self.sync_client is not None:
            thread = threading.Thread(
                target=self._probe_sync, name="aioparticipant-redis-probe", daemon=True
            )
            thread.start()
        elif self.async_client is not None and _on_asyncio():
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_async())
        else:
            self._probing = False

    def _probe_sync(self) -> None:
        assert self.sync_client is not None
        with self._probe():
            self.sync_client.ping()

    async def _probe_async(self) -> None:
        assert self.async_client is not None
        with self._probe():
            await self.async_client.ping()

    @contextlib.contextmanager
    def _probe(self) -> Iterator[None]:
        """Around one PING: answered means Redis is back; either way the probe is over."""
        try:
            yield
            self.probe_answered = True
        except Exception:  # noqa: S110 - still unreachable: the next probe will tell
            pass
        finally:
            self._probing = False

    async def aclose(self) -> None:
        """Stop a probe in flight; close the clients if the limiter made them."""
        if self._probe_task is not None:
            self._probe_task.cancel()
            self._probe_task = None
        if not self.owned:
            return
        # The asyncio client only ever connected under asyncio; under trio it
        # holds nothing, and closing it would need an asyncio loop.
        if self.async_client is not None and _on_asyncio():
            await self.async_client.aclose()
        if self.sync_client is not None:
            self.sync_client.close()


def describe_client(client: AsyncClient | SyncClient) -> str:
    """``redis.Redis at localhost:6379/0``: the class and where it points, never a password."""
    kind = _kind(client)
    if isinstance(client, (redis.asyncio.RedisCluster, redis.RedisCluster)):
        try:
            nodes = list(client.nodes_manager.startup_nodes)
        except AttributeError:  # pragma: no cover - another redis-py layout
            return kind
        return f"{kind} at {nodes[0]}" if nodes else kind
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


def _kind(client: AsyncClient | SyncClient) -> str:
    if isinstance(client, redis.asyncio.RedisCluster):
        return "redis.asyncio.RedisCluster"
    if isinstance(client, redis.RedisCluster):
        return "redis.RedisCluster"
    if isinstance(client, redis.asyncio.Redis):
        return "redis.asyncio.Redis"
    return "redis.Redis"


def _run_unless_cancelled(
    script: redis.commands.core.Script, keys: list[str], args: list[str | int]
) -> Any:
    # On a busy machine the thread may start late; a waiter cancelled by then
    # must not go on to take a slot it no longer wants.
    anyio.from_thread.check_cancelled()
    return script(keys=keys, args=args)


def _on_asyncio() -> bool:
    return sniffio.current_async_library() == "asyncio"
