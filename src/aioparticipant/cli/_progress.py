"""Progress of a bulk job on standard error: a live rich bar on a terminal, nothing otherwise.

The counters live here whatever is shown, and the closing summary reads them.
Retries are counted from the library's own log records ("retrying ..." on the
``aioparticipant`` logger), which this module also keeps off the terminal.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

__all__ = ["Counters", "Progress", "RetryCounter"]

#: Seconds between two redraws of the bar (rich redraws on its own timer too).
_REDRAW_EVERY = 0.1


class Counters:
    """What a run has done so far."""

    def __init__(self) -> None:
        self.done = 0
        self.succeeded = 0
        self.not_found = 0
        self.failed = 0
        self.invalid = 0
        self.retries = 0
        self.skipped = 0
        self.total: int | None = None
        self.started = time.monotonic()

    @property
    def unsuccessful(self) -> int:
        return self.not_found + self.failed + self.invalid

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        elapsed = self.elapsed()
        return self.done / elapsed if elapsed > 0 else 0.0


class RetryCounter(logging.Handler):
    """Counts the library's retry log records, so the bar can show them."""

    def __init__(self, counters: Counters, *, echo: bool) -> None:
        super().__init__(logging.WARNING)
        self._counters = counters
        self._echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("retrying"):
            self._counters.retries += 1
            if not self._echo:
                return
        if self._echo:
            sys.stderr.write(self.format(record) + "\n")

    def __enter__(self) -> RetryCounter:
        logger = logging.getLogger("aioparticipant")
        self._propagate = logger.propagate
        # Our handler replaces the default stderr printing of each retry, which
        # would tear the progress bar apart on a flaky network.
        logger.addHandler(self)
        logger.propagate = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        logger = logging.getLogger("aioparticipant")
        logger.removeHandler(self)
        logger.propagate = self._propagate


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
