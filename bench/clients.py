"""One benchmark run of one client, in its own process (the runner starts it).

    python bench/clients.py --client NAME --port P --n 4000 --in-flight 16

Sends ``n`` form-encoded participant updates (``Muted=true``, a different call
sid each) to the stub on 127.0.0.1:P with ``in-flight`` workers, and prints one
JSON line: wall time, client CPU (``time.process_time()`` of this process over
the timed part only: construction and imports excluded, connection set-up
included), the time the first ``in-flight`` updates took (a cold burst), peak
RSS, and errors.

Every client decodes the answer as its users would get it: aioparticipant into
a ``Participant``, raw httpx and aiohttp with ``json.loads``, twilio-python into
a ``ParticipantInstance``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

ACCOUNT_SID = "AC" + "0" * 32
TOKEN = "bench-token"
CONFERENCE_SID = "CF" + "1" * 32
AUTHORIZATION = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
LAML = "/api/laml/2010-04-01"


def call_sid(index: int) -> str:
    return f"CA{index:032x}"


Update = Callable[[int], Awaitable[object]]


async def aioparticipant_client(
    stack: AsyncExitStack, port: int, *, backend: str, **options: Any
) -> Update:
    from aioparticipant import AsyncClient

    client = await stack.enter_async_context(
        AsyncClient(
            ACCOUNT_SID,
            TOKEN,
            base_url=f"http://127.0.0.1:{port}{LAML}",
            http_backend=backend,  # type: ignore[arg-type]
            **options,
        )
    )

    async def update(index: int) -> object:
        participant = client.conferences(CONFERENCE_SID).participants(call_sid(index))
        return await participant.update(muted=True)

    return update


async def raw_httpx_client(stack: AsyncExitStack, port: int) -> Update:
    import httpx

    # Defaults throughout (Limits(max_connections=100, max_keepalive_connections=20)),
    # the credentials prebuilt into the client's headers: the cheapest idiomatic use.
    client = await stack.enter_async_context(
        httpx.AsyncClient(headers={"Authorization": AUTHORIZATION})
    )
    return _httpx_update(client, port)


async def raw_httpx_http2_client(stack: AsyncExitStack, port: int) -> Update:
    import httpx

    # HTTP/2 with prior knowledge over loopback (h2c): one connection, many streams.
    client = await stack.enter_async_context(
        httpx.AsyncClient(headers={"Authorization": AUTHORIZATION}, http1=False, http2=True)
    )
    return _httpx_update(client, port)


def _httpx_update(client: Any, port: int) -> Update:
    """One mute through a plain httpx client: form body, status check, JSON decode."""
    base = f"http://127.0.0.1:{port}{LAML}/Accounts/{ACCOUNT_SID}/Conferences/{CONFERENCE_SID}"

    async def update(index: int) -> object:
        response = await client.post(
            f"{base}/Participants/{call_sid(index)}.json", data={"Muted": "true"}
        )
        response.raise_for_status()
        return json.loads(response.content)

    return update


async def raw_aiohttp_client(stack: AsyncExitStack, port: int) -> Update:
    import aiohttp

    session = await stack.enter_async_context(
        aiohttp.ClientSession(headers={"Authorization": AUTHORIZATION})
    )
    base = f"http://127.0.0.1:{port}{LAML}/Accounts/{ACCOUNT_SID}/Conferences/{CONFERENCE_SID}"

    async def update(index: int) -> object:
        async with session.post(
            f"{base}/Participants/{call_sid(index)}.json", data={"Muted": "true"}
        ) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    return update


async def twilio_client(stack: AsyncExitStack, port: int) -> Update:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    http_client = AsyncTwilioHttpClient()
    stack.push_async_callback(http_client.close)
    client = Client(ACCOUNT_SID, TOKEN, http_client=http_client)
    client.api.base_url = f"http://127.0.0.1:{port}"

    async def update(index: int) -> object:
        return (
            await client.conferences(CONFERENCE_SID)
            .participants(call_sid(index))
            .update_async(muted=True)
        )

    return update


CLIENTS: dict[str, Callable[[AsyncExitStack, int], Awaitable[Update]]] = {
    # The default path: httpx's own transport, everything else default.
    "aioparticipant": lambda stack, port: aioparticipant_client(stack, port, backend="httpx"),
    # The fast path with everything on: validation, a limiter that never binds, retries, msgspec.
    "aioparticipant-fast": lambda stack, port: aioparticipant_client(
        stack, port, backend="aiohttp", rate_limit=1_000_000
    ),
    # The default path under trio (not in the default table: --clients aioparticipant-trio).
    "aioparticipant-trio": lambda stack, port: aioparticipant_client(stack, port, backend="httpx"),
    "raw-httpx": raw_httpx_client,
    "raw-httpx-http2": raw_httpx_http2_client,
    "raw-aiohttp": raw_aiohttp_client,
    "twilio": twilio_client,
}


async def drive(update: Update, n: int, in_flight: int) -> dict[str, Any]:
    """``n`` updates through ``in_flight`` workers; the numbers the runner tabulates."""
    indexes = iter(range(n))
    done = 0
    errors = 0
    first_error: str | None = None
    burst = min(n, in_flight)
    burst_seconds = 0.0

    async def worker() -> None:
        nonlocal done, errors, first_error, burst_seconds
        for index in indexes:
            try:
                await update(index)
            except Exception as error:
                errors += 1
                first_error = first_error or f"{type(error).__name__}: {error}"[:300]
            done += 1
            if done == burst:
                burst_seconds = time.perf_counter() - wall_start

    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    return {
        "n": n,
        "in_flight": in_flight,
        "wall_s": wall,
        "cpu_s": cpu,
        "burst_s": burst_seconds,
        "errors": errors,
        "first_error": first_error,
    }


async def drive_trio(update: Update, n: int, in_flight: int) -> dict[str, Any]:
    """``drive`` under trio: the same workers in a nursery."""
    import trio

    indexes = iter(range(n))
    counts = {"done": 0, "errors": 0}
    first_error: list[str] = []
    burst = min(n, in_flight)
    burst_seconds = [0.0]

    async def worker() -> None:
        for index in indexes:
            try:
                await update(index)
            except Exception as error:
                counts["errors"] += 1
                if not first_error:
                    first_error.append(f"{type(error).__name__}: {error}"[:300])
            counts["done"] += 1
            if counts["done"] == burst:
                burst_seconds[0] = time.perf_counter() - wall_start

    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker)
    return {
        "n": n,
        "in_flight": in_flight,
        "wall_s": time.perf_counter() - wall_start,
        "cpu_s": time.process_time() - cpu_start,
        "burst_s": burst_seconds[0],
        "errors": counts["errors"],
        "first_error": first_error[0] if first_error else None,
    }


async def run(client: str, port: int, n: int, in_flight: int) -> dict[str, Any]:
    trio = client.endswith("-trio")
    async with AsyncExitStack() as stack:
        update = await CLIENTS[client](stack, port)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await (drive_trio if trio else drive)(update, n, in_flight)
    result["client"] = client
    result["rss_base_kb"] = rss_before
    result["rss_peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 10_000_000 or not 1 <= args.in_flight <= 10_000:
        parser.error("n and in-flight out of range")
    if args.client.endswith("-trio"):
        import trio

        result = trio.run(run, args.client, args.port, args.n, args.in_flight)
    else:
        result = asyncio.run(run(args.client, args.port, args.n, args.in_flight))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
