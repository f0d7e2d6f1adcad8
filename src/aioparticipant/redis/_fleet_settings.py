"""The fleet's settings under ``rate="auto"``: how often it looks, how it counts, how much slack.

``_auto`` says what each is for; the pacer's own are in ``.._pacing_settings``.
"""

from __future__ import annotations

from typing import Final

#: Seconds between looks at what the fleet learned ...
LOOK_EVERY: Final = 0.5
#: ... and while the fleet has learned nothing yet (a request sent at a guess
#: after another process met a 429 would be refused too).
LOOK_EVERY_UNKNOWN: Final = 0.01
#: Seconds a grant comes before its request is sent (and timed): without the
#: grant's own time, a recount ends this much before the refused request.
EDGE: Final = 0.002
#: Seconds a grant stays in the fleet's window past the window's length (a
#: request may reach the server this much later after its grant than others):
#: at least this, or this share of the window (what the 1% margin gives up anyway).
SLACK: Final = 0.01
SLACK_SHARE: Final = 0.01
#: After a 429 that teaches, the fleet is counted this long (plus the refused
#: request's latency, at most half a second) after its answer came: the 429s
#: for requests sent before it are in by then, and left out of the count.
SETTLE: Final = 0.02
#: A grant is in the fleet's window while in flight for this many of the
#: process's latencies (within these seconds), then as if answered: a process
#: that sends nothing more reports no more answers.
FLIGHT_LATENCIES: Final = 4.0
FLIGHT_LEAST: Final = 0.05
FLIGHT_MOST: Final = 2.0
#: The shared burst, in seconds' worth of the pace (at least 2): small, so
#: that the processes' requests reach the server as evenly as they were granted.
BURST_SECONDS: Final = 0.02
