"""The demo's contact center: who is in which room, what the job asks, and the check.

Pure bookkeeping, no I/O: the demo command drives the client, this module
says what the end state must be and finds every difference from it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .._models import Participant

__all__ = [
    "ANNOUNCEMENT_URL",
    "HOLD_MUSIC_URL",
    "Plan",
    "Room",
    "Wanted",
    "build_plan",
    "state_differences",
]

HOLD_MUSIC_URL = "https://cdn.example.com/hold/smooth-jazz.mp3"
ANNOUNCEMENT_URL = "https://cdn.example.com/announcements/closing-in-5-minutes.xml"
#: One customer in this many is put on hold.
HOLD_EVERY = 4
#: One room in this many loses a participant (at least one room does).
KICK_EVERY = 10
#: How many differences a report lists before it says "and N more".
MAX_LISTED = 10


@dataclass(frozen=True)
class Room:
    """A conference: an agent, a supervisor, and customers listening in."""

    conference_sid: str
    agent: str
    supervisor: str
    customers: tuple[str, ...]

    @property
    def everyone(self) -> tuple[str, ...]:
        return (self.agent, self.supervisor, *self.customers)


@dataclass(frozen=True)
class Wanted:
    """The state the job leaves one participant in."""

    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    coaching: bool = False
    call_sid_to_coach: str | None = None


@dataclass(frozen=True)
class Plan:
    """The whole job: the rooms, who goes on hold, who is announced to, who is removed."""

    rooms: tuple[Room, ...]
    on_hold: tuple[tuple[str, str], ...]
    announced: Room
    kicked: tuple[tuple[str, str], ...]

    @property
    def participant_count(self) -> int:
        return sum(len(room.everyone) for room in self.rooms)

    def mutes(self) -> Iterator[tuple[str, str]]:
        """Every customer, room by room."""
        for room in self.rooms:
            for customer in room.customers:
                yield room.conference_sid, customer

    def expected(self) -> dict[tuple[str, str], Wanted]:
        """Everyone still present at the end, and their state."""
        held = set(self.on_hold)
        kicked = set(self.kicked)
        wanted: dict[tuple[str, str], Wanted] = {}
        for room in self.rooms:
            sid = room.conference_sid
            wanted[(sid, room.agent)] = Wanted()
            # Monitor, coach, then barge: the supervisor ends up heard by all.
            wanted[(sid, room.supervisor)] = Wanted()
            for customer in room.customers:
                on_hold = (sid, customer) in held
                wanted[(sid, customer)] = Wanted(
                    muted=True, hold=on_hold, hold_url=HOLD_MUSIC_URL if on_hold else None
                )
        for key in kicked:
            del wanted[key]
        return wanted


def build_plan(conferences: int, per_conference: int, *, seed: int) -> Plan:
    """A reproducible contact center of ``conferences`` rooms of ``per_conference`` people."""
    if conferences < 1:
        raise ValueError("the demo needs at least one conference")
    if per_conference < 3:
        raise ValueError(
            "each conference needs at least 3 participants (agent, supervisor, customer)"
        )
    generator = random.Random(seed)

    def sid(prefix: str) -> str:
        # Twilio-shaped sids; the API treats them as opaque strings either way.
        return f"{prefix}{generator.getrandbits(128):032x}"

    rooms = tuple(
        Room(
            conference_sid=sid("CF"),
            agent=sid("CA"),
            supervisor=sid("CA"),
            customers=tuple(sid("CA") for _ in range(per_conference - 2)),
        )
        for _ in range(conferences)
    )
    on_hold = tuple(
        (room.conference_sid, customer)
        for room in rooms
        for index, customer in enumerate(room.customers)
        if index % HOLD_EVERY == 0
    )
    kicked = tuple((room.conference_sid, room.customers[-1]) for room in rooms[::KICK_EVERY])
    return Plan(rooms=rooms, on_hold=on_hold, announced=rooms[0], kicked=kicked)


def state_differences(
    plan: Plan, seen: Mapping[str, Sequence[Participant]], *, where: str
) -> list[str]:
    """How the participants ``seen`` per conference differ from what the plan asked.

    ``where`` names the view ("emulator", "API") in the messages.
    """
    expected = plan.expected()
    problems: list[str] = []
    for room in plan.rooms:
        present = {p.call_sid: p for p in seen.get(room.conference_sid, ())}
        for call_sid in present.keys() - set(room.everyone):
            problems.append(f"{where}: unexpected participant {call_sid} in {room.conference_sid}")
        for call_sid in room.everyone:
            key = (room.conference_sid, call_sid)
            participant = present.get(call_sid)
            wanted = expected.get(key)
            if wanted is None:
                if participant is not None:
                    problems.append(f"{where}: {call_sid} should have been removed")
                continue
            if participant is None:
                problems.append(f"{where}: {call_sid} is missing from {room.conference_sid}")
                continue
            for name in ("muted", "hold", "hold_url", "coaching", "call_sid_to_coach"):
                actual, asked = getattr(participant, name), getattr(wanted, name)
                if actual != asked:
                    problems.append(f"{where}: {call_sid} has {name}={actual!r}, asked {asked!r}")
    return problems


def listed(problems: Iterable[str]) -> list[str]:
    """At most ``MAX_LISTED`` problems, and a line saying how many more there were."""
    problems = list(problems)
    shown = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        shown.append(f"... and {len(problems) - MAX_LISTED} more")
    return shown
