"""The self-pacing learner, in virtual time: no clock, no I/O, fully deterministic."""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable

import pytest

from aioparticipant._pacing import Pacer
from aioparticipant._pacing_logs import WindowLog
from aioparticipant._pacing_settings import (
    ASSUMED_RETRY_AFTER,
    MARGIN,
    PROBE_FIRST,
    QUIET,
    START_IN_FLIGHT,
    START_SHARE,
)
from aioparticipant._pacing_short import ShortLimit

# --- model servers and a driver -------------------------------------------------


class Bucket:
    """The emulator's limit: capacity ``rate``, refilled at ``rate`` per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = 0.0

    def admit(self, now: float) -> tuple[int, float | None]:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 200, None
        return 429, float(max(1, math.ceil((1 - self.tokens) / self.rate)))


class Window:
    """SignalWire's limit: at most ``rate * seconds`` in any ``seconds``."""

    def __init__(self, rate: float, seconds: float = 10.0) -> None:
        self.rate = rate
        self.seconds = seconds
        self.admitted: deque[float] = deque()

    def admit(self, now: float) -> tuple[int, float | None]:
        size = int(self.rate * self.seconds)
        while self.admitted and self.admitted[0] <= now - self.seconds:
            self.admitted.popleft()
        if len(self.admitted) < size:
            self.admitted.append(now)
            return 200, None
        frees_at = self.admitted[len(self.admitted) - size] + self.seconds
        return 429, float(max(1, math.ceil(frees_at - now)))


class Run:
    def __init__(self) -> None:
        self.sent = 0
        self.limited = 0
        self.admitted_at: list[float] = []


def drive(
    pacer: Pacer,
    server: Bucket | Window,
    *,
    until: float,
    latency: float = 0.01,
    start: float = 0.0,
    run: Run | None = None,
    most: Callable[[float], float] = lambda now: math.inf,
) -> Run:
    """Send as fast as the pacer allows (a token bucket at its rate and burst), at most ``most(now)``/s."""
    run = run or Run()
    answers: list[tuple[float, float, int, float | None]] = []
    now, tokens, updated = start, float(pacer.burst), start
    while now < until:
        while answers and answers[0][0] <= now:
            at, sent, status, retry_after = heapq.heappop(answers)
            pacer.answered(at, status, at - sent, retry_after)
            if status == 429:
                run.limited += 1
            else:
                run.admitted_at.append(at)
        pacer.advance(now)
        wait = pacer.delay(now)
        rate = min(pacer.rate, most(now))
        tokens = min(float(pacer.burst), tokens + (now - updated) * rate)
        updated = now
        if wait <= 0 and tokens >= 1 - 1e-9:
            tokens -= 1
            pacer.sent(now)
            run.sent += 1
            status, retry_after = server.admit(now + latency / 2)
            heapq.heappush(answers, (now + latency, now, status, retry_after))
            continue
        if wait <= 0:
            wait = (1 - tokens) / rate
        step = min(wait, 0.01)
        if answers:
            step = min(step, max(answers[0][0] - now, 0.0))
        now += max(step, 1e-6)
    return run


def admitted_rate(run: Run, start: float, end: float) -> float:
    return sum(1 for at in run.admitted_at if start <= at < end) / (end - start)


# --- first contact ------------------------------------------------------------------


def test_before_any_answer_two_requests_may_go() -> None:
    pacer = Pacer()
    assert pacer.mode == "start"
    assert pacer.limit is None
    assert pacer.burst == START_IN_FLIGHT
    assert pacer.delay(0.0) == 0.0


def test_first_contact_keeps_a_small_share_of_the_admitted_in_flight() -> None:
    pacer = Pacer()
    for index in range(10):
        pacer.answered(0.01 * (index + 1), 200, 0.01)
    assert pacer.rate == pytest.approx(START_IN_FLIGHT / 0.01)  # two in flight at 10 ms
    for index in range(990):
        pacer.answered(1.0 + 0.001 * index, 200, 0.01)
    assert pacer.rate == pytest.approx(START_SHARE * 1000 / 0.01, rel=0.01)


def test_a_short_retry_after_means_a_one_second_limit_and_its_rate_is_learned() -> None:
    pacer = Pacer()
    run = drive(pacer, Window(50, seconds=1.0), until=5.0)
    assert pacer.mode == "bucket"
    assert pacer.limit == pytest.approx(50, abs=1)
    assert pacer.limit is not None
    assert pacer.rate == pytest.approx(pacer.limit * (1 - MARGIN))
    assert run.limited <= 3


def test_a_long_retry_after_means_a_window_and_its_size_is_learned() -> None:
    pacer = Pacer()
    run = drive(pacer, Window(50), until=3.0)
    assert pacer.mode == "window"
    assert pacer.limit is not None
    # 500 admitted in a window measured as 10 to 11 s (Retry-After is rounded up).
    assert 500 / 11 <= pacer.limit <= 50.5
    assert run.limited <= START_SHARE * 500 + 2  # those in flight when the window filled
    # Nothing more goes until the window moves.
    assert pacer.delay(3.0) > 6.0


def test_a_window_is_not_refilled_faster_than_it_empties() -> None:
    pacer = Pacer()
    run = drive(pacer, Window(50), until=40.0)
    assert run.limited <= START_SHARE * 500 + 2  # the first contact only
    assert pacer.events == 1
    # The first window's length is known to a second (Retry-After is rounded up):
    # until a probe finds better, the pace may be up to 10% low.
    assert admitted_rate(run, 10.0, 40.0) >= 0.85 * 50


def test_requests_sent_before_the_first_429_came_back_are_echoes() -> None:
    pacer = Pacer()
    for index in range(100):
        pacer.answered(0.001 * index, 200, 0.01)
    pacer.answered(0.2, 429, 0.01, 1.0)
    pacer.answered(0.2005, 429, 0.01, 1.0)  # sent before the first 429 was back
    assert pacer.events == 1
    assert pacer.refused == 2


def test_a_429_without_retry_after_holds_new_requests_for_a_second() -> None:
    pacer = Pacer()
    for index in range(100):
        pacer.answered(0.001 * index, 200, 0.01)
    pacer.answered(0.2, 429, 0.01, None)
    assert pacer.mode == "bucket"
    assert pacer.delay(0.2) == pytest.approx(ASSUMED_RETRY_AFTER)
    assert pacer.delay(0.2 + ASSUMED_RETRY_AFTER) == 0.0


def test_a_one_second_window_is_never_overfilled_after_the_first_429() -> None:
    pacer = Pacer()
    server = Window(50, seconds=1.0)
    sends: list[float] = []
    admit = server.admit

    def counting(now: float) -> tuple[int, float | None]:
        sends.append(now)
        return admit(now)

    server.admit = counting  # type: ignore[method-assign]
    run = drive(pacer, server, until=30.0)
    assert pacer.mode == "bucket"
    assert run.limited <= 3  # the first contact only
    first_pause_over = 2.0
    later = [at for at in sends if at > first_pause_over]
    busiest = max(sum(1 for other in later if at - 1.0 < other <= at) for at in later[::7])
    assert busiest <= 50


def test_a_bucket_overestimated_at_first_contact_is_corrected_by_its_refill() -> None:
    # Ramping up slowly (10 ms answers), the first 429 finds a bucket that let a
    # second's worth through on top of its refill: the one-second count says 2R.
    pacer = Pacer()
    run = drive(pacer, Bucket(100), until=15.0)
    assert pacer.limit is not None
    assert 90 <= pacer.limit <= 101
    assert pacer.events <= 4  # the first, a small cut, then the refill
    assert run.limited <= 0.01 * run.sent


# --- steady state, probing, changes -----------------------------------------------


@pytest.mark.parametrize(
    "server", [Window(50, 1.0), Window(50), Bucket(50)], ids=["window1", "window10", "bucket"]
)
def test_the_pace_settles_just_under_the_limit_with_few_429s(server: Bucket | Window) -> None:
    pacer = Pacer()
    run = drive(pacer, server, until=60.0)
    assert run.limited <= 0.01 * run.sent
    assert admitted_rate(run, 20.0, 60.0) >= 0.9 * 50
    assert pacer.limit is not None
    assert 0.9 * 50 <= pacer.limit <= 1.05 * 50


def test_probing_starts_after_quiet_seconds_of_full_use() -> None:
    pacer = Pacer(100.0)
    start_rate = pacer.rate
    for index in range(int(QUIET * 100)):
        pacer.answered(0.01 * index, 200, 0.01)
    pacer.advance(QUIET - 0.01)
    assert pacer.rate == start_rate
    pacer.advance(QUIET)
    # The first step is half the margin: the pace reaches the limit only at the second.
    assert pacer.rate == pytest.approx(start_rate * (1 + PROBE_FIRST))
    assert pacer.limit is not None
    assert pacer.rate < pacer.limit
    for index in range(200):
        pacer.answered(QUIET + 0.01 * index, 200, 0.01)
    pacer.advance(QUIET + 2.0)
    assert pacer.rate == pytest.approx(start_rate * (1 + PROBE_FIRST) * (1 + 2 * PROBE_FIRST))
    assert pacer.rate > pacer.limit
    assert pacer.limit == 100.0  # the learned limit moves only at a 429


def test_a_process_that_adopts_a_limit_within_a_pause_probes_when_its_learner_does() -> None:
    # Its learner's quiet starts when the 429's pause ends: so does the
    # adopter's, or the fleet probes (and meets a 429, and pauses) a pause early.
    learner, adopter = Pacer(gated=False), Pacer(gated=False)
    for pacer in (learner, adopter):
        for index in range(100):
            pacer.answered(0.01 * index, 200, 0.01)
    learner.answered(1.0, 429, 0.01, 1.0)
    adopter.hold(1.0, 1.0)  # the same 429's shared pause
    assert learner.limit is not None
    adopter.adopt(1.02, learner.limit, learner.mode, learner.window_seconds)
    for pacer in (learner, adopter):
        for index in range(int(QUIET * 100) + 100):
            pacer.answered(2.0 + 0.01 * index, 200, 0.01)
        pacer.advance(2.0 + QUIET - 0.01)
        assert pacer.probe == 1.0
        pacer.advance(2.0 + QUIET + 0.01)
        assert pacer.probe > 1.0


def test_an_idle_client_does_not_probe() -> None:
    pacer = Pacer(100.0)
    pacer.advance(60.0)
    assert pacer.probe == 1.0


def test_a_raised_limit_is_found() -> None:
    pacer = Pacer()
    server = Bucket(50)
    run = drive(pacer, server, until=20.0)
    server.rate = 100
    drive(pacer, server, until=70.0, start=20.0, run=run)
    assert pacer.limit is not None
    assert pacer.limit >= 0.9 * 100
    assert admitted_rate(run, 60.0, 70.0) >= 0.85 * 100


@pytest.mark.parametrize(
    "server", [Window(100, 1.0), Window(100), Bucket(100)], ids=["window1", "window10", "bucket"]
)
def test_a_lowered_limit_is_found(server: Bucket | Window) -> None:
    pacer = Pacer()
    run = drive(pacer, server, until=20.0)
    server.rate = 50
    drive(pacer, server, until=50.0, start=20.0, run=run)
    assert pacer.limit is not None
    assert 0.85 * 50 <= pacer.limit <= 1.05 * 50
    late_429s, late_sent = run.limited, run.sent
    drive(pacer, server, until=60.0, start=50.0, run=run)
    assert run.limited - late_429s <= 0.01 * (run.sent - late_sent) + 2  # settled


def test_a_warm_start_paces_at_once_without_a_first_contact() -> None:
    pacer = Pacer(40.0)
    assert pacer.mode == "bucket"
    assert pacer.rate == pytest.approx(40.0 * (1 - MARGIN))
    run = drive(pacer, Bucket(50), until=20.0)
    assert run.limited == 0


def test_a_process_that_adopts_a_long_window_spends_the_room_left_as_its_learner_does() -> None:
    # A fleet: another process learned a ten-second window and catches up on
    # the room its first burst left; one that adopts it must too, or the fleet
    # paces evenly while only the learner spends that room.
    adopter = Pacer(gated=False)
    adopter.adopt(100.0, 20.0, "window", 10.5)
    assert adopter.catching_up(100.0)
    assert adopter.catching_up(120.0)
    assert not adopter.catching_up(121.1)
    # A limit adopted later (another lesson of the same fleet) does not start it again.
    adopter.adopt(130.0, 19.0, "window", 10.5)
    assert not adopter.catching_up(130.0)


def test_a_cold_first_answer_does_not_slow_first_contact_for_long() -> None:
    # The first request pays for a new connection and a cold server: 50 ms,
    # then 5 ms each. First contact paces by the latency, so it must fade fast.
    pacer = Pacer()
    pacer.answered(1.0, 200, 0.05)
    for at in range(9):
        pacer.answered(1.1 + at / 100, 200, 0.005)
    assert pacer.latency is not None
    assert pacer.latency < 0.012  # a plain mean so far; a moving average alone: 22 ms
    assert pacer.rate > START_IN_FLIGHT / 0.012


# --- answers out of order -----------------------------------------------------------


def test_an_answer_moves_its_own_requests_entry_in_the_window_log() -> None:
    log = WindowLog(1.0, [], opened=0.0)
    log.sent(0.000)  # A
    log.sent(0.001)  # B, answered first
    log.answered(0.001, 0.004, admitted=True, exact=True)
    log.answered(0.000, 0.006, admitted=True, exact=True)
    # Both are logged at their answers; A's departure is gone, B's answer stays.
    assert log.count(-1.0, 0.0035) == 0
    assert log.count(0.0035, 0.0045) == 1
    assert len(log) == 2


def test_answers_out_of_order_never_let_the_window_overfill() -> None:
    # Latencies of 1-9 ms: answers overtake one another. Every answer names
    # its own send time (as the limiters do), so the log holds what the server's
    # window holds and nothing is refused after the first contact, until the
    # first probe (20 quiet seconds). Matched by latency alone, an answer could
    # move another's entry, and the window overfilled a few seconds in.
    randoms = random.Random(7)
    pacer = Pacer()
    server = Window(200, seconds=1.0)
    answers: list[tuple[float, float, int, float | None]] = []
    now, tokens, updated, later_refusals = 0.0, 2.0, 0.0, 0
    while now < QUIET:
        while answers and answers[0][0] <= now:
            at, sent, status, retry_after = heapq.heappop(answers)
            pacer.answered(at, status, at - sent, retry_after, sent=sent)
            later_refusals += status == 429 and at > 3.0
        pacer.advance(now)
        tokens = min(float(pacer.burst), tokens + (now - updated) * pacer.rate)
        updated = now
        if pacer.delay(now) <= 0 and tokens >= 1 - 1e-9:
            tokens -= 1
            pacer.sent(now)
            latency = randoms.uniform(0.001, 0.009)
            status, retry_after = server.admit(now + randoms.uniform(0.0, latency))
            heapq.heappush(answers, (now + latency, now, status, retry_after))
            continue
        now += 0.0005
    assert pacer.limit == pytest.approx(200, rel=0.01)
    assert later_refusals == 0


def test_a_long_window_filled_more_slowly_than_its_length_is_not_taken_for_a_bucket() -> None:
    # A client held to 150/s, then to 90/s (a busy machine), fills a ten-second
    # window of 1,000 only after 9 s: the first 429's Retry-After is 1 s, as a
    # one-second limit's would be. But a one-second limit of 90 would have
    # refused in the first seconds, which held 150: it is a long window.
    pacer = Pacer()
    run = drive(pacer, Window(100), until=60.0, most=lambda now: 150.0 if now < 3.0 else 90.0)
    assert pacer.mode == "window"
    assert pacer.limit is not None
    assert 0.85 * 100 <= pacer.limit <= 1.05 * 100
    assert run.limited <= 0.01 * run.sent
    assert admitted_rate(run, 20.0, 60.0) >= 0.9 * 100


def test_a_bucket_met_by_a_client_at_its_fastest_is_still_a_bucket() -> None:
    # The same slow client against a one-second limit: its last second is its
    # busiest, as always at a short limit's first 429.
    pacer = Pacer()
    drive(pacer, Window(100, 1.0), until=10.0, most=lambda now: 110.0)
    assert pacer.mode == "bucket"
    assert pacer.limit is not None
    assert 0.95 * 100 <= pacer.limit <= 1.05 * 100


@pytest.mark.parametrize(("rate", "latency"), [(200, 0.05), (500, 0.03)])
def test_a_long_window_whose_slow_start_took_its_length_is_not_learned_from_the_replay(
    rate: float, latency: float
) -> None:
    # At real round trips the cautious start fills a ten-second window only
    # after about ten seconds: the first 429 has Retry-After 1 and reads as a
    # short limit at the rate of the fill's last second. Then the window admits
    # only what leaves it, the slow start's requests, and the next 429 counts a
    # few. That is the window replaying its start, not a limit of a few a second.
    pacer = Pacer()
    run = drive(pacer, Window(rate), until=60.0, latency=latency)
    assert pacer.mode == "window"
    assert pacer.limit is not None
    assert 0.85 * rate <= pacer.limit <= rate
    assert 9.0 <= pacer.window_seconds <= 11.0
    assert admitted_rate(run, 30.0, 60.0) >= 0.85 * rate


def test_a_long_window_filled_slowly_by_a_client_barely_faster_than_it_is_found_too() -> None:
    # 64 requests in flight at 50 ms: the client tops out at 1,280 a second,
    # just over a ten-second window of 1,000. Its last second before the first
    # 429 is its top speed (the short reading), and the window then replays
    # the start at about half that: not under a quarter, but what entered the
    # window matches what was sent about ten seconds earlier.
    pacer = Pacer()
    run = drive(pacer, Window(1000), until=60.0, latency=0.05, most=lambda now: 1280.0)
    assert pacer.mode == "window"
    assert pacer.limit is not None
    assert 0.9 * 1000 <= pacer.limit <= 1000
    assert admitted_rate(run, 40.0, 60.0) >= 0.85 * 1000


def test_a_second_429_after_a_first_that_counted_nothing_is_read_as_usual() -> None:
    # Admitted long ago, then refused after an idle spell: the first reading
    # counted nothing in its second (the limit is then one per Retry-After).
    pacer = Pacer()
    pacer.sent(0.0)
    pacer.answered(0.01, 200, 0.01)
    pacer.sent(5.0)
    pacer.answered(5.01, 429, 0.01, 1.0)
    assert pacer.limit == 1.0
    pacer.sent(6.2)
    pacer.answered(6.21, 429, 0.01, 1.0)
    assert pacer.mode == "bucket"
    assert pacer.limit == 1.0


def test_a_process_that_adopted_the_short_reading_finds_the_slow_long_window_too() -> None:
    # In a fleet the first 429 may teach another process: this one adopts its
    # short reading, and the next 429, the window replaying its start, is its own.
    class Adopting(Pacer):
        def _learn(self, now: float, sent_at: float, retry_after: float) -> None:
            if self.limit is None:  # another process learned from this 429 first
                self.hold(now, retry_after)
                self.adopt(now, self._history.count(sent_at - 1.0, sent_at), "bucket", 1.0)
                return
            super()._learn(now, sent_at, retry_after)

    pacer = Adopting()
    drive(pacer, Window(200), until=30.0, latency=0.05)
    assert pacer.mode == "window"
    assert 9.0 <= pacer.window_seconds <= 11.0
    assert pacer.counted[2] == pacer.window_seconds
    assert pacer.limit is not None
    assert 0.85 * 200 <= pacer.limit <= 200


def test_a_short_limit_refused_twice_at_the_safe_pace_is_a_bucket_paced_at_its_refill() -> None:
    short = ShortLimit()
    # Not probing (no best rate): once may be the window's edge. Cut 2%, keep it a window.
    assert short.read(200.0, 199.0, 150.0, None) == pytest.approx(199.0 * 0.98)
    assert not short.refilling
    # Twice running: a bucket, whose refill (here under the count) is its limit.
    assert short.read(195.0, 196.0, 150.0, None) == 150.0
    assert short.refilling
    # From now on the refill is the limit, or the best rate seen while probing.
    assert short.read(150.0, 180.0, 149.0, None) == 149.0
    assert short.read(150.0, 180.0, 149.0, 170.0) == 170.0


def test_a_short_limit_counted_well_under_the_pace_is_taken_as_counted() -> None:
    short = ShortLimit()
    assert short.read(200.0, 199.0, 150.0, None) == pytest.approx(199.0 * 0.98)
    # A count far under the pace (a lowered limit) is the limit, and ends the streak:
    assert short.read(195.0, 120.0, 150.0, None) == 120.0
    assert short.read(120.0, 119.0, 100.0, None) == pytest.approx(119.0 * 0.98)
    assert not short.refilling
    # A probe's 429 (a best rate is known) is what the probe found, not a reason to cut.
    assert short.read(120.0, 125.0, 100.0, 0.0) == 125.0
