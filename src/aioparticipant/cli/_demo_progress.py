"""Live progress of the demo's phases, on standard error.

A rich display (extra ``aioparticipant[cli]``) on a terminal; plain lines,
at most one a second per phase, when standard error is not a terminal or
rich is not installed; or nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

__all__ = ["DemoProgress", "Phase", "ProgressMode"]

ProgressMode = Literal["auto", "rich", "plain", "none"]

#: Seconds between two plain progress lines of one phase.
_PLAIN_EVERY = 1.0
#: Seconds between two refreshes of the rich status text.
_RICH_EVERY = 0.1


class Phase:
    """One phase's counter; ``advance()`` after each operation."""

    def __init__(self, owner: DemoProgress, title: str, total: int) -> None:
        self._owner = owner
        self.title = title
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.elapsed = 0.0
        self._last_shown = self.started
        self._task: Any = None

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._owner._advanced(self)

    def __enter__(self) -> Phase:
        self._owner._opened(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.elapsed = time.monotonic() - self.started
        self._owner._closed(self)


class DemoProgress:
    """Shows phases as they run; ``status()`` supplies a live line (retries, 429s)."""

    def __init__(
        self, mode: ProgressMode, status: Callable[[], str], stream: TextIO | None = None
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._status = status
        self._rich: Any = None
        self._mode: ProgressMode = mode
        if mode in ("auto", "rich"):
            self._rich = self._start_rich(force=mode == "rich")
            if self._rich is None:
                self._mode = "plain"

    def phase(self, title: str, total: int) -> Phase:
        return Phase(self, title, total)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    # --- what phases report --------------------------------------------------------

    def _opened(self, phase: Phase) -> None:
        if self._rich is not None:
            phase._task = self._rich.add_task(phase.title, total=phase.total, status="")

    def _advanced(self, phase: Phase) -> None:
        now = time.monotonic()
        if self._rich is not None:
            self._rich.update(phase._task, completed=phase.done)
            if now - phase._last_shown >= _RICH_EVERY:
                phase._last_shown = now
                self._rich.update(phase._task, status=self._status())
        elif self._mode == "plain" and now - phase._last_shown >= _PLAIN_EVERY:
            phase._last_shown = now
            self._write(f"  {phase.title}: {phase.done}/{phase.total}  {self._status()}")

    def _closed(self, phase: Phase) -> None:
        if self._rich is not None:
            self._rich.update(phase._task, completed=phase.done, status=self._status())
        elif self._mode == "plain":
            rate = phase.done / phase.elapsed if phase.elapsed > 0 else 0.0
            self._write(
                f"  {phase.title}: {phase.done}/{phase.total} in {phase.elapsed:.1f}s "
                f"({rate:,.0f}/s)  {self._status()}"
            )

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def _start_rich(self, *, force: bool) -> Any:
        if not force and not self._stream.isatty():
            return None
        try:
            import rich.progress as bar
            from rich.console import Console
        except ImportError:  # extra aioparticipant[cli] not installed
            return None
        display = bar.Progress(
            bar.TextColumn("{task.description:<20}"),
            bar.BarColumn(),
            bar.MofNCompleteColumn(),
            bar.TimeElapsedColumn(),
            bar.TextColumn("[yellow]{task.fields[status]}"),
            console=Console(file=self._stream, force_terminal=force or None),
        )
        display.start()
        return display
