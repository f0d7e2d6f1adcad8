"""``RedisRateLimiter``: one limit, two lanes and one pause, shared through Redis."""

from __future__ import annotations

import contextlib
import math
import random
from typing import Literal

import anyio
import anyio.abc
import redis
import redis.asyncio

from .._exceptions import InvalidParameterError
from .._lanes import BULK, INTERACTIVE, Priority, check_priority
from .._limiter import check_reserve, default_burst, default_reserve
from .._redact import redact_url, scrub, url_secrets
from .._validate import check_int, check_positive_number, check_seconds
from ._auto import fleet_for
from ._connection import (
    REDIS_ERRORS,
    Connection,
    RedisLimiterError,
    describe_client,
    is_unreachable,
)
from ._fallback import Fallback, logger
from ._lanes import MAX_SPREAD, Lanes, LocalPause, bulk_keep
from ._scripts import Answer, limit_keys, read_answer

__all__ = ["RedisRateLimiter"]


class RedisRateLimiter(anyio.abc.AsyncResource):
    """A rate limit shared through Redis by every process that uses the same ``key``.

    ``rate`` is requests per second across all of them, ``burst`` how many may
    go back to back after a quiet spell (default: a tenth of a second's worth,
    as for ``AsyncClient(rate_limit=...)``), and ``reserve`` how many of those
    only interactive requests may take (default: half the burst, rounded
    down), so a person's click finds a token at once while bulk jobs run in
    any process. Give every user of a key the same ``rate``, ``burst`` and
    ``reserve``; use one key per limit (for instance one per SignalWire
    project). Its Redis keys expire by themselves whenever the limit is idle.

    ``url`` is a redis-py URL: ``redis://[[user]:password@]host[:port][/db]``,
    ``rediss://`` for TLS, ``unix:///path/to.sock``; query options such as
    ``?socket_timeout=2`` are passed on. For anything a URL cannot say (a
    Redis Cluster, Sentinel, custom TLS contexts, retry policies) build the
    client yourself and use ``RedisRateLimiter.from_client``.

    Pass it to ``AsyncClient(limiter=...)``: every attempt, retries included,
    waits for a slot in its lane, and a 429 with ``Retry-After`` pauses every
    process on the key (``pause_for``). ``async with`` (or ``await aclose()``)
    closes the connection pool the limiter created. Use one limiter per event
    loop; it cannot be pickled (create one in each worker process).

    ``rate="auto"``: the processes learn the limit from the server's 429s
    together (``limit``) and the key paces them just under it (``rate``).

    If Redis cannot be reached, ``acquire()`` raises ``RedisLimiterError``.
    With ``fallback_rate=F`` (requests per second: this process's fair share
    of ``rate``) it paces this process at F instead, logs one WARNING, and
    goes back to the shared limit, with another WARNING, once Redis answers.
    """

    key: str
    burst: int
    reserve: int
    fallback_rate: float | None

    def __init__(
        self,
        url: str,
        *,
        key: str,
        rate: float | Literal["auto"],
        burst: int | None = None,
        reserve: int | None = None,
        fallback_rate: float | None = None,
    ) -> None:
        self._configure(key, rate, burst, reserve)
        if not isinstance(url, str) or not url.strip():
            raise InvalidParameterError(
                "url", "url must be a Redis URL such as 'redis://localhost:6379/0'"
            )
        self._where = redact_url(url)
        self._secrets = url_secrets(url)
        self._connection = Connection.from_url(url, shown=self._where, secrets=self._secrets)
        self._use_fallback(fallback_rate)

    @classmethod
    def from_client(
        cls,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster | redis.Redis | redis.RedisCluster,
        *,
        key: str,
        rate: float | Literal["auto"],
        burst: int | None = None,
        reserve: int | None = None,
        fallback_rate: float | None = None,
    ) -> RedisRateLimiter:
        """A limiter over a Redis client you already have; ``aclose()`` leaves it open.

        ``redis.asyncio.Redis`` and ``redis.asyncio.RedisCluster`` work on
        asyncio only. The synchronous ``redis.Redis`` and ``redis.RedisCluster``
        work on asyncio and trio alike: each call goes through a worker thread.
        """
        self = cls.__new__(cls)
        self._configure(key, rate, burst, reserve)
        self._connection = Connection.from_client(client)
        self._where = describe_client(client)
        self._secrets = ()
        self._use_fallback(fallback_rate)
        return self

    def _configure(
        self, key: str, rate: float | str, burst: int | None, reserve: int | None
    ) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidParameterError(
                "key", f"key must be a non-empty str naming the shared limit, got {key!r}"
            )
        self.key = key
        self._keys = list(limit_keys(key))
        self._fleet = fleet_for(rate, burst, reserve, self._keys[0])
        if self._fleet is not None:
            rate = self._fleet.rate
        self.rate = check_positive_number("rate", rate, what="a number of requests per second")
        self.burst = (
            default_burst(self.rate) if burst is None else check_int("burst", burst, minimum=1)
        )
        self.reserve = (
            default_reserve(self.burst) if reserve is None else check_reserve(reserve, self.burst)
        )
        if self._fleet is not None:  # the acquire script logs grants and reads the learned limit
            self._keys += [self._fleet.log_key, self._fleet.learned_key, self._fleet.window_key]
        self._lanes = Lanes()
        self._pause = LocalPause()
        self._closed = False
        self._pause_warned = False

    def _use_fallback(self, fallback_rate: float | None) -> None:
        self.fallback_rate = None
        self._fallback: Fallback | None = None
        if fallback_rate is not None:
            self.fallback_rate = check_positive_number(
                "fallback_rate", fallback_rate, what="a number of requests per second"
            )
            self._fallback = Fallback(self.fallback_rate, self._connection)

    @property
    def rate(self) -> float:
        """Requests per second across every process on the key (``rate="auto"``: as learned)."""
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        self._rate = check_positive_number("rate", rate, what="a number of requests per second")
        # repr() of a float round-trips exactly; the script reads it with tonumber().
        self._interval = repr(1_000_000 / self._rate)

    @property
    def limit(self) -> float | None:
        """With ``rate="auto"``, the server's limit as the fleet learned it (``None`` until then)."""
        return self._rate if self._fleet is None else self._fleet.limit

    def __repr__(self) -> str:
        owned = self._connection.owned
        where = f"url={self._where!r}" if owned else f"client=<{self._where}>"
        fallback = "" if self.fallback_rate is None else f", fallback_rate={self.fallback_rate:g}"
        return (
            f"RedisRateLimiter({where}, key={self.key!r}, rate={self.rate:g}, "
            f"burst={self.burst}, reserve={self.reserve}{fallback})"
        )

    def __getstate__(self) -> object:
        raise TypeError(
            "RedisRateLimiter cannot be pickled: create one in each process "
            "from the same URL and key, and they will share the limit"
        )

    async def acquire(self, *, priority: Priority = "interactive") -> None:
        """Return when one more request may go in lane ``priority``; the slot is taken only then.

        While the limit is reached (or a shared pause holds) this sleeps for
        as long as Redis says and asks again. Cancelling it while it sleeps
        takes nothing from the limit (a cancel that lands during the round
        trip to Redis may find the slot already granted). Under trio the
        round trip runs in a worker thread and a cancel takes effect when it
        returns, within the socket timeout. Raises ``RedisLimiterError`` when
        Redis cannot be reached and there is no ``fallback_rate``.
        """
        lane = check_priority(priority)
        if self._closed:
            raise RuntimeError("this RedisRateLimiter is closed; create a new one")
        if self._fleet is not None:  # rate="auto": a 429 without Retry-After holds us first
            await self._fleet.before_grant()
        await self._acquire(lane)
        if self._fleet is not None:
            self._fleet.let_go()

    async def _keep_up(self) -> None:
        """rate="auto": recount, publish or look at the fleet's limit as due (each ask takes its pace)."""
        assert self._fleet is not None
        with contextlib.suppress(*REDIS_ERRORS):  # an acquire reports a dead Redis
            await self._fleet.keep_up(self._connection)

    def _take_pace(self) -> None:
        """rate="auto": ask Redis at the fleet's pace as this process now knows it."""
        assert self._fleet is not None
        if self._fleet.rate != self._rate:
            self.rate, self.burst = self._fleet.rate, self._fleet.burst
            self.reserve = default_reserve(self.burst)

    async def _acquire(self, lane: Priority) -> None:
        if lane == INTERACTIVE:
            self._lanes.interactive_arrived()
        # Should a shared pause hold this caller: when it came, and (for bulk) its
        # own moment within the spread after the pause ends.
        arrived, stagger = anyio.current_time(), random.random()
        try:
            while True:
                await self._pause.wait(lane, arrived, stagger)
                if self._fleet is not None:  # learn, share, keep the learned pace (after any pause)
                    await self._keep_up()
                if self._fallback is not None and self._fallback.in_use():
                    await self._fallback.bucket.acquire(priority=lane)
                    return
                if await self._acquire_from_redis(lane, arrived, stagger):
                    return
        finally:
            if lane == INTERACTIVE:
                self._lanes.interactive_left()

    def observe(self, status: int, latency: float, retry_after: float | None) -> None:
        """With ``rate="auto"``: an HTTP answer (the client calls this), to learn from."""
        if self._fleet is not None:
            guessed = self._fleet.pacer.latency is None  # the pace so far guessed the latency
            self._fleet.answered(anyio.current_time(), status, latency, retry_after)
            if guessed and self._fleet.rate > self._rate:
                self._lanes.wake()  # waiters asleep at the guessed pace ask at the known one

    async def _acquire_from_redis(self, lane: Priority, arrived: float, stagger: float) -> bool:
        """Take a slot in ``lane``: ``True`` once taken, ``False`` to wait a pause or fall back."""

        async def ask() -> float | None:
            answer = await self._ask(lane)
            return None if answer is None or answer.paused else answer.wait

        def held() -> bool:  # a pause holds this waiter, or Redis is gone: leave the queue
            paused = self._pause.release_at(lane, arrived, stagger) > anyio.current_time()
            return paused or bool(self._fallback and self._fallback.active)

        return await self._lanes.take(lane, ask, held)

    async def _ask(self, lane: Priority) -> Answer | None:
        """Ask Redis for a slot in ``lane``; ``None`` if Redis is unreachable and we fall back."""
        if self._closed:
            raise RuntimeError("this RedisRateLimiter is closed; create a new one")
        if self._fleet is not None:
            self._take_pace()  # every ask, a waiter's asking again too, at the pace as it is now
        keep = bulk_keep(self.reserve, self._rate) if lane == BULK else 0
        arguments: list[str | int] = [self._interval, self.burst, keep]
        if self._fleet is not None:
            arguments += self._fleet.gate()
        asked = anyio.current_time()
        try:
            reply = await self._connection.acquire(self._keys, arguments)
        except REDIS_ERRORS as error:
            if self._fallback is not None and is_unreachable(error):
                self._fallback.enter(self._describe_failure(error), self._where)
                return None
            raise RedisLimiterError(
                f"{self._describe_failure(error)}, so the request waiting for it was not sent",
                key=self.key,
            ) from error
        self._pause_warned = False
        answer = read_answer(reply)
        if self._fleet is not None and answer.wait == 0:
            now = anyio.current_time()
            self._fleet.granting(now, answer.granted_at, answer.member, asked, answer.fleet_granted)
        if answer.paused:
            self._pause.extend(answer.wait, answer.spread)
            if self._fleet is not None:  # another process's 429: its quiet starts at the end too
                self._fleet.pacer.hold(anyio.current_time(), answer.wait)
        return answer

    async def pause_for(self, seconds: float) -> None:
        """Hold every process's new attempts on this key for ``seconds`` (the later end wins).

        The client calls it on a 429 with ``Retry-After``. When the pause
        ends, interactive waiters go at once and bulk waiters leave at random
        over up to a second. If Redis cannot be reached this does not raise
        (the caller is handling a 429 already): it pauses this process only
        and logs one WARNING, or pauses the fallback bucket while falling back.
        """
        seconds = check_seconds("seconds", seconds)
        if seconds == 0 or self._closed:
            return
        if self._fleet is not None:
            self._fleet.pacer.hold(anyio.current_time(), seconds)
        # rate="auto": the fleet's pace spaces what the pause held; no stagger.
        spread = 0.0 if self._fleet is not None else min(seconds, MAX_SPREAD)
        self._pause.extend(seconds, spread)
        if self._fallback is not None and self._fallback.in_use():
            await self._fallback.bucket.pause_for(seconds)
            return
        args: list[str | int] = [math.ceil(seconds * 1_000_000), math.ceil(spread * 1_000_000)]
        keys = self._keys[1:2]
        if self._fleet is not None:  # the fleet's bucket empty when the pause ends
            self._take_pace()
            keys, args = self._keys[1::-1], [*args, math.ceil(float(self._interval) * self.burst)]
        try:
            reply = await self._connection.pause(keys, args)
        except REDIS_ERRORS as error:
            if self._fallback is not None and is_unreachable(error):
                self._fallback.enter(self._describe_failure(error), self._where)
                await self._fallback.bucket.pause_for(seconds)
            elif not self._pause_warned:
                self._pause_warned = True
                logger.warning("%s; only this process pauses", self._describe_failure(error))
            return
        remaining, spread_us = reply
        self._pause.extend(int(remaining) / 1_000_000, int(spread_us) / 1_000_000)
        if self._fleet is not None:
            # Log the refusal. If the 429 taught something, count the fleet once the
            # 429s sent before it are in, and publish the limit before the pause ends.
            # (Due already, if logging the refusal took longer than the settling: a busy
            # machine. Then now, not at this process's next acquire, after the pause.)
            await self._keep_up()
            if (wait := self._fleet.settle_wait(anyio.current_time())) is not None:
                await anyio.sleep(wait)
                await self._keep_up()
            self._take_pace()  # limiter.rate tells the pace learned; each ask takes it too

    def _describe_failure(self, error: BaseException) -> str:
        return (
            f"the Redis rate limiter for key {self.key!r} at {self._where} got no answer "
            f"from Redis ({type(error).__name__}: {scrub(str(error), self._secrets)})"
        )

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the Redis connections this limiter opened (not a client you passed in)."""
        if self._closed:
            return
        self._closed = True
        await self._connection.aclose()
