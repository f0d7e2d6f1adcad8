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

This module holds the command's arguments, their checks and ``--dry-run``;
the run itself is ``_bulk_job``, the rows ``_bulk_input`` and ``_bulk_rows``,
the results file ``_bulk_results``, the shared Redis limit ``_bulk_redis``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import msgspec

from .._constants import DEFAULT_BULK_CONCURRENCY, DEFAULT_MAX_RETRIES
from .._exceptions import InvalidParameterError
from .._params import encode_update
from ._argtypes import at_least, rate_or_auto
from ._bulk_input import InputError, RowReader, count_rows
from ._bulk_job import EXIT_OK, EXIT_SIGNAL, EXIT_UNSUCCESSFUL, EXIT_USAGE, BulkJob, print_summary
from ._bulk_redis import add_redis_flags, limiter_from_args, redis_warnings_to
from ._bulk_results import Ledger, ResultsError, ResultsFile, encode_invalid, load_ledger
from ._connection import add_connection_flags, client_from_args
from ._parameters import add_update_flags, update_params_from_flags
from ._progress import Counters, Progress, quiet_retry_lines

__all__ = ["configure", "run"]

HELP = "send many updates from a CSV or JSON Lines file; one result line per row"


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
        return EXIT_SIGNAL[signal.SIGINT]


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
    job = BulkJob(client, reader, ledger, results, counters, progress, args.concurrency)
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
        print_summary(job, args.out, auto=args.rate == "auto")
    return job.exit_code()


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
