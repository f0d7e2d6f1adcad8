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
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import anyio

from .._auto_limiter import AutoRateLimiter
from .._client import AsyncClient
from .._constants import DEFAULT_MAX_RETRIES
from .._exceptions import AioParticipantError, APIConnectionError, NotFoundError, ServerError
from .._http import ClientStats
from .._models import Participant
from .._participant_update import ParticipantUpdate
from ..emulator import Emulator, EmulatorServer, serve_in_thread
from ._argtypes import at_least, fraction, non_negative_float, positive_float, rate_or_auto
from ._demo_progress import DemoProgress
from ._demo_scenario import (
    ANNOUNCEMENT_URL,
    HOLD_MUSIC_URL,
    Plan,
    build_plan,
    listed,
    state_differences,
)

__all__ = ["HELP", "configure", "run"]

HELP = "run a contact-center job through the real client against an embedded emulator"

#: A listing page this small makes every room span several pages.
_LIST_PAGE_SIZE = 10
#: Share of injected faults that are dropped connections; the rest are 500/503 answers.
_DROP_SHARE = 0.2
#: Rounds of announcing before an announcement that never played counts as lost.
_ANNOUNCE_ROUNDS = 5


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
            _print_header(args, plan, server, http_backend)
            stats = ClientStats()  # replaced by the client's own once it exists

            def status() -> str:
                return _status(job.client_stats if job is not None else stats, emulator)

            job: _Job | None = None
            progress = DemoProgress(args.progress, status=status)
            try:
                job = _Job(plan, emulator, server, args, http_backend, progress)
                anyio.run(job.run, backend=args.backend)
            finally:
                progress.close()
    finally:
        logger.removeHandler(quiet)

    lines, ok = _summary(job, job.client_stats)
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


# --- the job ------------------------------------------------------------------------


@dataclass
class _Tally:
    """What the job did, operation by operation."""

    done: Counter[str] = field(default_factory=Counter)
    #: Operations that failed for good, or came back in the wrong state.
    lost: list[str] = field(default_factory=list)
    #: Call sids whose announcement the API confirmed.
    announced: set[str] = field(default_factory=set)
    #: Call sids whose announcement failed where it may have played, pending a look at the log.
    unconfirmed: dict[str, str] = field(default_factory=dict)
    #: Unconfirmed announcements the AnnounceUrl log showed had played.
    settled_by_log: int = 0
    #: Announcements sent again because the log showed they had not played.
    resent: int = 0
    #: Removals answered 404: an earlier attempt did it, its answer was lost.
    already_gone: int = 0


class _Job:
    def __init__(
        self,
        plan: Plan,
        emulator: Emulator,
        server: EmulatorServer,
        args: argparse.Namespace,
        http_backend: Literal["httpx", "aiohttp"],
        progress: DemoProgress,
    ) -> None:
        self.plan = plan
        self.emulator = emulator
        self.server = server
        self.args = args
        self.http_backend = http_backend
        self.progress = progress
        self.tally = _Tally()
        self.listed: dict[str, list[Participant]] = {}
        self.update_seconds = 0.0
        self.total_seconds = 0.0
        self.client_stats = ClientStats()
        self.limiter: object = None  # the client's, kept to report what it learned

    async def run(self) -> None:
        started = time.monotonic()
        async with AsyncClient(
            self.emulator.project_id,
            self.emulator.token,
            base_url=self.server.base_url,
            rate_limit=self.args.client_rate,
            max_connections=self.args.concurrency,
            max_retries=self.args.max_retries,
            http_backend=self.http_backend,
            # The embedded emulator is on loopback: a corporate HTTPS_PROXY must not catch it.
            trust_env=False,
        ) as client:
            self.client_stats = client.stats
            self.limiter = client.limiter
            await self._mute_customers(client)
            await self._hold_customers(client)
            await self._walk_supervisors(client)
            await self._announce(client)
            await self._remove(client)
            self.update_seconds = time.monotonic() - started
            await self._list_back(client)
        self.total_seconds = time.monotonic() - started

    async def _mute_customers(self, client: AsyncClient) -> None:
        updates = [ParticipantUpdate(sid, call, muted=True) for sid, call in self.plan.mutes()]
        await self._bulk(client, "mute customers", "mutes", updates)

    async def _hold_customers(self, client: AsyncClient) -> None:
        updates = [
            ParticipantUpdate(sid, call, hold=True, hold_url=HOLD_MUSIC_URL, hold_method="GET")
            for sid, call in self.plan.on_hold
        ]
        await self._bulk(client, "hold with music", "holds", updates)

    async def _bulk(
        self, client: AsyncClient, title: str, kind: str, updates: list[ParticipantUpdate]
    ) -> None:
        tally = self.tally
        with self.progress.phase(title, len(updates)) as phase:
            async with client.bulk(updates, concurrency=self.args.concurrency) as results:
                async for result in results:
                    if result.ok:
                        tally.done[kind] += 1
                    else:
                        tally.lost.append(f"{title}: {result.update.call_sid}: {result.error}")
                    phase.advance()

    async def _walk_supervisors(self, client: AsyncClient) -> None:
        rooms = self.plan.rooms
        slots = anyio.CapacityLimiter(self.args.concurrency)
        tally = self.tally
        with self.progress.phase("monitor→coach→barge", 3 * len(rooms)) as phase:

            async def walk(conference_sid: str, supervisor: str, agent: str) -> None:
                handle = client.conferences(conference_sid).participants(supervisor)
                steps: Sequence[
                    tuple[str, Callable[[], Awaitable[Participant]], tuple[object, ...]]
                ]
                # (coaching, muted, call_sid_to_coach) each step must leave behind
                steps = (
                    ("monitor", lambda: handle.monitor(agent), (True, True, agent)),
                    ("coach", lambda: handle.coach(agent), (True, False, agent)),
                    ("barge", handle.barge, (False, False, None)),
                )
                async with slots:
                    # One room's steps in order: each builds on the one before.
                    for name, step, expected in steps:
                        try:
                            state = await step()
                        except AioParticipantError as error:
                            tally.lost.append(f"{name} {supervisor}: {error}")
                        else:
                            seen = (state.coaching, state.muted, state.call_sid_to_coach)
                            if seen == expected:
                                tally.done["supervisor steps"] += 1
                            else:
                                tally.lost.append(f"{name} {supervisor}: answered {seen}")
                        phase.advance()

            async with anyio.create_task_group() as group:
                for room in rooms:
                    group.start_soon(walk, room.conference_sid, room.supervisor, room.agent)

    async def _announce(self, client: AsyncClient) -> None:
        """Announce to everyone in one room, exactly once each.

        An announcement that fails where it may have played (a 5xx, a dropped
        connection) is not retried by the client. The announcement's URL is on
        our own server, which the service fetches with the CallSid whenever it
        plays it; that server's log settles each unconfirmed one: played means
        done, not played means safe to send again. The emulator's record of
        fetched AnnounceUrls stands in for that log.
        """
        room = self.plan.announced
        tally = self.tally
        slots = anyio.CapacityLimiter(self.args.concurrency)
        participants = client.conferences(room.conference_sid).participants
        with self.progress.phase("announce to a room", len(room.everyone)) as phase:

            async def announce(call_sid: str) -> None:
                async with slots:
                    try:
                        await participants(call_sid).announce(ANNOUNCEMENT_URL, "GET")
                    except (ServerError, APIConnectionError) as error:
                        if isinstance(error, APIConnectionError) and not error.possibly_delivered:
                            tally.unconfirmed[call_sid] = "not delivered"
                        else:
                            tally.unconfirmed[call_sid] = type(error).__name__
                    except AioParticipantError as error:
                        tally.lost.append(f"announce {call_sid}: {error}")
                    else:
                        tally.announced.add(call_sid)
                        tally.done["announcements"] += 1
                        phase.advance()

            pending = list(room.everyone)
            for attempt in range(_ANNOUNCE_ROUNDS):
                if attempt:
                    tally.resent += len(pending)
                async with anyio.create_task_group() as group:
                    for call_sid in pending:
                        group.start_soon(announce, call_sid)
                pending = []
                for call_sid in list(tally.unconfirmed):
                    del tally.unconfirmed[call_sid]
                    if self.emulator.announcements(room.conference_sid, call_sid):
                        tally.settled_by_log += 1
                        tally.done["announcements"] += 1
                        phase.advance()
                    else:
                        pending.append(call_sid)
                if not pending:
                    break
            for call_sid in pending:
                tally.lost.append(
                    f"announce {call_sid}: still not played after {_ANNOUNCE_ROUNDS} rounds"
                )

    async def _remove(self, client: AsyncClient) -> None:
        tally = self.tally
        with self.progress.phase("remove participants", len(self.plan.kicked)) as phase:

            async def remove(conference_sid: str, call_sid: str) -> None:
                try:
                    await client.conferences(conference_sid).participants(call_sid).delete()
                except NotFoundError:
                    # A retry after a lost answer: the first attempt removed them.
                    tally.already_gone += 1
                    tally.done["removals"] += 1
                except AioParticipantError as error:
                    tally.lost.append(f"remove {call_sid}: {error}")
                else:
                    tally.done["removals"] += 1
                phase.advance()

            async with anyio.create_task_group() as group:
                for conference_sid, call_sid in self.plan.kicked:
                    group.start_soon(remove, conference_sid, call_sid)

    async def _list_back(self, client: AsyncClient) -> None:
        rooms = self.plan.rooms
        slots = anyio.CapacityLimiter(self.args.concurrency)
        with self.progress.phase("list every room back", len(rooms)) as phase:

            async def list_room(conference_sid: str) -> None:
                async with slots:
                    try:
                        participants = client.conferences(conference_sid).participants
                        self.listed[conference_sid] = await participants.list(
                            page_size=_LIST_PAGE_SIZE
                        )
                    except AioParticipantError as error:
                        self.tally.lost.append(f"list {conference_sid}: {error}")
                phase.advance()

            async with anyio.create_task_group() as group:
                for room in rooms:
                    group.start_soon(list_room, room.conference_sid)


# --- reporting ------------------------------------------------------------------------


def _status(client_stats: ClientStats, emulator: Emulator) -> str:
    stats = emulator.stats
    faults = stats.errors_injected + stats.connections_dropped
    return f"retries {client_stats.retries} · 429s {stats.rate_limited} · faults {faults}"


def _print_header(
    args: argparse.Namespace, plan: Plan, server: EmulatorServer, http_backend: str
) -> None:
    client_rate = (
        "auto (learns the service's limit from its 429s)"
        if args.client_rate == "auto"
        else f"{args.client_rate:g}/s"
    )
    print(
        f"aioparticipant demo: {len(plan.rooms)} conferences × {args.per_conference} "
        f"participants ({plan.participant_count} people)\n"
        f"  service   emulator at {server.base_url}: rate limit {args.rate:g}/s, "
        f"latency {args.latency * 1000:g} ms, {args.fault_rate:.1%} of requests fail, "
        f"seed {args.seed}\n"
        f"  client    AsyncClient over TCP: {http_backend} on {args.backend}, "
        f"{args.concurrency} in flight, client rate limit {client_rate}",
        flush=True,
    )


def _learned(job: _Job) -> list[str]:
    """With ``--client-rate auto``: the limit the client learned, next to the service's."""
    if not isinstance(job.limiter, AutoRateLimiter):
        return []
    limit = job.limiter.limit
    learned = "not reached (no 429)" if limit is None else f"{limit:,.0f}/s"
    return [f"  learned limit     {learned}; the service's limit is {job.args.rate:g}/s"]


def _summary(job: _Job, retries: ClientStats) -> tuple[list[str], bool]:
    plan, emulator, tally = job.plan, job.emulator, job.tally
    stats = emulator.stats
    asked = {
        "mutes": sum(1 for _ in plan.mutes()),
        "holds": len(plan.on_hold),
        "supervisor steps": 3 * len(plan.rooms),
        "announcements": len(plan.announced.everyone),
        "removals": len(plan.kicked),
    }
    done = sum(tally.done.values())
    in_emulator = {sid: emulator.participants(sid) for sid in emulator.conference_sids()}
    problems = list(tally.lost)
    problems += state_differences(plan, in_emulator, where="emulator")
    problems += state_differences(plan, job.listed, where="API")
    plays = {
        call_sid: len(emulator.announcements(plan.announced.conference_sid, call_sid))
        for call_sid in plan.announced.everyone
    }
    played_once = sum(1 for count in plays.values() if count == 1)
    for call_sid, count in plays.items():
        if count != 1:
            problems.append(f"announcement played {count} times to {call_sid}")
    ok = not problems
    present = len(plan.expected())
    updates_rate = done / job.update_seconds if job.update_seconds > 0 else 0.0
    requests_rate = stats.requests / job.total_seconds if job.total_seconds > 0 else 0.0
    lines = [
        "",
        "Summary",
        f"  updates done      {done} of {sum(asked.values())} asked ("
        + ", ".join(f"{tally.done[kind]} {kind}" for kind in asked)
        + ")",
        f"  requests          {stats.requests} received by the service "
        f"({stats.lists} of them list pages)",
        f"  retries           {retries.retries}: {retries.retries_after_429} after a 429, "
        f"{retries.retries_after_5xx} after a 5xx, "
        f"{retries.retries_after_connection_error} after a dropped connection",
        f"  429s absorbed     {stats.rate_limited} (Retry-After honoured by every request)",
        f"  faults injected   {stats.errors_injected} server errors, "
        f"{stats.connections_dropped} dropped connections",
        f"  elapsed           {job.total_seconds:.1f}s "
        f"(updates {job.update_seconds:.1f}s, listing back {job.total_seconds - job.update_seconds:.1f}s)",
        f"  achieved rate     {updates_rate:,.0f} updates/s; {requests_rate:,.0f} requests/s "
        f"against a limit of {job.args.rate:g}/s",
        *_learned(job),
        f"  final state       {'exactly as asked' if ok else 'NOT as asked'}: {present} "
        f"participants in {len(plan.rooms)} conferences and {len(plan.kicked)} removed, "
        f"checked in the emulator and through the API",
        f"  announcements     {played_once} of {len(plays)} people heard it exactly once; "
        f"{len(tally.announced)} confirmed by the API, {tally.settled_by_log} unconfirmed "
        f"but found played in the AnnounceUrl log, {tally.resent} sent again after the log "
        "showed they had not played",
    ]
    if tally.already_gone:
        lines.append(
            f"  removals          {tally.already_gone} answered 404 on a retry: "
            "the first attempt removed them, its answer was lost"
        )
    if ok:
        lines.append("Result: OK, nothing lost, nothing wrong")
    else:
        lines.append(f"Result: FAILED, {len(problems)} problem(s):")
        lines += [f"  - {problem}" for problem in listed(problems)]
    return lines, ok


# --- arguments -------------------------------------------------------------------------


def _http_backend(choice: str, backend: str) -> Literal["httpx", "aiohttp"]:
    if choice == "httpx" or backend == "trio":
        return "httpx"  # aiohttp runs on asyncio only
    if choice == "aiohttp" or importlib.util.find_spec("aiohttp") is not None:
        return "aiohttp"
    return "httpx"
