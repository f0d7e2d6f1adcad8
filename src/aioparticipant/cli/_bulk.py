"""``aioparticipant bulk INPUT --out RESULTS.jsonl``: a million updates, every row accounted for.

Reads CSV or JSON Lines (``-`` for standard input), sends the updates through
``client.bulk`` and writes one JSON line per input row to RESULTS as each
completes. ``--resume`` skips the rows RESULTS already records, so a killed
job picks up where it stopped; rows that were in flight at the kill are not
recorded and are sent again.

Ctrl-C once: no new updates start, the ones in flight finish and are recorded.
Ctrl-C twice (or SIGTERM): the ones in flight are cancelled. Either way every
completed row is in RESULTS and the exit code is 130 (143 for SIGTERM).
Exit codes otherwise: 0 when every row in RESULTS succeeded, 1 when some did
not (a participant not found counts as not succeeded), 2 for a usage error
(or a shared limit in Redis that could not be reached: the rows it held back
are not recorded, and ``--resume`` sends them).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import msgspec

from .._bulk_outcomes import BulkResult
from .._client import AsyncClient
from .._constants import DEFAULT_BULK_CONCURRENCY, DEFAULT_MAX_RETRIES
from .._exceptions import InvalidParameterError
from .._params import encode_update
from .._participant_update import ParticipantUpdate
from ._argtypes import at_least, rate_or_auto
from ._bulk_input import InputError, Row, RowReader, count_rows
from ._bulk_redis import add_redis_flags, is_limiter_failure, limiter_from_args, redis_warnings_to
from ._bulk_results import (
    Ledger,
    ResultsError,
    ResultsFile,
    encode_invalid,
    encode_result,
    load_ledger,
)
from ._connection import add_connection_flags, client_from_args
from ._parameters import add_update_flags, update_params_from_flags
from ._progress import Counters, Progress, quiet_retry_lines

__all__ = ["configure", "run"]

HELP = "send many updates from a CSV or JSON Lines file; one result line per row"

EXIT_OK = 0
EXIT_UNSUCCESSFUL = 1
EXIT_USAGE = 2
_EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``bulk`` arguments to its subparser."""
    parser.description = (
        "Send many participant updates from a CSV or JSON Lines file (- for stdin), "
        "at most --concurrency at a time, and write one JSON result line per input row."
    )
    parser.epilog = (
        "CSV header: conference_sid,call_sid plus update keywords (muted,hold,hold_url,...); "
        "booleans true/false, yes/no or 1/0; an empty cell is 'not set' (to send '' use "
        "JSON Lines or the flag). JSON Lines: objects with the same keys. Values in a row "
        "override the flags. Exit codes: 0 all rows succeeded, 1 some did not, "
        "2 usage error (or Redis unreachable), 130 interrupted (finish with --resume)."
    )
    parser.add_argument("input", metavar="INPUT", help="CSV or JSON Lines file, or - for stdin")
    parser.add_argument(
        "--out",
        metavar="RESULTS",
        type=Path,
        help="results file, one JSON line per input row (required unless --dry-run)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the rows RESULTS already records and append the rest",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start RESULTS afresh if it already holds results"
    )
    parser.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        help="input format (default: from the name or content)",
    )
    parser.add_argument(
        "--concurrency",
        type=at_least(1),
        default=DEFAULT_BULK_CONCURRENCY,
        metavar="N",
        help=f"updates in flight at once (default {DEFAULT_BULK_CONCURRENCY})",
    )
    parser.add_argument(
        "--rate",
        type=rate_or_auto,
        metavar="R",
        help="at most R updates per second (retries included), or 'auto': learn the "
        "service's limit from its 429s and pace just under it",
    )
    parser.add_argument(
        "--burst", type=at_least(1), metavar="B", help="with --rate: bursts of up to B updates"
    )
    parser.add_argument(
        "--max-retries",
        type=at_least(0),
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help=f"retries per update after 429, 5xx or a broken connection (default {DEFAULT_MAX_RETRIES})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check every row and print what would be sent (JSON lines on stdout); send nothing",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no closing summary"
    )
    add_update_flags(
        parser,
        title="update parameters for every row",
        description="Applied to each row, under the row's own values.",
    )
    add_connection_flags(parser)
    add_redis_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``bulk`` and return the exit code."""
    try:
        return anyio.run(_main, args)
    except KeyboardInterrupt:  # Ctrl-C before or after the job's own handler was in place
        return _EXIT_SIGNAL[signal.SIGINT]


async def _main(args: argparse.Namespace) -> int:
    try:
        defaults = _flag_defaults(args)
        if args.burst is not None and args.rate in (None, "auto"):
            raise _UsageError("--burst needs --rate R (with --rate auto the burst is learned)")
        if args.out is None and not args.dry_run:
            raise _UsageError("--out RESULTS is required (or use --dry-run)")
        ledger = _ledger(args)
        source, close_source = _open_input(args.input)
    except (_UsageError, InvalidParameterError, ResultsError) as error:
        return _usage_error(error)
    reader = RowReader(
        source, path=args.input, fmt=args.format, defaults=defaults, close_source=close_source
    )
    if args.dry_run:
        return await _dry_run(reader, ledger, quiet=args.quiet)
    try:
        limiter = limiter_from_args(args)  # a shared limit through Redis, if asked for
        client = client_from_args(
            args,
            rate_limit=None if limiter else args.rate,
            burst=None if limiter else args.burst,
            limiter=limiter,
            max_retries=args.max_retries,
            max_connections=args.concurrency,
        )
        results = ResultsFile(args.out, append=args.resume)
    except (InvalidParameterError, ResultsError) as error:
        if close_source:
            source.close()
        return _usage_error(error)

    counters = Counters(client.stats)
    show_progress = sys.stderr.isatty() and not args.quiet
    progress = Progress(counters, enabled=show_progress)
    if show_progress and args.input != "-":
        _count_in_background(args.input, args.format, ledger.count, progress)
    job = _Job(client, reader, ledger, results, counters, progress, args.concurrency)
    try:
        with quiet_retry_lines(), redis_warnings_to(progress.note):
            async with client, contextlib.AsyncExitStack() as stack:
                if limiter is not None:
                    await stack.enter_async_context(limiter)
                await job.run()
    finally:
        results.close()
        progress.close()
    if not args.quiet:
        _summary(job, args.out, auto=args.rate == "auto")
    return job.exit_code()


class _Job:
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
            return _EXIT_SIGNAL.get(signal.Signals(self.signal), 130)
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


async def _dry_run(reader: RowReader, ledger: Ledger, *, quiet: bool) -> int:
    valid = invalid = skipped = 0
    out: BinaryIO = sys.stdout.buffer
    encode = msgspec.json.encode
    try:
        async for batch in reader.batches():
            for row in batch:
                if row.number in ledger:
                    skipped += 1
                    continue
                if row.update is None:
                    invalid += 1
                    reason = row.error or "invalid"
                    out.write(encode_invalid(row.number, row.conference_sid, row.call_sid, reason))
                    continue
                valid += 1
                record = {
                    "row": row.number,
                    "conference_sid": row.update.conference_sid,
                    "call_sid": row.update.call_sid,
                    "ok": True,
                    "form": dict(row.update.form),
                }
                out.write(encode(record) + b"\n")
        out.flush()
    except InputError as error:
        out.flush()
        return _usage_error(error)
    except BrokenPipeError:
        # `... --dry-run | head`: the reader has seen enough. Silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_UNSUCCESSFUL
    if not quiet:
        text = f"dry run: {valid} rows would be sent, {invalid} invalid"
        if skipped:
            text += f", {skipped} already recorded"
        sys.stderr.write(text + "; nothing was sent\n")
    return EXIT_OK if invalid == 0 else EXIT_UNSUCCESSFUL


def _summary(job: _Job, out: Path, *, auto: bool) -> None:
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


# --- set-up ----------------------------------------------------------------------------


class _UsageError(Exception):
    pass


def _usage_error(error: Exception) -> int:
    sys.stderr.write(f"aioparticipant bulk: error: {error}\n")
    return EXIT_USAGE


def _flag_defaults(args: argparse.Namespace) -> dict[str, Any]:
    defaults = update_params_from_flags(args)
    for keyword, value in defaults.items():
        if keyword != "coaching":  # coaching=True is checked per row, with its call_sid_to_coach
            encode_update({keyword: value}, caller="bulk")
    return defaults


def _ledger(args: argparse.Namespace) -> Ledger:
    out: Path | None = args.out
    if out is None:
        return Ledger()
    if args.resume:
        if args.overwrite:
            raise _UsageError("--resume and --overwrite contradict each other")
        return load_ledger(out)
    if not args.dry_run and not args.overwrite and out.exists() and out.stat().st_size > 0:
        raise _UsageError(
            f"{out} already holds results: pass --resume to finish that job, "
            "or --overwrite to start again"
        )
    return Ledger()


def _open_input(path: str) -> tuple[BinaryIO, bool]:
    if path == "-":
        return sys.stdin.buffer, False
    try:
        return open(path, "rb"), True  # the reader thread closes it
    except OSError as error:
        raise _UsageError(f"cannot read {path}: {error.strerror}") from None


def _count_in_background(path: str, fmt: Any, recorded: int, progress: Progress) -> None:
    def count() -> None:
        total = count_rows(path, fmt)
        if total is not None:
            progress.counters.total = max(0, total - recorded)

    threading.Thread(target=count, name="aioparticipant-count", daemon=True).start()
