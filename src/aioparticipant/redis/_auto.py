"""``RedisRateLimiter(rate="auto")``: the processes on a key learn one limit, as one client.

Every process runs a ``Pacer`` on its own requests and answers, and the
shared script paces the whole fleet at the pacer's pace. At first contact
each grant tells how many the fleet was granted so far, and the fleet keeps
one client's share of them in flight (1.25%, at least 2), over a latency
plus a round trip to Redis: a 429 stops the other processes only once its
process has relayed the pause, and what they send meanwhile is refused too.
A pause under "auto" has no stagger, and the shared bucket is empty when it
ends: the pace spaces what it held, with no burst on top. What a
single process cannot see is what the others sent, and a limit is learned by
counting what the server let through. So the shared script also logs every
grant at its time on Redis's clock, and every process logs the grants of the
requests the server refused (``REFUSE_SCRIPT``). When a process learns from
a 429, it waits a moment for the 429s of requests sent before that one to
come in, then counts the fleet's grants less its refusals over the stretch
its pacer counted its own, ending at the refused request's own grant
(``COUNT_SCRIPT``), and that is the fleet's limit; it publishes it to the
key (``FLEET_SCRIPT``), and the others take it at their next look, every
half second (every 10 ms while none is known). A 429 for a request sent
before the latest limit was published is an echo of the window that taught
it: the limit stands, and the process that met the echo takes it too (on a
long window the larger count stands: each ends at its own refused grant, so
each is short). A process that joins later starts from it. A 429 pauses
every process, as with any ``RedisRateLimiter``. Counted by grant times, a
limit is off by what the requests' delays between grant and server spread
them: on a short limit the count leaves out the stretch's first ``SLACK``,
so it is what the window surely held, never over; a 429 at the pace thought
safe (not probing) never raises it, it is at most 2% under the last.

A second log keeps the learned window for the whole fleet, as a single
process's pacer keeps its own: a grant is in it while in flight (up to four
latencies), then from its answer's time (each process reports its answers
with its next acquire, timed from when it asked for the grant), or out if
refused; no grant while the last window's span (plus a little) holds the
window's size. An even pace with a small burst can still put one request too
many into a window, and so can a request held up between its grant and the
server; the log cannot.
"""

from __future__ import annotations

import contextvars
import math
from typing import Any

import anyio

from .._exceptions import InvalidParameterError
from .._pacing import Mode, Pacer
from .._pacing_settings import CUT, FIRST_LATENCY, LATENCY_WEIGHT, START_IN_FLIGHT, START_SHARE
from ._connection import Connection
from ._fleet_settings import (
    BURST_SECONDS,
    EDGE,
    FLIGHT_LATENCIES,
    FLIGHT_LEAST,
    FLIGHT_MOST,
    LOOK_EVERY,
    LOOK_EVERY_UNKNOWN,
    SETTLE,
    SLACK,
    SLACK_SHARE,
)
from ._scripts import FLEET_SUFFIX, LOG_SUFFIX, REFUSED_SUFFIX, WINDOW_SUFFIX, text

__all__ = ["FleetPacing", "fleet_for"]


def fleet_for(rate: object, burst: object, reserve: object, base: str) -> FleetPacing | None:
    """A ``FleetPacing`` for ``rate="auto"``, ``None`` for a number; other words are refused."""
    if not isinstance(rate, str):
        return None
    if rate != "auto":
        raise InvalidParameterError(
            "rate", f'rate must be a number of requests per second or "auto", got {rate!r}'
        )
    if burst is not None or reserve is not None:
        name = "burst" if burst is not None else "reserve"
        raise InvalidParameterError(name, f'{name} is learned under rate="auto"')
    return FleetPacing(base)


class FleetPacing:
    """One process's side of a self-paced limit shared through Redis."""

    def __init__(self, base: str) -> None:
        # Its state lives beside the limit's own key ``base`` (one hash tag).
        self.log_key = base + LOG_SUFFIX
        self.refused_key = base + REFUSED_SUFFIX
        self.learned_key = base + FLEET_SUFFIX
        self.window_key = base + WINDOW_SUFFIX
        self.pacer = Pacer(gated=False)
        self._events = 0
        self._version = 0
        self._look_at = -math.inf
        self._recount: tuple[list[str | int], float] | None = None  # COUNT_SCRIPT's, seconds
        self._recount_at = math.inf
        self._known = math.inf  # the fleet's limit as last counted or taken
        self._cap = math.inf  # the most a recount may find (a 429 at the pace thought safe)
        self._refused: list[str | int] = []  # the grants of refused requests, to log
        self._answers: list[str | int] = []  # ACQUIRE_SCRIPT's moves in the window log
        # The grant (time, member, asked at) of the request this task sends: an attempt's
        # acquire and its answer run in one task, so its answer is matched to its grant.
        self._grant: contextvars.ContextVar[tuple[int, str, float] | None] = contextvars.ContextVar(
            "aioparticipant_grant", default=None
        )
        self._sent: contextvars.ContextVar[float | None] = contextvars.ContextVar(
            "aioparticipant_fleet_sent", default=None
        )
        self._publish = False
        self._fleet_granted = 0  # at first contact, the fleet's grants as last told
        self._round_trip, self._asks = 0.0, 0  # seconds an ask for a grant takes, on average

    @property
    def rate(self) -> float:
        """The fleet's pace (at first contact, its share in flight over a latency and a relay)."""
        pacer = self.pacer
        if pacer.mode != "start" or not pacer.latency:
            return pacer.rate
        # As one client: a share of all the fleet's grants in flight. A 429
        # stops the others only once its process has relayed the pause
        # through Redis, and what they send meanwhile is refused too: the
        # round trip counts as latency.
        in_flight = max(START_IN_FLIGHT, START_SHARE * max(self._fleet_granted, pacer.admitted))
        return in_flight / (pacer.latency + self._round_trip)

    @property
    def limit(self) -> float | None:
        """The fleet's limit as learned, or ``None``."""
        return self.pacer.limit

    @property
    def burst(self) -> int:
        """The fleet's burst (at first contact, the requests it keeps in flight)."""
        if self.pacer.mode == "start":
            return self.pacer.burst
        return max(2, math.ceil(self.pacer.rate * BURST_SECONDS))

    def gate(self) -> list[str | int]:
        """``ACQUIRE_SCRIPT``'s window (size in requests, span in µs), then the answers to log.

        The answers are taken: if the call fails, their grants stay in the
        window at their grants' times.
        """
        pacer = self.pacer
        gate: list[str | int]
        if pacer.limit is None or not pacer.window_seconds:
            gate = ["0", math.ceil(SLACK * 1e6), repr(SLACK_SHARE)]  # the fleet's window, if any
        else:
            size = pacer.limit * pacer.probe * pacer.window_seconds
            gate = [repr(size), math.ceil(self._span(pacer.window_seconds) * 1e6), "0"]
        latency = FIRST_LATENCY if pacer.latency is None else pacer.latency
        flight = min(FLIGHT_MOST, max(FLIGHT_LEAST, FLIGHT_LATENCIES * latency))
        answers, self._answers = self._answers, []
        return [*gate, math.ceil(flight * 1e6), *answers]

    @staticmethod
    def _span(seconds: float) -> float:
        """How long a grant counts in the fleet's window of ``seconds``."""
        return seconds + max(SLACK, SLACK_SHARE * seconds)

    async def keep_up(self, connection: Connection) -> None:
        """Before a request: log refusals, recount after a 429, count a window's room, look."""
        now = anyio.current_time()
        if self._refused:
            refused, self._refused = self._refused, []
            await connection.refuse([self.refused_key], refused)
        counted = [self.log_key, self.refused_key]
        if (recount := self.recount(now)) is not None:
            arguments, seconds = recount
            self.recounted(now, await connection.count(counted, arguments), seconds)
        if (room := self.room_count(now)) is not None:
            self.room_counted(now, await connection.count(counted, room))
        if (look := self.look(now)) is not None:
            try:
                reply = await connection.fleet([self.learned_key], look)
            except BaseException:
                self._look_at = now + LOOK_EVERY_UNKNOWN  # failed or cancelled: look again soon
                raise
            self.looked(now, reply)
        self.pacer.advance(now)

    def settle_wait(self, now: float) -> float | None:
        """Seconds until the fleet is recounted after a 429 that taught (0.0: now; ``None``: none pending)."""
        return None if self._recount is None else max(0.0, self._recount_at - now)

    async def before_grant(self) -> None:
        """Before asking for a grant: wait while a 429 without Retry-After holds us.

        Never after the grant: a request held between its grant and the server
        would land in a later window than the fleet's log says.
        """
        self._grant.set(None)
        self._sent.set(None)
        while (wait := self.pacer.delay(anyio.current_time())) > 0:  # noqa: ASYNC110
            await anyio.sleep(wait)

    def let_go(self) -> None:
        """A request was granted and leaves now."""
        now = anyio.current_time()
        self.pacer.sent(now)
        self._sent.set(now)

    def answered(self, now: float, status: int, latency: float, retry_after: float | None) -> None:
        """An answer to one of this process's requests; a new limit is recounted next."""
        pacer, sent = self.pacer, self._sent.get()
        probe = pacer.probe
        pacer.answered(now, status, latency, retry_after, sent=sent)
        pacer.advance(now)
        grant = self._grant.get()
        granted = None if grant is None else grant[0]
        if grant is not None and sent is not None and len(self._answers) < 20_000:
            # In the window log until a window after its answer (on Redis's
            # clock), or out. The answer is timed from when this process asked
            # for the grant, which came after: whatever held the request on its
            # way, the server counted it no later. A grant counts a little past
            # the window (the slack); the answer's time needs none.
            seconds = pacer.window_seconds
            slack = self._span(seconds) - seconds if seconds else SLACK
            answered = grant[0] + max(0.0, now - grant[2] - slack) * 1e6
            self._answers += [grant[1], "-" if status == 429 else math.ceil(answered)]
        if status == 429 and granted is not None and len(self._refused) < 10_000:
            self._refused.append(granted)
        if pacer.events > self._events:
            self._events = pacer.events
            self._recount = self._stretch(now, now - latency, granted), pacer.counted[2]
            # Refused at the pace thought safe: the limit is lower than it was
            # taken to be, however the count comes out (it is off by what the
            # requests' delays between grant and server spread it).
            at_pace = probe == 1.0 and pacer.mode == "bucket"
            self._cap = self._known * (1 - CUT) if at_pace else math.inf
            self._recount_at = now + min(0.5, SETTLE + latency)

    def granting(
        self,
        now: float,
        granted_at: int | None,
        member: str | None,
        asked: float,
        fleet_granted: int | None = None,
    ) -> None:
        """This task's request was granted at ``granted_at``, as ``member`` in the window log.

        Both ``None``: not granted by Redis. ``asked``: when this process asked
        for it, on its own clock (before the grant; its answer is timed from
        here). ``fleet_granted``: at first contact, the fleet's grants so far.
        """
        grant = None if granted_at is None or member is None else (granted_at, member, asked)
        self._grant.set(grant)
        # The first ask opens a connection and loads the scripts: not a round trip.
        if self._asks:
            weight = max(LATENCY_WEIGHT, 1 / self._asks)  # averaged as the pacer's latency
            self._round_trip += weight * (now - asked - self._round_trip)
        self._asks += 1
        if fleet_granted is not None:
            self._fleet_granted = max(self._fleet_granted, fleet_granted)

    def _stretch(self, now: float, sent: float, granted: int | None) -> list[str | int]:
        """``COUNT_SCRIPT``'s bounds for the stretch the pacer just counted its limit over.

        On a short limit the stretch starts ``SLACK`` later: the requests'
        delays between grant and server differ by up to that (as the window
        log allows), and a grant that early may have reached the server before
        its window began. So the count is what the window surely held: a hair
        under its size, never over (a limit read 0.5% high left a 1% pace
        half its margin, and the next window's edge refused it: a second
        pause, a whole second, at two processes and R = 200 and 500).
        """
        start, end, _ = self.pacer.counted
        if self.pacer.mode == "bucket":
            start = min(end, start + SLACK)
        if granted is not None:  # on Redis's clock, the refused request's grant left out
            return [
                math.ceil(granted - (sent - start) * 1e6),
                math.floor(granted - (sent - end) * 1e6),
            ]
        # In microseconds before now, on whatever clock Redis keeps; the
        # refused request's own grant (and what followed it) left out.
        since, until = now - start + EDGE, now - end + EDGE
        return [math.ceil(since * 1e6), max(0, math.floor(until * 1e6)), "ago"]

    def recount(self, now: float) -> tuple[list[str | int], float] | None:
        """``COUNT_SCRIPT``'s arguments (and the seconds counted) after a 429, else ``None``.

        Taken once: a request that comes while the count is on its way does not count again.
        """
        # (A sleep until then may end a little early: asyncio wakes within its clock's resolution.)
        if self._recount is None or now < self._recount_at - 0.005:
            return None
        recount, self._recount = self._recount, None
        return recount

    def recounted(self, now: float, grants: Any, seconds: float) -> None:
        """The fleet's grants over the stretch: the limit, for everyone."""
        # Granted up to the refused request's own grant, less those the server refused.
        admitted = int(grants[0]) - int(grants[1])
        if admitted > 0 and self.pacer.limit is not None:
            self.pacer.limit = self._known = min(admitted / seconds, self._cap)
            self.pacer.advance(now)
            self._publish = True

    def room_count(self, now: float) -> list[str | int] | None:
        """``COUNT_SCRIPT``'s arguments for the room a long window has left, while it matters."""
        if not self.pacer.catching_up(now) or now < self._look_at:
            return None
        return [math.ceil(self._span(self.pacer.window_seconds) * 1e6), 0, "ago"]

    def room_counted(self, now: float, grants: Any) -> None:
        """The fleet's grants over the last window: what is left, less what goes before the next look."""
        pacer = self.pacer
        if pacer.limit is None:
            return
        size = pacer.limit * pacer.probe * pacer.window_seconds
        pacer.fleet_room = size - (int(grants[0]) - int(grants[1])) - pacer.rate * LOOK_EVERY
        pacer.advance(now)

    def look(self, now: float) -> list[str | int] | None:
        """``FLEET_SCRIPT``'s arguments when it is time to publish or look, else ``None``."""
        if not self._publish and now < self._look_at:
            return None
        # One look at a time, however long its round trip: the requests that
        # come meanwhile wait for none (nor open a connection each, at a cold
        # start). Its answer (or its failure) sets the next.
        self._look_at = math.inf
        pacer = self.pacer
        if self._publish and pacer.limit is not None:
            sent_before = max(0, math.floor((now - pacer.counted[1]) * 1e6))
            return [f"{pacer.limit!r} {pacer.mode} {pacer.window_seconds!r}", sent_before]
        return [""]

    def looked(self, now: float, reply: Any) -> None:
        """What the fleet learned, as Redis has it; newer than ours, it becomes ours."""
        learned, version, taken = text(reply[0]), int(reply[1]), int(reply[2])
        offered, self._publish = self._publish, False
        if not learned:
            self._look_at = now + LOOK_EVERY_UNKNOWN
            return
        self._look_at = now + LOOK_EVERY
        if taken or version > self._version or offered:
            # Ours, or learned elsewhere; or ours was an echo of that: adopt it.
            self._version = version
            if not taken:
                limit, mode, seconds = learned.split()
                self.pacer.adopt(now, float(limit), _mode(mode), float(seconds))
                self._known = float(limit)


def _mode(word: str) -> Mode:
    return "window" if word == "window" else "bucket"
