"""``aioparticipant emulator``: serve the emulator on a loopback port until Ctrl-C.

Credentials: the project id comes from ``--project-id`` or
``SIGNALWIRE_PROJECT_ID``, the token from ``SIGNALWIRE_API_TOKEN``; the token
is then never printed. When either is unset, a fresh random one is made for
this run and printed with the ``export`` line to use it: it is a throwaway
secret of a local test server that nobody could otherwise learn.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import uuid
from pathlib import Path

from .._constants import ENV_API_TOKEN, ENV_PROJECT_ID
from ..emulator import Emulator, EmulatorServer, serve
from ..emulator._serve import check_loopback
from ._argtypes import fraction, non_negative_float, port, positive_float

__all__ = ["HELP", "add_rate_window_argument", "configure", "run"]

HELP = "serve the in-memory emulator of the participant API on a loopback port"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``emulator`` arguments to its subparser."""
    parser.epilog = (
        f"Credentials: ${ENV_PROJECT_ID} (or --project-id) and ${ENV_API_TOKEN}; "
        "either one unset is generated for this run and printed. Stop with Ctrl-C."
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to listen on (default: 127.0.0.1; other hosts are refused)",
    )
    parser.add_argument(
        "--port", type=port, default=0, help="port to listen on (default: 0, a free one)"
    )
    parser.add_argument(
        "--participants",
        metavar="FILE",
        type=Path,
        help='JSON list of {"conference_sid": ..., "call_sid": ..., **fields} to start with',
    )
    parser.add_argument(
        "--project-id", metavar="ID", help=f"the account to serve (default: ${ENV_PROJECT_ID})"
    )
    parser.add_argument(
        "--rate-limit",
        metavar="R",
        type=positive_float,
        help="answer 429 + Retry-After past R requests per second",
    )
    add_rate_window_argument(parser)
    parser.add_argument(
        "--latency",
        metavar="S",
        type=non_negative_float,
        default=0.0,
        help="seconds added to every answer",
    )
    parser.add_argument(
        "--error-rate",
        metavar="F",
        type=fraction,
        default=0.0,
        help="fraction of requests answered 500/503 without being processed",
    )
    parser.add_argument(
        "--drop-rate",
        metavar="F",
        type=fraction,
        default=0.0,
        help="fraction of requests processed whose connection is then closed without an answer",
    )
    parser.add_argument("--seed", type=int, help="seed for the injected faults (reproducible)")


def add_rate_window_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--rate-window S`` (``args.rate_window``, for ``Emulator(rate_window=...)``).

    Shared with any command that serves an emulator, so the flag reads the same everywhere.
    """
    parser.add_argument(
        "--rate-window",
        metavar="S",
        type=positive_float,
        default=1.0,
        help="seconds over which the rate limit is counted: at most R×S requests in any "
        "S seconds (default: 1; SignalWire counts 13,800 per 10 s: --rate-limit 1380 "
        "--rate-window 10)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; exit 0 then, 2 for bad arguments."""
    try:
        check_loopback(args.host)
    except ValueError as error:
        return _usage(str(error))
    project_id = args.project_id or os.environ.get(ENV_PROJECT_ID) or None
    generated_project = project_id is None
    token = os.environ.get(ENV_API_TOKEN) or None
    generated_token = token is None
    try:
        emulator = Emulator(
            project_id=project_id or str(uuid.uuid4()),
            token=token or secrets.token_urlsafe(24),
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            latency=args.latency,
            error_rate=args.error_rate,
            drop_rate=args.drop_rate,
            seed=args.seed,
        )
    except ValueError as error:
        return _usage(str(error))
    loaded = ""
    if args.participants is not None:
        try:
            count = emulator.load_participants(args.participants)
        except (OSError, ValueError) as error:
            return _usage(f"--participants {args.participants}: {error}")
        conferences = len(emulator.conference_sids())
        loaded = f"{count} in {conferences} conference{'s' * (conferences != 1)}, from {args.participants}"

    def ready(server: EmulatorServer) -> None:
        lines = [
            f"aioparticipant emulator listening on {server.origin} (loopback only)",
            f"  SignalWire base URL  {server.base_url}",
            f"  Twilio base URL      {server.twilio_base_url}",
            f"  project id           {emulator.project_id}"
            + (" (generated)" if generated_project else ""),
            "  token                "
            + ("generated, see below" if generated_token else f"from ${ENV_API_TOKEN} (not shown)"),
            f"  participants         {loaded or 'none yet'}",
            f"  misbehaviour         {_describe_faults(args)}",
        ]
        exports = []
        if generated_project:
            exports.append(f"export {ENV_PROJECT_ID}={emulator.project_id}")
        if generated_token:
            exports.append(f"export {ENV_API_TOKEN}={emulator.token}")
        if exports:
            lines += ["To use it:", *(f"  {line}" for line in exports)]
        lines += [
            "Point a client at it: AsyncClient(base_url=...SignalWire base URL...);",
            f"the twilio SDK: client.api.base_url = {server.origin!r}",
            "Press Ctrl-C to stop.",
        ]
        print("\n".join(lines), flush=True)

    try:
        serve(emulator, host=args.host, port=args.port, on_ready=ready)
    except KeyboardInterrupt:
        pass  # the way to stop a server; uvicorn has already shut down cleanly
    except OSError as error:
        return _usage(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    stats = emulator.stats
    print(f"stopped after {stats.requests} requests ({stats.updates} updates)", flush=True)
    return 0


def _describe_faults(args: argparse.Namespace) -> str:
    parts = []
    if args.rate_limit is not None:
        if args.rate_window == 1:
            parts.append(f"rate limit {args.rate_limit:g}/s")
        else:
            parts.append(
                f"rate limit {args.rate_limit * args.rate_window:g} per {args.rate_window:g}s"
            )
    if args.latency:
        parts.append(f"latency {args.latency:g}s")
    if args.error_rate:
        parts.append(f"error rate {args.error_rate:.1%}")
    if args.drop_rate:
        parts.append(f"drop rate {args.drop_rate:.1%}")
    if parts and args.seed is not None:
        parts.append(f"seed {args.seed}")
    return ", ".join(parts) or "none"


def _usage(message: str) -> int:
    print(f"aioparticipant emulator: error: {message}", file=sys.stderr)
    return 2
