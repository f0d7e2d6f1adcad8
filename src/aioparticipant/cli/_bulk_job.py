"""One run of ``aioparticipant bulk``: rows into ``client.bulk``, every outcome recorded.

``BulkJob`` feeds the rows that need sending into ``client.bulk`` (a row the
results file already records is skipped, an invalid one is recorded as
such), writes each result as it completes, stops cleanly on Ctrl-C, SIGTERM
or a problem with the input, and says which exit code the run earned;
``print_summary`` is the closing summary on standard error.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import anyio

from .._bulk_outcomes import BulkResult
from .._client import AsyncClient
from .._participant_update import ParticipantUpdate
from ._bulk_input import InputError, Row, RowReader
from ._bulk_redis import is_limiter_failure
from ._bulk_results import Ledger, ResultsFile, encode_invalid, encode_result
from ._progress import Counters, Progress

__all__ = [
    "EXIT_OK",
    "EXIT_SIGNAL",
    "EXIT_UNSUCCESSFUL",
    "EXIT_USAGE",
    "BulkJob",
    "print_summary",
]

EXIT_OK = 0
EXIT_UNSUCCESSFUL = 1
EXIT_USAGE = 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class BulkJob:
    """One run: feeds rows into ``client.bulk``, records every outcome, obeys the signals."""

    def __init__(
        self,
        client: AsyncClient,
        reader: RowReader,
        ledger: Ledger,
        results: ResultsFile,
        counters: Counters,
        progress: Progress,
        concurrency: int,
    ) -> None:
        self.client = client
        self.reader = reader
        self.ledger = ledger
        self.results = results
        self.counters = counters
        self.progress = progress
        self.concurrency = concurrency
        self.signal: int | None = None
        self.problem: str | None = None  # stopped on a problem with the input
        self._stopping = False
        self._waiting_for_input: anyio.CancelScope | None = None
        self._run_scope = anyio.CancelScope()
        # Which row each update in flight came from. Keyed by identity: two rows may
        # carry equal updates, and the update object lives until its result comes back.
        self._row_of: dict[int, int] = {}

    async def run(self) -> None:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(self._watch_signals)
            with self._run_scope:
                async with self.client.bulk(
                    self._updates(), concurrency=self.concurrency
                ) as results:
                    async for result in results:
                        self._record(result)
            task_group.cancel_scope.cancel()

    @property
    def in_flight(self) -> int:
        return len(self._row_of)

    def exit_code(self) -> int:
        if self.signal is not None:
            return EXIT_SIGNAL.get(signal.Signals(self.signal), 130)
        if self.problem is not None:
            return EXIT_USAGE
        unsuccessful = self.ledger.unsuccessful + self.counters.unsuccessful
        return EXIT_OK if unsuccessful == 0 else EXIT_UNSUCCESSFUL

    async def _updates(self) -> AsyncIterator[ParticipantUpdate]:
        batches = self.reader.batches()
        try:
            while not self._stopping:
                batch = await self._next_batch(batches)
                if batch is None:
                    return
                for row in batch:
                    if self._stopping:
                        return
                    update = self._admit(row)
                    if update is not None:
                        yield update
        finally:
            await batches.aclose()

    async def _next_batch(self, batches: AsyncGenerator[list[Row], None]) -> list[Row] | None:
        # A Ctrl-C while standard input is idle must not wait for the next line.
        with anyio.CancelScope() as scope:
            self._waiting_for_input = scope
            try:
                return await anext(batches, None)
            except InputError as error:
                self._stop_on_problem(f"stopped reading the input: {error}")
                return None
            finally:
                self._waiting_for_input = None
        return None

    def _admit(self, row: Row) -> ParticipantUpdate | None:
        """The update to send for ``row``; records it instead if it is invalid."""
        number = row.number
        if number in self.ledger:
            if not self.ledger.matches(number, row.conference_sid, row.call_sid):
                self._stop_on_problem(
                    f"row {number} of the input is not the row {number} the results file "
                    "records (other sids): is this the same input? Nothing more was sent"
                )
                return None
            self.counters.skipped += 1
            return None
        if row.update is None:
            self.results.write(
                encode_invalid(number, row.conference_sid, row.call_sid, row.error or "invalid")
            )
            self.counters.done += 1
            self.counters.invalid += 1
            self.progress.redraw()
            return None
        self._row_of[id(row.update)] = number
        return row.update

    def _record(self, result: BulkResult) -> None:
        row = self._row_of.pop(id(result.update))
        if is_limiter_failure(result.error):
            # Never sent: left unrecorded, so --resume sends it once Redis is back.
            if not self._stopping:
                self._stop_on_problem(
                    f"{result.error}. The run stopped: once Redis answers, the same command "
                    "with --resume sends the rest (or pass --redis-fallback-rate)"
                )
            return
        self.results.write(encode_result(row, result))
        counters = self.counters
        counters.done += 1
        if result.ok:
            counters.succeeded += 1
        elif result.not_found:
            counters.not_found += 1
        else:
            counters.failed += 1
        self.progress.redraw()

    def _stop_on_problem(self, message: str) -> None:
        self.problem = message
        self._stopping = True

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                first = self.signal is None
                self.signal = signum
                self._stopping = True
                if self._waiting_for_input is not None:
                    self._waiting_for_input.cancel()
                if first and signum == signal.SIGINT:
                    self.progress.note(
                        f"stopping: no new updates; waiting for the {self.in_flight} in flight "
                        "(Ctrl-C again to cancel them)"
                    )
                else:
                    self.progress.note(f"cancelling the {self.in_flight} updates in flight")
                    self._run_scope.cancel()


def print_summary(job: BulkJob, out: Path, *, auto: bool) -> None:
    counters = job.counters
    elapsed = max(1e-9, counters.elapsed())
    parts = [
        f"{counters.succeeded} ok",
        f"{counters.not_found} not found",
        f"{counters.failed} failed",
        f"{counters.invalid} invalid",
    ]
    lines = [
        f"bulk: {counters.done} rows recorded in {elapsed:.1f} s "
        f"({counters.done / elapsed:,.0f}/s): {', '.join(parts)}; {counters.retries} retries"
    ]
    if auto:  # --rate auto (alone, or shared through Redis): say what it learned
        limit = getattr(job.client.limiter, "limit", None)
        learned = "not reached (no 429)" if limit is None else f"{limit:,.1f}/s"
        lines.append(f"learned rate limit: {learned}")
    if counters.skipped:
        lines.append(f"skipped {counters.skipped} rows already recorded in {out}")
    if job.problem:
        lines.append(f"error: {job.problem}")
    if job.signal is not None:
        lines.append(
            "interrupted: the rows not recorded yet (including any cancelled in flight) "
            "will be sent by the same command with --resume"
        )
    previous = job.ledger.unsuccessful
    total_unsuccessful = previous + counters.unsuccessful
    if total_unsuccessful:
        lines.append(f"{total_unsuccessful} rows in {out} did not succeed (see their 'error')")
    sys.stderr.write("\n".join(lines) + "\n")
