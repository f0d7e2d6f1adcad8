"""A limit first read as short, read again at its next 429: a window, a bucket, or long after all.

See "The first 429", "A long window filled slowly" and "Later 429s" in
``_pacing``. A short limit is first taken for a one-second window; a 429 at
the pace thought safe, twice running, shows a bucket (it let a burst through
on top of its rate); a second count far under the first shows a long window
that a slow start filled, replaying that start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._pacing_logs import AdmittedHistory
from ._pacing_settings import CUT, PARTLY_REPLAYED, REPLAYED, WINDOW_RETRY_AFTER

__all__ = ["Event", "ShortLimit", "replayed_window"]


@dataclass
class Event:
    """The latest 429 that taught the pacer something (or the fleet's limit it took)."""

    at: float = -math.inf  # when its answer came
    sent: float = -math.inf  # when its request left
    admitted: int = 0  # requests admitted by then
    wait: float = 0.0  # its Retry-After
    count: float = 0.0  # the limit as this client's own log counted it


class ShortLimit:
    """What each later 429 says a short limit is: a one-second window until it shows a bucket."""

    def __init__(self) -> None:
        self.cut_last = False  # the latest 429 cut a limit that looked right
        self.refilling = False  # the limit showed itself a bucket, not a window

    def read(self, limit: float, counted: float, refill: float, best_rate: float | None) -> float:
        """The limit after a 429 that counted ``counted`` a second in its window.

        ``limit`` is the one paced at, ``refill`` what was admitted per second
        since the previous 429; ``best_rate`` (while probing, else ``None``)
        the best ``admitted / (span + Retry-After)`` over spans ending at this one.
        """
        if self.refilling:
            # A bucket is empty at a 429, so between two of them it let through
            # no more than its refill; while probing, it let through no more than
            # its rate times (span + Retry-After) over any span ending now (its
            # burst is at most Retry-After seconds' worth). Both are lower bounds.
            return refill if best_rate is None else max(refill, best_rate)
        if best_rate is None and counted > (1 - 3 * CUT) * limit:
            # Refused at the pace we thought safe, the window as full as that pace
            # fills it. Once may be the clocks at the window's edge: cut a little.
            # Twice running, it is a bucket, which lets a burst through on top of
            # its rate: from now on its refill is its limit.
            if self.cut_last:
                self.refilling = True
                return min(counted, refill)
            self.cut_last = True
            return counted * (1 - CUT)
        self.cut_last = False
        return counted


def replayed_window(
    history: AdmittedHistory,
    first_sent: float,
    first: Event,
    now: float,
    sent_at: float,
    counted: float,
) -> float | None:
    """The seconds of the long window a short limit was, or ``None`` if it was short.

    ``first`` is the first 429 read as short, ``counted`` what this one counts
    a second (answered at ``now``, its request sent at ``sent_at``), and
    ``first_sent`` when the first admitted request left. A bucket's second
    count is about its rate, as its first was; a replaying window's is under
    it, and matches what was sent a window earlier.
    """
    longest = first.sent - first_sent + first.wait  # never shorter than the truth
    if (
        longest < WINDOW_RETRY_AFTER
        or now - first.at > longest  # not the next 429 of that window
        or counted >= PARTLY_REPLAYED * first.count
    ):
        return None
    shift = history.longest_shift(first.sent, sent_at, WINDOW_RETRY_AFTER, longest)
    # Not far under: a window only if some shorter shift matches (the start grew).
    return shift if counted < REPLAYED * first.count or shift < longest else None
