"""A limit first read as short, read again at its next 429: a window, a bucket, or long after all.

See "The first 429", "A long window filled slowly" and "Later 429s" in
``_pacing``. A short limit is first taken for a one-second window; a 429 at
the pace thought safe, twice running, shows a bucket (it let a burst through
on top of its rate); a second count far under the first shows a long window
that a slow start filled, replaying that start.
"""

from __future__ import annotations

from collections.abc import Callable

from ._pacing_logs import AdmittedHistory
from ._pacing_settings import CUT, PARTLY_REPLAYED, REPLAYED, WINDOW_RETRY_AFTER

__all__ = ["ShortLimit", "replayed_window"]


class ShortLimit:
    """What each later 429 says a short limit is: a one-second window until it shows a bucket."""

    def __init__(self) -> None:
        self.cut_last = False  # the latest 429 cut a limit that looked right
        self.refilling = False  # the limit showed itself a bucket, not a window

    def read(
        self,
        limit: float,
        counted: float,
        refill: float,
        probing: bool,
        best_rate: Callable[[], float],
    ) -> float:
        """The limit after a 429 that counted ``counted`` a second in its window.

        ``limit`` is the one paced at, ``refill`` what was admitted per second
        since the previous 429, ``best_rate`` the best ``admitted / (span +
        Retry-After)`` over spans ending at this one.
        """
        if self.refilling:
            # A bucket is empty at a 429, so between two of them it let through
            # no more than its refill; while probing, it let through no more than
            # its rate times (span + Retry-After) over any span ending now (its
            # burst is at most Retry-After seconds' worth). Both are lower bounds.
            return max(refill, best_rate()) if probing else refill
        if not probing and counted > (1 - 3 * CUT) * limit:
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
    first: tuple[float, float, float],
    now: float,
    sent_at: float,
    counted: float,
    first_count: float,
) -> float | None:
    """The seconds of the long window a short limit was, or ``None`` if it was short.

    ``first`` is the first 429 read as short: (its request left, its
    ``Retry-After``, its answer came); ``first_count`` what it counted a
    second, ``counted`` what this one counts (answered at ``now``, its request
    sent at ``sent_at``); ``first_sent`` is when the first admitted request left. A bucket's second count is about its rate, as its first was; a
    replaying window's is under it, and matches what was sent a window earlier.
    """
    first_at, wait, answered = first
    longest = first_at - first_sent + wait  # never shorter than the truth
    if (
        longest < WINDOW_RETRY_AFTER
        or now - answered > longest  # not the next 429 of that window
        or counted >= PARTLY_REPLAYED * first_count
    ):
        return None
    shift = history.longest_shift(first_at, sent_at, WINDOW_RETRY_AFTER, longest)
    # Not far under: a window only if some shorter shift matches (the start grew).
    return shift if counted < REPLAYED * first_count or shift < longest else None
