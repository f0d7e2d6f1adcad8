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

Two lanes share the limit: ``reserve`` tokens of the burst are kept for
interactive requests, so a person's click goes at once in any process while
bulk jobs use the rest. A 429 with ``Retry-After`` pauses every process on the
key (``pause_for``). With ``rate="auto"`` the processes learn the limit from
the server's 429s and share it. All keys of one limit share one hash tag, so
the scripts run on a single Redis, a Redis Cluster or Valkey.

Needs the extra ``aioparticipant[redis]``. Runs on asyncio (``redis.asyncio``)
and on trio, where the same script goes through redis-py's synchronous client
in a worker thread (``redis.asyncio`` itself only runs on asyncio).
"""

from __future__ import annotations

try:
    import redis  # noqa: F401 - only to say what to install when it is missing
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "aioparticipant.redis needs the redis package: pip install 'aioparticipant[redis]'"
    ) from error

from ._connection import DEFAULT_SOCKET_TIMEOUT, RedisLimiterError
from ._limiter import RedisRateLimiter

__all__ = ["DEFAULT_SOCKET_TIMEOUT", "RedisLimiterError", "RedisRateLimiter"]
