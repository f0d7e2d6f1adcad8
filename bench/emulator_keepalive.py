"""Sequential keep-alive updates through the served emulator: the latency of one.

    python bench/emulator_keepalive.py [--n 500]

Serves ``aioparticipant.emulator`` on 127.0.0.1 (``serve_in_thread``, the code
``aioparticipant emulator``, ``aioparticipant demo`` and the ``emulator_server``
fixture use) and sends ``n`` updates one after another over one connection,
through ``AsyncClient`` on each HTTP backend. Prints the median and p90 per
backend. Before the emulator set ``TCP_NODELAY`` on accepted connections
(issue 9) every answer waited for the client's delayed ACK: about 44 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from aioparticipant import AsyncClient
from aioparticipant.emulator import Emulator, serve_in_thread

WARM_UP = 10


async def sequential_updates(
    base_url: str, emulator: Emulator, backend: str, n: int
) -> list[float]:
    """Seconds each of ``n`` sequential updates took, after a warm-up."""
    samples = []
    async with AsyncClient(
        emulator.project_id, emulator.token, base_url=base_url, http_backend=backend
    ) as client:
        participant = client.conferences("CF1").participants("CA1")
        for number in range(WARM_UP + n):
            started = time.perf_counter()
            await participant.update(muted=number % 2 == 0)
            if number >= WARM_UP:
                samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="updates per backend")
    args = parser.parse_args()
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        for backend in ("httpx", "aiohttp"):
            samples = asyncio.run(sequential_updates(server.base_url, emulator, backend, args.n))
            p90 = statistics.quantiles(samples, n=10)[-1]
            print(
                f"{backend:8s} n={len(samples)}  median {statistics.median(samples) * 1000:6.2f} ms"
                f"  p90 {p90 * 1000:6.2f} ms"
            )


if __name__ == "__main__":
    main()
