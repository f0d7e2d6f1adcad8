"""RedisRateLimiter on a real three-node Redis Cluster (started here, stopped by PID).

The limit, the lanes and the shared pause through ``redis.asyncio.RedisCluster``
(asyncio) and ``redis.RedisCluster`` (asyncio and trio).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis
import redis.asyncio
from redis.cluster import ClusterNode

from aioparticipant.redis import RedisRateLimiter
from aioparticipant.redis._scripts import limit_keys

from .redis_servers import RedisServer, redis_cluster

Cluster = redis.asyncio.RedisCluster | redis.RedisCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as servers:
        yield servers


# redis.asyncio runs on asyncio only; the synchronous client on both backends.
pytestmark = pytest.mark.parametrize(
    ("anyio_backend", "kind"), [("asyncio", "async"), ("asyncio", "sync"), ("trio", "sync")]
)


@pytest.fixture
async def client(kind: str, cluster: list[RedisServer]) -> AsyncIterator[Cluster]:
    """A cluster client of the kind the test is parametrized with."""
    nodes = [ClusterNode("127.0.0.1", server.port) for server in cluster]
    if kind == "async":
        async_client = redis.asyncio.RedisCluster(startup_nodes=nodes)
        yield async_client
        await async_client.aclose()
    else:
        sync_client = redis.RedisCluster(startup_nodes=nodes)
        yield sync_client
        sync_client.close()


@pytest.fixture
def key() -> str:
    return f"aioparticipant-test:{uuid.uuid4().hex}"


@pytest.mark.anyio
async def test_the_limit_holds_on_a_cluster(client: Cluster, key: str) -> None:
    limiter = RedisRateLimiter.from_client(client, key=key, rate=20, burst=2)
    started = anyio.current_time()
    for _ in range(6):
        await limiter.acquire()
    elapsed = anyio.current_time() - started
    await limiter.aclose()
    assert elapsed >= 4 / 20 - 0.01
    assert elapsed < 2
    assert "RedisCluster at 127.0.0.1:" in repr(limiter)


@pytest.mark.anyio
async def test_two_limiters_on_a_cluster_share_one_limit(client: Cluster, key: str) -> None:
    first = RedisRateLimiter.from_client(client, key=key, rate=20, burst=2)
    second = RedisRateLimiter.from_client(client, key=key, rate=20, burst=2)

    async def take(limiter: RedisRateLimiter) -> None:
        for _ in range(4):
            await limiter.acquire(priority="bulk")

    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(take, first)
        tg.start_soon(take, second)
    elapsed = anyio.current_time() - started
    # 8 bulk grants, 1 of them free (the reserve keeps the other): at least 7 intervals.
    assert elapsed >= 7 / 20 - 0.01
    assert elapsed < 3


@pytest.mark.anyio
async def test_the_reserve_and_the_pause_work_on_a_cluster(client: Cluster, key: str) -> None:
    limiter = RedisRateLimiter.from_client(client, key=key, rate=2, burst=2, reserve=1)
    other = RedisRateLimiter.from_client(client, key=key, rate=2, burst=2, reserve=1)
    await limiter.acquire(priority="bulk")
    with anyio.move_on_after(0.2) as scope:
        await limiter.acquire(priority="bulk")  # only the reserve is left
    assert scope.cancelled_caught
    started = anyio.current_time()
    await other.acquire()  # interactive takes the reserve at once
    assert anyio.current_time() - started < 0.2
    await limiter.pause_for(0.6)  # longer than the next interval (0.5 s)
    await other.acquire()
    assert anyio.current_time() - started >= 0.6 - 0.02


@pytest.mark.anyio
async def test_limits_on_many_keys_land_on_every_node(
    client: Cluster, cluster: list[RedisServer]
) -> None:
    # Enough keys that every node owns some; each limit's two keys share one slot.
    keys = [f"aioparticipant-test:{uuid.uuid4().hex}" for _ in range(12)]
    for key in keys:
        limiter = RedisRateLimiter.from_client(client, key=key, rate=1, burst=2)
        await limiter.acquire()  # the state lives ~1 s
        await limiter.pause_for(30)  # the pause key lives 30 s
    owners: dict[str, int] = {}
    for server in cluster:
        node = redis.Redis(host="127.0.0.1", port=server.port)
        try:
            for key in keys:
                state, pause = limit_keys(key)
                slot = node.cluster("keyslot", state)
                assert node.cluster("keyslot", pause) == slot
                if node.cluster("countkeysinslot", slot):
                    owners[key] = server.port
                    node.delete(pause)  # done with it: the key's own node may delete it
        finally:
            node.close()
    assert len(owners) == len(keys)  # every limit's keys were found on a node
    assert len(set(owners.values())) >= 2


@pytest.mark.anyio
async def test_the_scripts_are_loaded_again_after_the_cluster_forgets_them(
    client: Cluster, cluster: list[RedisServer], key: str
) -> None:
    limiter = RedisRateLimiter.from_client(client, key=key, rate=100, burst=2)
    await limiter.acquire()
    for server in cluster:  # what a failover to a fresh replica does
        node = redis.Redis(host="127.0.0.1", port=server.port)
        node.script_flush()
        node.close()
    await limiter.acquire()  # NOSCRIPT, then SCRIPT LOAD and EVALSHA again
    await limiter.pause_for(0.01)
