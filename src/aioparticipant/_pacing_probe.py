"""Probing for a raised limit: when the self-pacing learner tries a faster pace, and how much faster.

See "Probing" in ``_pacing``: after quiet seconds of full use the pace rises
½%, 1%, 2%, 4%, ... (at most 25%) every two seconds, until a 429 says where
the limit is; a probe that finds the same limit again doubles the quiet time.
"""

from __future__ import annotations

import math

from ._pacing_settings import PROBE_FIRST, PROBE_MAX, PROBE_STEP, PROBE_USE, QUIET, QUIET_MOST

__all__ = ["Probing"]


class Probing:
    """The pace's factor over the learned limit's, and when it next rises."""

    def __init__(self) -> None:
        #: The pace's factor over the limit's (1.0: not probing).
        self.factor = 1.0
        #: Seconds of full use before the next probe starts.
        self.quiet = QUIET
        self._at = math.inf  # when the next step is due
        self._step = PROBE_FIRST
        self._admitted = 0  # requests admitted when the last step was due

    def found(self, same: bool) -> None:
        """A 429 taught a limit: ``same`` when it is the one this probe started from."""
        self.quiet = min(QUIET_MOST, 2 * self.quiet) if same and self.factor > 1 else QUIET

    def restart(self, quiet_from: float, quiet: float, admitted: int) -> None:
        """A limit was learned or taken: the pace is the limit's until ``quiet`` seconds after ``quiet_from``."""
        self.factor, self._step, self._admitted = 1.0, PROBE_FIRST, admitted
        self._at = quiet_from + quiet

    def advance(self, now: float, admitted: int, pace: float) -> None:
        """Each step due by ``now``: up if the pace was used (``admitted`` so far), else from the start."""
        while now >= self._at:
            # Probe only a pace that is used: an idle client learns nothing by it.
            if admitted - self._admitted >= PROBE_USE * pace * PROBE_STEP:
                self.factor *= 1 + self._step
                self._step = min(PROBE_MAX, 2 * self._step)
            else:
                self._step = PROBE_FIRST
            self._admitted = admitted
            self._at += PROBE_STEP
