"""Progress of a bulk job on standard error: a live rich bar on a terminal, nothing otherwise.

The counters live here whatever is shown, and the closing summary reads them.
Retries come from the client's own counters (``client.stats``); the library's
retry log lines are kept off the terminal, where they would tear the bar apart.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from .._http import ClientStats

__all__ = ["Counters", "Progress", "quiet_retry_lines"]

#: Seconds between two redraws of the bar (rich redraws on its own timer too).
_REDRAW_EVERY = 0.1


class Counters:
    """What a run has done so far."""

    def __init__(self, client_stats: ClientStats) -> None:
        self._client_stats = client_stats
        self.done = 0
        self.succeeded = 0
        self.not_found = 0
        self.failed = 0
        self.invalid = 0
        self.skipped = 0
        self.total: int | None = None
        self.started = time.monotonic()

    @property
    def retries(self) -> int:
        return self._client_stats.retries

    @property
    def unsuccessful(self) -> int:
        return self.not_found + self.failed + self.invalid

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        elapsed = self.elapsed()
        return self.done / elapsed if elapsed > 0 else 0.0


@contextlib.contextmanager
def quiet_retry_lines() -> Iterator[None]:
    """Keep the library's log lines (one WARNING per retry) off standard error for the block."""
    logger = logging.getLogger("aioparticipant")
    quiet = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(quiet)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(quiet)
        logger.propagate = propagate


class Progress:
    """A live bar (done/total, rate, failures, retries, ETA) when standard error is a terminal."""

    def __init__(self, counters: Counters, *, enabled: bool) -> None:
        self.counters = counters
        self._bar: Any = None
        self._task: Any = None
        self._last_redraw = 0.0
        if enabled:
            self._start()

    def _start(self) -> None:
        try:
            import rich.progress as bar
            from rich.console import Console
        except ImportError:  # the extra aioparticipant[cli] is not installed: no bar
            return

        self._bar = bar.Progress(
            bar.TextColumn("[bold]bulk"),
            bar.BarColumn(),
            bar.MofNCompleteColumn(),
            bar.TextColumn("{task.fields[rate]}/s"),
            bar.TextColumn("[red]{task.fields[failed]} failed"),
            bar.TextColumn("[yellow]{task.fields[retries]} retries"),
            bar.TimeElapsedColumn(),
            bar.TextColumn("ETA"),
            bar.TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("bulk", total=None, rate="0", failed=0, retries=0)
        self._bar.start()

    def redraw(self, *, force: bool = False) -> None:
        """Update the bar from the counters (cheap to call per result: it throttles itself)."""
        if self._bar is None:
            return
        now = time.monotonic()
        if not force and now - self._last_redraw < _REDRAW_EVERY:
            return
        self._last_redraw = now
        counters = self.counters
        self._bar.update(
            self._task,
            completed=counters.done,
            total=counters.total,
            rate=f"{counters.rate():,.0f}",
            failed=counters.unsuccessful,
            retries=counters.retries,
        )

    def note(self, message: str) -> None:
        """A line of text on standard error that does not garble the bar."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self.redraw(force=True)
            self._bar.stop()
            self._bar = None
