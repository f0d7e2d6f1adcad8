"""What the blocking Client costs over AsyncClient: one call at a time, many threads, bulk.

    python bench/sync_client.py [--n 2000] [--threads 8] [--bulk 5000]

Against bench/stub_server.py on 127.0.0.1 (started and stopped by PID), in this
one process, it prints per-update wall time and this process's CPU for:

* one update at a time: ``AsyncClient`` awaited in a loop, ``Client`` called in a
  loop (each call crosses into the client's loop thread and back), and a plain
  ``httpx.Client`` with the same request, for scale;
* ``--threads`` threads sharing one ``Client`` (a Django process), n updates in all;
* ``client.bulk`` over ``--bulk`` updates at concurrency 32, async and blocking
  (the blocking run reads its input in the caller's thread, two loop calls per update).

Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import run  # bench/run.py: the stub server's process wrapper
from clients import ACCOUNT_SID, AUTHORIZATION, CONFERENCE_SID, LAML, TOKEN, call_sid

from aioparticipant import AsyncClient, Client, ParticipantUpdate


def timed(label: str, n: int, work: Callable[[], object]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<46} {wall / n * 1e6:9.0f} µs/update wall {cpu / n * 1e6:9.0f} µs/update CPU")


def updates(n: int) -> Iterator[ParticipantUpdate]:
    return (ParticipantUpdate(CONFERENCE_SID, call_sid(i), muted=True) for i in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--bulk", type=int, default=5000)
    args = parser.parse_args()
    with run.Server([str(run.HERE / "stub_server.py"), "--lifetime", "600"], name="stub") as stub:
        base_url = f"http://127.0.0.1:{stub.port}{LAML}"
        n = args.n

        async def sequential_async() -> None:
            async with AsyncClient(ACCOUNT_SID, TOKEN, base_url=base_url) as client:
                for i in range(n):
                    await client.conferences(CONFERENCE_SID).participants(call_sid(i)).mute()

        async def bulk_async() -> None:
            async with (
                AsyncClient(ACCOUNT_SID, TOKEN, base_url=base_url) as client,
                client.bulk(updates(args.bulk), concurrency=32) as results,
            ):
                async for _ in results:
                    pass

        def plain_httpx() -> None:
            with httpx.Client(headers={"Authorization": AUTHORIZATION}) as client:
                for i in range(n):
                    url = f"{base_url}/Accounts/{ACCOUNT_SID}/Conferences/{CONFERENCE_SID}/Participants/{call_sid(i)}.json"
                    client.post(url, data={"Muted": "true"}).json()

        with Client(ACCOUNT_SID, TOKEN, base_url=base_url) as client:
            client.conferences(CONFERENCE_SID).participants(call_sid(0)).mute()  # start the thread

            def sequential_sync() -> None:
                for i in range(n):
                    client.conferences(CONFERENCE_SID).participants(call_sid(i)).mute()

            def threaded_sync() -> None:
                share = n // args.threads

                def work(worker: int) -> None:
                    for i in range(worker * share, (worker + 1) * share):
                        client.conferences(CONFERENCE_SID).participants(call_sid(i)).mute()

                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(work, range(args.threads)))

            def bulk_sync() -> None:
                with client.bulk(updates(args.bulk), concurrency=32) as results:
                    for _ in results:
                        pass

            timed("AsyncClient, one at a time", n, lambda: anyio.run(sequential_async))
            timed("Client, one at a time", n, sequential_sync)
            timed("httpx.Client, one at a time (no retries etc.)", n, plain_httpx)
            timed(f"Client, {args.threads} threads sharing it", n, threaded_sync)
            timed("AsyncClient.bulk, concurrency 32", args.bulk, lambda: anyio.run(bulk_async))
            timed("Client.bulk, concurrency 32", args.bulk, bulk_sync)


if __name__ == "__main__":
    main()
