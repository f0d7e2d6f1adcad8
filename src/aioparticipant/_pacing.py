"""Self-pacing: learn a server's rate limit from its 429s and pace just under it.

``Pacer`` is the learner behind ``rate_limit="auto"``. It does no I/O and
reads no clock: the limiter tells it when a request leaves (``sent``) and
what came back (``answered``), and reads the pace (``rate``, ``burst``) and
any extra wait (``delay``). ``bench/pacing_sim.py`` drives the same class in
virtual time against model servers.

**First contact.** Nothing is known, so few requests are kept in flight: 2,
or 1.25% of those admitted so far (the pace is that over the latency). A
server counting a ten-second window admits ten seconds' worth before its
first 429, and every request then in flight is refused too: keeping about 1%
in flight keeps those 429s to about 1% of the run. Without 429s the pace
doubles every ~55 round trips, up to the client's own concurrency.

**The first 429** says what kind of limit it is, by its ``Retry-After``
(whole seconds, rounded up). Under two seconds, a *short* limit ("R per
second", a token bucket; ``mode == "bucket"``): what was admitted in the last
``Retry-After`` seconds, unless an earlier span as long held clearly more (a
window filled slowly). Two seconds or more, a long *window* (SignalWire's
ten seconds): as long as the time since the first admitted request plus the
``Retry-After`` (never shorter than the truth), holding what was admitted.

**A long window filled slowly.** When first contact took about as long as
a long window (real round trips, a busy client), the window's oldest
requests leave soon after its first 429: the ``Retry-After`` is short and the
limit reads as short, at the rate of the fill's last second. Then the window
admits only what leaves it, the slow start's requests, and refuses the pace
at once. So the next 429 (after a short reading this client made or a fleet
gave it), counting under a quarter of that reading, re-reads the limit as a
long window: the window was full at both 429s, so what entered it between
them is what left it, the requests sent a window earlier; its length is the
longest for which the two match (at most the time since the first request
plus the first ``Retry-After``), its limit what it holds. A count under three
quarters does too if some such length is shorter than that most: a client
barely faster than the window fills it at its top speed, and the window then
replays the start at about half of it.

**Pacing** is 1% under the learned limit, and the pacer logs what the
server's window holds (each request from when it leaves, then from its
answer's time, or out if refused) and never lets more go than fits: the
burst that filled a long window is not repeated when it slides. For one
window after its first 429 the room left is spent within half a window (at
most twice the pace); then the pace is even.

**Later 429s.** The limit is what was sent in the part of the window that
will still be there when it admits again (``Retry-After`` says when). On a
short limit, a 429 at our own pace with the window as full as ever cuts the
limit 2%; twice running, the limit is a bucket (it let a burst through on
top of its rate), and from then on it is what was admitted between 429s,
per second, or the best ``admitted / (span + Retry-After)`` over spans
ending at the 429 when probing. A 429 without ``Retry-After`` counts as
``Retry-After: 1`` and holds new requests for that second; 429s for requests
sent before the previous 429 came back are its echoes.

**Probing.** After 20 quiet seconds of using the full pace (two window
lengths on a window; from the end of the 429's pause, in every process of a
fleet), the pace rises ½%, 1%, 2%, 4%, ... (at most 25%) every two
seconds until a 429 says where the limit is. A probe that finds the same
limit again doubles the quiet time (up to 80 s), so a steady limit costs one
429 a minute or so and a raised one is found within a minute or two.
``limit`` changes only at a 429.
"""

from __future__ import annotations

import math

from ._pacing_logs import AdmittedHistory, WindowLog
from ._pacing_probe import Probing
from ._pacing_settings import (
    ASSUMED_RETRY_AFTER,
    BURST_SECONDS,
    CATCH_UP,
    FIRST_LATENCY,
    LATENCY_WEIGHT,
    MARGIN,
    SAME_LIMIT,
    SLACK,
    START_IN_FLIGHT,
    START_SHARE,
    WINDOW_RETRY_AFTER,
    Mode,
)
from ._pacing_short import Event, ShortLimit, replayed_window

__all__ = ["Mode", "Pacer"]


class Pacer:
    """Learns a server's rate limit from its answers and tells the limiter how fast to go.

    Every method takes ``now`` (seconds on the limiter's clock). ``rate`` and
    ``burst`` are token-bucket settings; ``delay(now)`` is an extra wait;
    ``limit`` is the learned limit (``None`` before the first 429), or the
    one given for a warm start.
    """

    def __init__(self, limit: float | None = None, *, now: float = 0.0, gated: bool = True) -> None:
        # gated=False: others share the limit (a fleet), so this process's own
        # log is not the window's; the fleet's shared pacing keeps it instead.
        self.gated = gated
        #: The stretch the latest limit was counted over: (start, end, seconds).
        self.counted = (0.0, 0.0, 1.0)
        #: gated=False: the room left in the window, as the fleet last counted it.
        self.fleet_room = 0.0
        self.mode: Mode = "start"
        self.limit: float | None = None
        self.rate = START_IN_FLIGHT / FIRST_LATENCY
        self.burst = math.ceil(START_IN_FLIGHT)
        self.latency: float | None = None
        self.admitted = 0
        self.refused = 0  # 429 answers
        self.events = 0  # 429s that taught something (not echoes)
        self._probing = Probing()
        self._first_sent: float | None = None
        self._history = AdmittedHistory()
        self._event = Event()
        self._first_short = False  # that 429 was the first, read (or adopted) as a short limit
        self._short = ShortLimit()
        self._window: WindowLog | None = None
        self._catch_up_until = self._hold_until = -math.inf
        if limit is not None:  # a warm start: no first contact, probing as usual
            self.limit, self.mode = float(limit), "bucket"
            self._probing.restart(now, self._probing.quiet, 0)
            self.advance(now)

    def __repr__(self) -> str:
        limit = "unknown" if self.limit is None else f"{self.limit:.1f}/s"
        return f"Pacer(mode={self.mode}, limit={limit}, rate={self.rate:.1f}/s)"

    @property
    def probe(self) -> float:
        """The pace's factor over the limit's: 1.0, or more while probing."""
        return self._probing.factor

    @property
    def window_seconds(self) -> float:
        """The length of the learned limit's window in seconds (0.0 before the first 429)."""
        return 0.0 if self._window is None else self._window.seconds

    # --- what the limiter tells us -------------------------------------------

    def sent(self, now: float) -> None:
        """A request was let go."""
        if self._window is not None:
            self._window.sent(now)

    def answered(
        self,
        now: float,
        status: int,
        latency: float,
        retry_after: float | None = None,
        *,
        sent: float | None = None,
    ) -> None:
        """An answer ``status``, ``latency`` s after its request left (at ``sent``, if kept)."""
        latency = max(0.0, latency)
        old = latency if self.latency is None else self.latency
        weight = max(LATENCY_WEIGHT, 1 / (1 + self.admitted + self.refused))
        self.latency = old + weight * (latency - old)
        sent_at, exact = (now - latency, False) if sent is None else (sent, True)
        window = self._window
        if status != 429:
            self.admitted += 1
            self._history.add(sent_at)
            if self._first_sent is None:
                self._first_sent = sent_at
            if window is not None:
                if sent_at < window.opened:
                    self._admitted_late(now)
                else:
                    window.answered(sent_at, now, admitted=True, exact=exact)
            if self.mode == "start" and self.latency > 0:
                in_flight = max(START_IN_FLIGHT, START_SHARE * self.admitted)
                self.rate = in_flight / self.latency
                self.burst = math.ceil(in_flight)
            return
        self.refused += 1
        if window is not None and sent_at >= window.opened:
            window.answered(sent_at, now, admitted=False, exact=exact)
        if sent_at >= self._event.at:
            self._learn(now, sent_at, ASSUMED_RETRY_AFTER if retry_after is None else retry_after)
        elif window is not None and self.mode == "window" and retry_after and self.events == 1:
            # An echo of the first 429 may bound the first window more tightly.
            first = self._first_sent if self._first_sent is not None else sent_at
            seconds = sent_at - first + retry_after
            if self.limit is not None and 1.0 <= seconds < window.seconds:
                self.limit *= window.seconds / seconds
                window.seconds = seconds

    def adopt(self, now: float, limit: float, mode: Mode, seconds: float) -> None:
        """Take a limit learned elsewhere (another process on a shared key) as our own."""
        if self._window is None or self._window.seconds != seconds:
            self._window = WindowLog(seconds, [], opened=now)
        if mode == "window" and self.limit is None:  # spend the room left, as its learner does
            self._catch_up_until = now + 2 * seconds
        if mode == "bucket" and self.limit is None:  # our next 429 may show a slow long window
            self._first_short, self._event.sent, self._event.wait = True, now, seconds
            self._event.count = self._history.count(now - seconds, now) / seconds
        self.limit, self.mode = limit, mode
        # 429s for requests already on their way are echoes of what was learned.
        self._event.at = max(self._event.at, now)
        # Quiet from the end of a pause that holds us, as the learner counts it:
        # the fleet probes as one client, not first at the earliest adopter's time.
        quiet = max(self._probing.quiet, 2 * seconds if mode == "window" else 0.0)
        self._probing.restart(max(now, self._hold_until), quiet, self.admitted)
        self.advance(now)

    def hold(self, now: float, seconds: float) -> None:
        """Let nothing go for ``seconds`` (a shared pause)."""
        self._hold_until = max(self._hold_until, now + seconds)

    # --- what the limiter asks -----------------------------------------------

    def advance(self, now: float) -> None:
        """Bring ``rate`` and ``burst`` up to ``now`` (probing, the window's room)."""
        if self.limit is None:
            return
        self._probing.advance(now, self.admitted, self.rate)
        pace = self.limit * self.probe * (1 - MARGIN)
        self.rate = pace
        self.burst = max(1, math.ceil(pace * BURST_SECONDS))
        if self.catching_up(now):
            assert self._window is not None
            room = self._window_room(now) if self.gated else self.fleet_room
            room = max(0.0, room)
            self.rate = min(CATCH_UP * pace, pace + CATCH_UP * room / self._window.seconds)

    def catching_up(self, now: float) -> bool:
        """Whether the room a long window has left after its first 429 is being spent."""
        return self.mode == "window" and now < self._catch_up_until

    def delay(self, now: float) -> float:
        """Seconds the next request must wait before it takes a token (0.0: none)."""
        wait = self._hold_until - now
        if self.gated and self._window is not None and self._window_room(now) < 1:
            frees_at = self._window.expire(now, SLACK)
            wait = max(wait, (now if frees_at is None else frees_at) - now, 1e-3)
        return max(0.0, wait)

    # --- learning ------------------------------------------------------------

    def _learn(self, now: float, sent_at: float, retry_after: float) -> None:
        self.events += 1
        first_short, self._first_short = self._first_short, False
        self.hold(now, retry_after)
        window = self._window
        if window is None:
            counted = self._open_window(now, sent_at, retry_after)
            self._first_short = self.mode == "bucket"
        else:
            counted = self._read_again(now, sent_at, retry_after, window, first_short)
        limit = max(counted, 1 / retry_after)
        same = self.limit is not None and abs(limit - self.limit) <= SAME_LIMIT * self.limit
        self._probing.found(same)
        self.limit = limit
        self._event = Event(now, sent_at, self.admitted, retry_after, counted)
        # A probe that finds a long window's limit costs a pause the window
        # does not give back: probe a long window less often.
        quiet = self._probing.quiet
        if self.mode != "bucket":
            quiet = max(quiet, 2 * self.window_seconds)
        self._probing.restart(now + retry_after, quiet, self.admitted)
        self.advance(now)

    def _read_again(
        self, now: float, sent_at: float, retry_after: float, window: WindowLog, first_short: bool
    ) -> float:
        """A 429 after the first: the limit, from what the learned window holds."""
        # The window admits again once what was sent in its first (Retry-After)
        # seconds has left; what is left is its size. Retry-After is rounded
        # up: the true wait may be up to a second shorter.
        seconds = window.seconds
        start = sent_at + retry_after - 1 - seconds
        counted = window.count(start, sent_at) / seconds
        self.counted = (start, sent_at, seconds)
        if first_short and self._first_sent is not None:
            slow = replayed_window(
                self._history, self._first_sent, self._event, now, sent_at, counted
            )
            if slow is not None:  # a long window after all: what it holds, as at a first 429
                return self._read_window(now, sent_at, retry_after, slow, "window")
        if self.mode != "bucket":
            return counted
        assert self.limit is not None
        event = self._event
        refill = (self.admitted - event.admitted) / (now - event.at)
        best = None
        if self.probe > 1:
            best = self._history.best_rate(sent_at, event.sent, retry_after)
        return self._short.read(self.limit, counted, refill, best)

    # --- the window ----------------------------------------------------------

    def _open_window(self, now: float, sent_at: float, retry_after: float) -> float:
        """The first 429: the server's window is full of what it admitted. Its limit."""
        waits_long = retry_after >= WINDOW_RETRY_AFTER
        if waits_long or (self.gated and self._history.outdone(sent_at, retry_after)):
            # A long window, filled from the start: as long as we have been
            # admitted plus the wait (never shorter: Retry-After is rounded up).
            # Or filled slowly: an earlier span as long as the wait held more (a
            # short limit would have refused then; a process sees only its own).
            first = self._first_sent if self._first_sent is not None else sent_at
            seconds = max(1.0, sent_at - first + retry_after)
            return self._read_window(now, sent_at, retry_after, seconds, "window")
        # A short limit (a bucket holding a second's worth, a one-second
        # window): as long as the wait.
        return self._read_window(now, sent_at, retry_after, retry_after, "bucket")

    def _read_window(
        self, now: float, sent_at: float, retry_after: float, seconds: float, mode: Mode
    ) -> float:
        """The server's window, ``seconds`` long, is full of what it admitted: its limit.

        From now on every request is logged as it leaves; a long window's room
        left is spent for a window after the pause.
        """
        self.mode = mode
        if mode == "window":
            self._catch_up_until = now + retry_after + seconds
        times = self._history.times(sent_at - seconds, sent_at)
        window = self._window = WindowLog(seconds, times, opened=now)
        self.counted = (sent_at - seconds, sent_at, seconds)
        return len(window) / seconds

    def _admitted_late(self, now: float) -> None:
        """Admitted before the first 429, answered after: it is in the window too."""
        assert self._window is not None
        assert self.limit is not None
        if self.events == 1 and self.mode == "window":
            self.limit += 1 / self._window.seconds
        self._window.insert(now)

    def _window_room(self, now: float) -> float:
        """How many more requests the window takes now."""
        assert self._window is not None
        assert self.limit is not None
        self._window.expire(now, SLACK)
        size = self.limit * self.probe * self._window.seconds
        return size - len(self._window) + 1e-6
