"""Limiter accuracy: ``rate_limit=R`` against a server that enforces the same R.

Two processes, both started by ``bench/run.py``:

    python bench/limiter_check.py serve --rate R [--participants N] [--lifetime S]
        The project's emulator (``aioparticipant.emulator``) with ``rate_limit=R``,
        on 127.0.0.1, a free port. Prints ``PORT <n>``; when its stdin closes (or
        after ``--lifetime`` seconds) it prints its stats as one JSON line and exits.

    python bench/limiter_check.py client --port P --rate R --n 5000 [--backend httpx]
        ``client.bulk`` over ``n`` updates with ``AsyncClient(rate_limit=R)``;
        prints one JSON line: achieved rates and the 429s the client saw.

Two rates are reported. ``overall`` is n / (last completion - start): it
includes the bucket's initial burst (it starts full, one second's worth), so a
perfect limiter gives n / ((n - burst) / R), reported as ``ideal_overall``.
``steady`` leaves the start out: completions from max(2 * burst, n / 5) on,
over the time they took. That one is the limiter's accuracy, provided the
client can go faster than R at all (the runner checks that too).

Without the emulator (or with ``--server stub``) the runner uses
``bench/stub_server.py --rate-limit R`` instead, which enforces the same bucket.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

ACCOUNT_SID = "PJ" + "0" * 32
TOKEN = "bench-token"
CONFERENCE_SID = "CF" + "2" * 32
LAML = "/api/laml/2010-04-01"


def call_sid(index: int) -> str:
    return f"CA{index:032x}"


def serve(rate: float, participants: int, lifetime: float) -> None:
    from aioparticipant.emulator import Emulator, serve_in_thread

    emulator = Emulator(project_id=ACCOUNT_SID, token=TOKEN, rate_limit=rate)
    for index in range(participants):
        emulator.add_participant(CONFERENCE_SID, call_sid(index))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(3))
    signal.alarm(int(lifetime) + 10)
    with serve_in_thread(emulator) as where:
        sys.stdout.write(f"PORT {where.port}\n")
        sys.stdout.flush()
        done = threading.Event()

        def wait_for_stdin() -> None:
            sys.stdin.read()  # returns when the runner closes our stdin
            done.set()

        threading.Thread(target=wait_for_stdin, daemon=True).start()
        done.wait(timeout=lifetime)
    stats = emulator.stats
    sys.stdout.write(
        json.dumps(
            {
                "requests": stats.requests,
                "rate_limited": stats.rate_limited,
                "statuses": {str(k): v for k, v in stats.statuses.items()},
            }
        )
        + "\n"
    )


class _Count429(logging.Handler):
    """Counts the client's 'retrying ... after HTTP 429' log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.retried_429 = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP 429" in record.getMessage():
            self.retried_429 += 1


async def run_client(
    port: int,
    rate: float,
    n: int,
    concurrency: int,
    backend: str,
    participants: int,
    burst: int | None = None,
) -> dict[str, Any]:
    from aioparticipant import AsyncClient, ParticipantUpdate, RateLimitError

    counter = _Count429()
    logger = logging.getLogger("aioparticipant")
    logger.addHandler(counter)
    logger.propagate = False
    completions: list[float] = []
    failures = 0
    rate_limit_errors = 0
    first_error: str | None = None
    updates = (
        ParticipantUpdate(CONFERENCE_SID, call_sid(index % participants), muted=index % 2 == 0)
        for index in range(n)
    )
    async with AsyncClient(
        ACCOUNT_SID,
        TOKEN,
        base_url=f"http://127.0.0.1:{port}{LAML}",
        rate_limit=rate,
        burst=burst,
        http_backend=backend,  # type: ignore[arg-type]
    ) as client:
        burst = client.limiter.burst if client.limiter is not None else 0  # type: ignore[attr-defined]
        start = time.perf_counter()
        async with client.bulk(updates, concurrency=concurrency) as results:
            async for result in results:
                completions.append(time.perf_counter())
                if not result.ok:
                    failures += 1
                    if isinstance(result.error, RateLimitError):
                        rate_limit_errors += 1
                    first_error = first_error or repr(result.error)[:300]
    completions.sort()
    wall = completions[-1] - start
    # The steady window starts well after the initial burst has drained.
    first = min(n - 2, max(2 * burst, n // 5))
    steady = (n - 1 - first) / (completions[-1] - completions[first])
    ideal_overall = n / ((n - burst) / rate) if n > burst else None
    return {
        "configured": rate,
        "burst": burst,
        "n": n,
        "backend": backend,
        "overall_rate": n / wall,
        "ideal_overall_rate": ideal_overall,
        "steady_rate": steady,
        "steady_from": first,
        "wall_s": wall,
        "retried_429": counter.retried_429,
        "rate_limit_errors": rate_limit_errors,
        "failures": failures,
        "first_error": first_error,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve")
    serve_parser.add_argument("--rate", type=float, default=200.0)
    serve_parser.add_argument("--participants", type=int, default=100)
    serve_parser.add_argument("--lifetime", type=float, default=300.0)
    client_parser = sub.add_parser("client")
    client_parser.add_argument("--port", type=int, required=True)
    client_parser.add_argument("--rate", type=float, default=200.0)
    client_parser.add_argument("--n", type=int, default=5000)
    client_parser.add_argument("--concurrency", type=int, default=50)
    client_parser.add_argument("--participants", type=int, default=100)
    client_parser.add_argument("--backend", choices=("httpx", "aiohttp"), default="httpx")
    client_parser.add_argument(
        "--burst", type=int, default=None, help="the client's burst (default: the library's)"
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.rate, args.participants, args.lifetime)
        return
    import anyio

    result = anyio.run(
        run_client,
        args.port,
        args.rate,
        args.n,
        args.concurrency,
        args.backend,
        args.participants,
        args.burst,
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
