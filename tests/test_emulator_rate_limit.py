"""The emulator's rate limit: at most R×W requests in any W seconds, on a fake clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioparticipant import InvalidParameterError
from aioparticipant.emulator import Emulator
from aioparticipant.emulator._rate_limit import SlidingWindowLimit, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admitted(limit: SlidingWindowLimit, count: int) -> int:
    return sum(limit.take() == 0.0 for _ in range(count))


def test_a_one_second_window_admits_one_seconds_worth_at_once_then_nothing() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(200, clock=clock)
    assert admitted(limit, 500) == 200
    clock.now += 0.999
    assert admitted(limit, 10) == 0
    clock.now += 0.001  # the burst is now a second old
    assert admitted(limit, 500) == 200


def test_signalwires_window_admits_13800_in_ten_seconds_and_not_one_more() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(1380, 10, clock=clock)
    assert limit.capacity == 13_800
    # A thousand a second is under the limit: no ten seconds ever hold more than 10,000.
    passed = 0
    for _ in range(20_000):
        passed += limit.take() == 0.0
        clock.now += 0.001
    assert passed == 20_000
    burst = SlidingWindowLimit(1380, 10, clock=clock)
    assert admitted(burst, 20_000) == 13_800
    clock.now += 9.99
    assert admitted(burst, 10) == 0
    clock.now += 0.01
    assert admitted(burst, 20_000) == 13_800


def test_steady_traffic_at_the_rate_always_passes() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(64, clock=clock)
    passed = 0
    for _ in range(640):  # ten seconds at exactly 64/s (1/64 is exact in binary)
        passed += limit.take() == 0.0
        clock.now += 1 / 64
    assert passed == 640


def test_unlike_a_token_bucket_it_never_lets_2r_through_in_one_second() -> None:
    # A bucket of capacity R refilled at R/s, emptied at t=0, would admit about
    # R more by t=1: 2R in one second. The window admits R, however it is asked.
    clock = FakeClock()
    limit = SlidingWindowLimit(100, clock=clock)
    passed = 0
    for _ in range(1000):  # one request per millisecond for one second
        passed += limit.take() == 0.0
        clock.now += 0.001
    assert passed == 100


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 3.0, 7.5, 20.0]),
    window=st.sampled_from([0.5, 1.0, 2.0, 10.0]),
    # Multiples of 1/1024 s: the clock's arithmetic stays exact, so "exactly the wait" is.
    gaps=st.lists(st.integers(0, 300).map(lambda k: k / 1024), min_size=1, max_size=300),
)
def test_no_window_anywhere_holds_more_than_r_times_w_and_every_wait_is_exact(
    rate: float, window: float, gaps: list[float]
) -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(rate, window, clock=clock)
    times: list[float] = []
    for gap in gaps:
        clock.now += gap
        wait = limit.take()
        if wait == 0.0:
            times.append(clock.now)
            continue
        # Truthful: still refused just before the wait is over, admitted once it is.
        assert wait > 0
        refused_at = clock.now
        clock.now = refused_at + wait * 0.999
        assert limit.take() > 0
        clock.now = refused_at + wait
        assert limit.take() == 0.0
        times.append(clock.now)
    allowed = max(1, math.floor(rate * window))
    span = max(window, 1 / rate)
    for index, start in enumerate(times):
        inside = [t for t in times[index:] if t < start + span]
        assert len(inside) <= allowed


def test_below_one_request_per_window_the_window_stretches_to_keep_the_rate() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(0.5, clock=clock)  # one request per two seconds
    assert admitted(limit, 3) == 1
    assert limit.take() == pytest.approx(2.0)
    clock.now += 2.0
    assert admitted(limit, 3) == 1


def test_a_fractional_allowance_rounds_down_never_up() -> None:
    limit = SlidingWindowLimit(2.5, clock=FakeClock())
    assert limit.capacity == 2
    assert admitted(limit, 5) == 2


@pytest.mark.parametrize(
    ("wait", "header"), [(1e-9, 1), (0.2, 1), (1.0, 1), (1.000001, 2), (9.4, 10)]
)
def test_retry_after_is_whole_seconds_rounded_up_never_earlier_than_the_truth(
    wait: float, header: int
) -> None:
    assert retry_after_seconds(wait) == header
    assert retry_after_seconds(wait) >= wait


def test_the_429_says_when_the_oldest_request_leaves_the_window() -> None:
    clock = FakeClock()
    limit = SlidingWindowLimit(3, 10, clock=clock)  # 30 per 10 s
    assert admitted(limit, 30) == 30
    clock.now += 2.5
    wait = limit.take()
    assert wait == pytest.approx(7.5)
    assert retry_after_seconds(wait) == 8
    clock.now += 8
    assert limit.take() == 0.0


@pytest.mark.parametrize("window", [0, -1, float("inf"), float("nan"), "10", True, None])
def test_a_window_that_is_not_a_positive_number_of_seconds_is_refused(window: object) -> None:
    with pytest.raises(InvalidParameterError, match="rate_window") as caught:
        Emulator(rate_limit=10, rate_window=window)  # type: ignore[arg-type]
    assert caught.value.parameter == "rate_window"
    # Checked without a rate limit too: a typo must not wait for the day it is used.
    with pytest.raises(InvalidParameterError, match="rate_window"):
        Emulator(rate_window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -5, float("inf"), "100", True])
def test_a_rate_limit_that_is_not_a_positive_number_is_refused(rate: object) -> None:
    with pytest.raises(InvalidParameterError, match="rate_limit") as caught:
        Emulator(rate_limit=rate)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_the_emulator_reports_its_limit() -> None:
    emulator = Emulator(rate_limit=1380, rate_window=10)
    assert (emulator.rate_limit, emulator.rate_window) == (1380.0, 10.0)
    assert Emulator().rate_limit is None
    assert Emulator().rate_window == 1.0
