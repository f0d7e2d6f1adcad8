"""The self-pacing learner's settings: what it assumes, and how cautious it is.

``_pacing`` says what each does; the limiters read a few of them too.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["Mode"]

Mode = Literal["start", "bucket", "window"]

#: First contact: requests in flight, at least ...
START_IN_FLIGHT: Final = 2.0
#: ... or this share of the requests admitted so far.
START_SHARE: Final = 0.0125
#: Until the first answer tells the latency, it is taken to be this (seconds).
FIRST_LATENCY: Final = 0.1
#: Paced this far under the learned limit.
MARGIN: Final = 0.01
#: A 429 at the pace thought safe cuts the limit this much.
CUT: Final = 0.02
#: A ``Retry-After`` this long (seconds) or longer means a window, not a bucket.
WINDOW_RETRY_AFTER: Final = 2.0
#: A 429 without ``Retry-After`` is read as this many seconds.
ASSUMED_RETRY_AFTER: Final = 1.0
#: A second 429 on a short limit counting under this share of the first's:
#: a long window filled slowly, replaying its start (see ``_pacing_short``) ...
REPLAYED: Final = 0.25
#: ... and under this share, one whose count matches what was sent some
#: seconds earlier (a client barely faster than the window filled it).
PARTLY_REPLAYED: Final = 0.75
#: Seconds of full use without a 429 before probing, at first; doubled each
#: time a probe finds the same limit again, up to the most.
QUIET: Final = 20.0
QUIET_MOST: Final = 80.0
#: Within this share, a probe found "the same limit again".
SAME_LIMIT: Final = 0.03
PROBE_STEP: Final = 2.0
PROBE_FIRST: Final = 0.005  # half the margin: the first step stays under the limit
PROBE_MAX: Final = 0.25
#: A probe step needs this share of the pace to have been used.
PROBE_USE: Final = 0.8
#: The client's burst, in seconds' worth of its pace.
BURST_SECONDS: Final = 0.1
#: Window mode, one window length after the first 429: the room left is spent
#: over 1/CATCH_UP of a window, at up to CATCH_UP times the pace.
CATCH_UP: Final = 2.0
#: Seconds a logged request is kept in the window past its length (answered
#: ones are logged at their answer, those in flight as they left).
SLACK: Final = 0.005
#: Latencies are averaged plainly over the first answers (a cold first one
#: fades fast), then with this weight for the newest.
LATENCY_WEIGHT: Final = 0.1
