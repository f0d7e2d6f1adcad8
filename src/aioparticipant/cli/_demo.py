"""``aioparticipant demo``: a contact center's day, through the real client, no account needed.

Starts the emulator on a free loopback port (seeded, rate limited, with a
small share of failing answers and a network-like latency) and runs the job
over TCP with ``AsyncClient``:

1. mute every customer in every conference (``client.bulk``);
2. put one customer in four on hold with music;
3. in every conference, take the supervisor through monitor → coach → barge
   on the agent;
4. play an announcement to everyone in one room;
5. remove one participant from one conference in ten;
6. list every conference back through the API, page by page.

Then it checks the emulator's final state against what was asked, in the
emulator itself and through the API, counts how often each person heard the
announcement, and prints a summary. Exit code 0 when nothing was lost or
wrong, 1 otherwise.

This module holds the command's arguments and sets the stage; the job is
``_demo_job``, the plan and the check ``_demo_scenario``, the printing
``_demo_report`` and the live display ``_demo_progress``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import secrets
from typing import Literal

import anyio

from .._constants import DEFAULT_MAX_RETRIES
from .._http import ClientStats
from ..emulator import Emulator, serve_in_thread
from ._argtypes import at_least, fraction, non_negative_float, positive_float, rate_or_auto
from ._demo_job import DemoJob
from ._demo_progress import DemoProgress
from ._demo_report import print_header, status_line, summary
from ._demo_scenario import build_plan

__all__ = ["HELP", "configure", "run"]

HELP = "run a contact-center job through the real client against an embedded emulator"

#: Share of injected faults that are dropped connections; the rest are 500/503 answers.
_DROP_SHARE = 0.2


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` arguments to its subparser."""
    parser.description = (
        "Start the emulator on a free loopback port (rate limited, with failing answers), "
        "then, through AsyncClient over TCP: mute every customer, put some on hold with "
        "music, take each supervisor through monitor, coach and barge, announce to a room, "
        "remove a few participants, list everything back, and check the final state."
    )
    parser.epilog = "Exit code: 0 when the final state is exactly what was asked, 1 otherwise."
    size = parser.add_argument_group("size")
    size.add_argument(
        "--conferences",
        metavar="N",
        type=at_least(1),
        default=100,
        help="conferences (default: 100)",
    )
    size.add_argument(
        "--per-conference",
        metavar="N",
        type=at_least(3),
        default=24,
        help="participants in each: an agent, a supervisor, customers (default: 24)",
    )
    server = parser.add_argument_group("the emulated service")
    server.add_argument(
        "--rate",
        metavar="R",
        type=positive_float,
        default=200.0,
        help="the service's rate limit in requests per second (default: 200)",
    )
    server.add_argument(
        "--fault-rate",
        metavar="F",
        type=fraction,
        default=0.01,
        help="share of requests that fail: 4 in 5 answered 500/503, 1 in 5 dropped (default: 0.01)",
    )
    server.add_argument(
        "--latency",
        metavar="S",
        type=non_negative_float,
        default=0.02,
        help="seconds the service takes to answer (default: 0.02)",
    )
    server.add_argument(
        "--seed", metavar="N", type=int, default=1, help="seed of faults and sids (default: 1)"
    )
    client = parser.add_argument_group("the client")
    client.add_argument(
        "--client-rate",
        metavar="R",
        type=rate_or_auto,
        default="auto",
        help="the client's own rate limit in requests per second, or 'auto' (the default): "
        "learn the service's limit from its 429s and pace just under it",
    )
    client.add_argument(
        "--concurrency",
        metavar="N",
        type=at_least(1),
        default=64,
        help="requests in flight at most (default: 64)",
    )
    client.add_argument(
        "--max-retries",
        metavar="N",
        type=at_least(0),
        default=DEFAULT_MAX_RETRIES,
        help=f"retries per request (default: {DEFAULT_MAX_RETRIES}, the client's)",
    )
    client.add_argument(
        "--backend",
        choices=["asyncio", "trio"],
        default="asyncio",
        help="event loop to run the client on (default: asyncio)",
    )
    client.add_argument(
        "--http-backend",
        choices=["auto", "httpx", "aiohttp"],
        default="auto",
        help="auto: aiohttp when installed and on asyncio, else httpx",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "rich", "plain", "none"],
        default="auto",
        help="live progress on stderr: rich on a terminal, plain lines otherwise (default)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when the final state is exactly what was asked, else 1."""
    plan = build_plan(args.conferences, args.per_conference, seed=args.seed)
    emulator = Emulator(
        project_id="demo-project",
        token=secrets.token_urlsafe(24),
        rate_limit=args.rate,
        latency=args.latency,
        error_rate=args.fault_rate * (1 - _DROP_SHARE),
        drop_rate=args.fault_rate * _DROP_SHARE,
        seed=args.seed,
    )
    for room in plan.rooms:
        emulator.add_participant(room.conference_sid, room.agent, label="agent")
        emulator.add_participant(room.conference_sid, room.supervisor, label="supervisor")
        for number, customer in enumerate(room.customers, start=1):
            emulator.add_participant(room.conference_sid, customer, label=f"customer {number}")
    http_backend = _http_backend(args.http_backend, args.backend)

    # The summary counts the retries (client.stats); a WARNING line for each
    # would drown the progress display.
    quiet = logging.NullHandler()
    logger = logging.getLogger("aioparticipant")
    logger.addHandler(quiet)
    try:
        with serve_in_thread(emulator) as server:
            print_header(args, plan, server, http_backend)
            stats = ClientStats()  # replaced by the client's own once it exists

            def status() -> str:
                return status_line(job.client_stats if job is not None else stats, emulator)

            job: DemoJob | None = None
            progress = DemoProgress(args.progress, status=status)
            try:
                job = DemoJob(plan, emulator, server, args, http_backend, progress)
                anyio.run(job.run, backend=args.backend)
            finally:
                progress.close()
    finally:
        logger.removeHandler(quiet)

    lines, ok = summary(job, job.client_stats)
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


# --- arguments -------------------------------------------------------------------------


def _http_backend(choice: str, backend: str) -> Literal["httpx", "aiohttp"]:
    if choice == "httpx" or backend == "trio":
        return "httpx"  # aiohttp runs on asyncio only
    if choice == "aiohttp" or importlib.util.find_spec("aiohttp") is not None:
        return "aiohttp"
    return "httpx"
