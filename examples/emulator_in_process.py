"""The emulator in process: no server, no account, no network.

    python examples/emulator_in_process.py

An ``Emulator`` is an ASGI app; ``httpx.ASGITransport`` hands the client's
requests straight to it.
"""

from __future__ import annotations

import logging

import anyio
import httpx

from aioparticipant import AsyncClient, mute_all
from aioparticipant.emulator import Emulator


async def main() -> None:
    emulator = Emulator(rate_limit=50, error_rate=0.05, seed=1)
    emulator.add_participant("CFtownhall", "CAhost", label="host")
    for number in range(1, 121):
        emulator.add_participant("CFtownhall", f"CAguest{number:03}", label=f"guest {number}")

    async with AsyncClient(
        emulator.project_id,
        emulator.token,
        base_url=emulator.base_url(),  # http://127.0.0.1/api/laml/2010-04-01
        transport=httpx.ASGITransport(app=emulator),
    ) as client:
        summary = await mute_all(client, "CFtownhall", except_call_sids={"CAhost"})
        host = await client.conferences("CFtownhall").participants("CAhost").fetch()

    print(f"muted {summary.succeeded}, skipped {summary.skipped}, failed {summary.failed}")
    print(f"host muted: {host.muted}; updated {host.date_updated:%H:%M:%S %z}")
    stats = emulator.stats
    print(
        f"the service saw {stats.requests} requests: {stats.rate_limited} answered 429, "
        f"{stats.errors_injected} failed on purpose; all absorbed by the client's retries"
    )


if __name__ == "__main__":
    # The client logs one warning per retry; show them as they happen.
    logging.basicConfig(format="  %(message)s", level=logging.WARNING)
    anyio.run(main)
