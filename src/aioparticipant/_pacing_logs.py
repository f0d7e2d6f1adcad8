"""What the pacer remembers: admitted requests by send time, and a window's contents.

Both are plain data structures on the caller's clock, with no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["AdmittedHistory", "WindowLog"]

#: Admissions are counted in bins this wide (seconds) ...
BIN: Final = 0.01
#: ... for this long.
HISTORY: Final = 60.0
#: An earlier span "clearly" held more when it held this share more (and 2) ...
OUTDONE: Final = 1.03
#: ... and ended this long (seconds) before the last one, not with it.
EARLIER: Final = 0.1


class AdmittedHistory:
    """How many admitted requests were sent when: bins of ``BIN`` seconds, ``HISTORY`` long."""

    def __init__(self) -> None:
        self._bins: deque[list[int]] = deque()  # [bin number, count], oldest first

    def add(self, sent_at: float) -> None:
        number = math.floor(sent_at / BIN)
        bins = self._bins
        position = len(bins)
        # Answers come back nearly in the order the requests went out: look from the end.
        while position and bins[position - 1][0] > number:
            position -= 1
        if position and bins[position - 1][0] == number:
            bins[position - 1][1] += 1
        else:
            bins.insert(position, [number, 1])
        while bins[0][0] < number - HISTORY / BIN:
            bins.popleft()

    def best_rate(self, before: float, after: float, extra_seconds: float) -> float:
        """The largest ``admitted / (span + extra_seconds)`` over spans ``(before - span, before]``.

        Only requests sent after ``after`` count.
        """
        best = 0.0
        total = 0
        for number, count in reversed(self._bins):
            start = number * BIN
            if start > before:
                continue
            if start <= after:
                break
            total += count
            best = max(best, total / (before - start + extra_seconds))
        return best

    def outdone(self, before: float, span: float) -> bool:
        """Whether an earlier ``span`` held clearly more than the one ending at ``before``.

        A short limit refuses as soon as a span holds its size, so the last
        span before its first 429 is the busiest; a long window filled slowly is not.
        """
        width = max(1, round(span / BIN))
        last_bin = math.floor(before / BIN)
        last = sum(count for number, count in self._bins if last_bin - width < number <= last_bin)
        total = busiest = oldest = 0
        bins = list(self._bins)  # indexed from both ends below
        for number, count in bins:
            if number > last_bin - round(EARLIER / BIN):
                break
            total += count
            while bins[oldest][0] <= number - width:
                total -= bins[oldest][1]
                oldest += 1
            busiest = max(busiest, total)
        return busiest >= OUTDONE * last + 2

    def count(self, after: float, before: float) -> int:
        """How many admitted requests were sent in ``(after, before]`` (by their bins)."""
        return sum(count for number, count in self._bins if after < number * BIN <= before)

    def longest_shift(self, after: float, before: float, shortest: float, longest: float) -> float:
        """The longest shift back that leaves ``(after, before]`` holding as many; at most ``longest``.

        With a start that grew, a longer shift finds fewer: the first shift
        from ``shortest`` up that finds fewer is the answer (to a millisecond).
        ``longest`` when the longest finds as many, or the shortest finds fewer.
        """
        entered = self.count(after, before)
        low, high = shortest, longest
        if self.count(after - high, before - high) >= entered or (
            self.count(after - low, before - low) < entered
        ):
            return longest
        while high - low > 0.001:
            middle = (low + high) / 2
            if self.count(after - middle, before - middle) >= entered:
                low = middle
            else:
                high = middle
        return high

    def times(self, after: float, before: float) -> list[float]:
        """A send time for each admitted request sent in ``(after, before]`` (its bin's end)."""
        return [
            (number + 1) * BIN
            for number, count in self._bins
            if after < number * BIN <= before
            for _ in range(count)
        ]


class WindowLog:
    """When the requests a server's sliding window holds got there, at the latest; oldest first.

    A request is logged when it leaves (so those in flight count); when its
    answer comes back it moves to the answer's time (the server counted it
    before then), or out if it was refused. A time leaves the log once it is
    older than ``seconds``.
    """

    def __init__(self, seconds: float, times: list[float], *, opened: float) -> None:
        self.seconds = seconds
        self.opened = opened
        self._times = deque(times)

    def __len__(self) -> int:
        return len(self._times)

    def count(self, after: float, before: float) -> int:
        """How many were sent in ``(after, before]``."""
        return sum(1 for sent in self._times if after < sent <= before)

    def expire(self, now: float, slack: float) -> float | None:
        """Drop what left the window by ``now``; return when the oldest left will leave."""
        times = self._times
        horizon = now - self.seconds - slack
        while times and times[0] <= horizon:
            times.popleft()
        return times[0] + self.seconds + slack if times else None

    def sent(self, now: float) -> None:
        self._times.append(now)

    def insert(self, at: float) -> None:
        """Log a request answered at ``at`` that left before the log was opened."""
        times = self._times
        index = len(times)
        while index and times[index - 1] > at:
            index -= 1
        times.insert(index, at)

    def answered(self, sent_at: float, now: float, *, admitted: bool, exact: bool = False) -> None:
        """The request sent at ``sent_at`` was answered ``now``: admitted, or not (a 429).

        ``exact``: ``sent_at`` is the time ``sent`` logged, so its own entry
        goes, never that of another request answered meanwhile.
        """
        times = self._times
        index = self._entry(lambda at: at == sent_at) if exact else None
        if index is None:  # the latest logged no later than it could have been
            index = self._entry(lambda at: at <= sent_at + _SAME_REQUEST)
        if index is not None:
            del times[index]
        if admitted:
            times.append(now)

    def _entry(self, matches: Callable[[float], bool]) -> int | None:
        """The index of the latest entry that ``matches``, or ``None``."""
        times = self._times
        # Its entry is among the last few: those sent after it are still in flight.
        for index in range(len(times) - 1, -1, -1):
            if matches(times[index]):
                return index
        return None


#: A logged send time and the one an answer implies differ by the clock reads between them.
_SAME_REQUEST: Final = 0.005
