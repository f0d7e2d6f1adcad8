"""The demo's job: a contact center's day, driven through ``AsyncClient``.

Each phase fans its operations out through one helper (``_fan_out``), at
most ``--concurrency`` at a time, and counts what happened in a ``Tally``
that the summary checks against the plan.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import anyio

from .._client import AsyncClient
from .._exceptions import AioParticipantError, APIConnectionError, NotFoundError, ServerError
from .._http import ClientStats
from .._models import Participant
from .._participant_update import ParticipantUpdate
from ..emulator import Emulator, EmulatorServer
from ._demo_progress import DemoProgress
from ._demo_scenario import ANNOUNCEMENT_URL, HOLD_MUSIC_URL, Plan, Room

__all__ = ["DemoJob", "Tally"]

#: A listing page this small makes every room span several pages.
_LIST_PAGE_SIZE = 10
#: Rounds of announcing before an announcement that never played counts as lost.
_ANNOUNCE_ROUNDS = 5

_Item = TypeVar("_Item")


@dataclass
class Tally:
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


@dataclass(eq=False, repr=False)  # a run, not a value: identity and the default repr
class DemoJob:
    """The demo's phases against ``server``, and what came of them."""

    plan: Plan
    emulator: Emulator
    server: EmulatorServer
    args: argparse.Namespace
    http_backend: Literal["httpx", "aiohttp"]
    progress: DemoProgress
    tally: Tally = field(init=False, default_factory=Tally)
    listed: dict[str, list[Participant]] = field(init=False, default_factory=dict)
    update_seconds: float = field(init=False, default=0.0)
    total_seconds: float = field(init=False, default=0.0)
    client_stats: ClientStats = field(init=False, default_factory=ClientStats)
    #: The client's limiter, kept to report what it learned.
    limiter: object = field(init=False, default=None)

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

    async def _fan_out(
        self, items: Iterable[_Item], work: Callable[[_Item], Awaitable[None]]
    ) -> None:
        """Run ``work(item)`` for every item at once, at most ``--concurrency`` at a time."""
        slots = anyio.CapacityLimiter(self.args.concurrency)

        async def bounded(item: _Item) -> None:
            async with slots:
                await work(item)

        async with anyio.create_task_group() as group:
            for item in items:
                group.start_soon(bounded, item)

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
        tally = self.tally
        with self.progress.phase("monitor→coach→barge", 3 * len(self.plan.rooms)) as phase:

            async def walk(room: Room) -> None:
                supervisor, agent = room.supervisor, room.agent
                handle = client.conferences(room.conference_sid).participants(supervisor)
                steps: Sequence[
                    tuple[str, Callable[[], Awaitable[Participant]], tuple[object, ...]]
                ]
                # (coaching, muted, call_sid_to_coach) each step must leave behind
                steps = (
                    ("monitor", lambda: handle.monitor(agent), (True, True, agent)),
                    ("coach", lambda: handle.coach(agent), (True, False, agent)),
                    ("barge", handle.barge, (False, False, None)),
                )
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

            await self._fan_out(self.plan.rooms, walk)

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
        participants = client.conferences(room.conference_sid).participants
        with self.progress.phase("announce to a room", len(room.everyone)) as phase:

            async def announce(call_sid: str) -> None:
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
                await self._fan_out(pending, announce)
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

            async def remove(kicked: tuple[str, str]) -> None:
                conference_sid, call_sid = kicked
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

            await self._fan_out(self.plan.kicked, remove)

    async def _list_back(self, client: AsyncClient) -> None:
        with self.progress.phase("list every room back", len(self.plan.rooms)) as phase:

            async def list_room(room: Room) -> None:
                conference_sid = room.conference_sid
                try:
                    participants = client.conferences(conference_sid).participants
                    self.listed[conference_sid] = await participants.list(page_size=_LIST_PAGE_SIZE)
                except AioParticipantError as error:
                    self.tally.lost.append(f"list {conference_sid}: {error}")
                phase.advance()

            await self._fan_out(self.plan.rooms, list_room)
