"""Self-pacing against the real emulator on loopback: ``rate_limit="auto"`` versus today's default.

    python bench/pacing.py                                   # the whole table
    python bench/pacing.py --rates 50 200 --windows 1 10 --backends httpx --processes 1
    python bench/pacing.py --ceiling                         # what this machine can drive
    python bench/pacing.py --rates 500 --windows 10 --latency 0.03   # a real API's round trip

For every R (requests per second the emulator enforces), window (``rate_window``:
1 is the emulator's default, "R per second"; 10 is SignalWire's, "10×R per ten
seconds"), HTTP backend and number of client processes, a fresh emulator
process serves 20×R updates' worth of participants on 127.0.0.1, and client
processes send 20×R updates between them with ``client.bulk(concurrency=64)``:

* ``auto``: ``AsyncClient(rate_limit="auto")``; with two processes, each runs
  ``RedisRateLimiter(url, key=..., rate="auto")`` on one key (a redis-server
  this script starts on a free loopback port) and sends half the updates;
* ``before``: today's unconfigured client (no rate limit: it learns nothing,
  every 429 pauses it for its Retry-After).

Columns: ``rate/R`` (updates ÷ wall time ÷ R: all processes, first start to
last finish; each process builds its client, then all start together), ``429%`` (429 answers ÷ requests, counted by the emulator),
``conv s`` (seconds until the learned limit was within ±10% of R, for the
first process), ``learned`` (the limit learned at the end), ``R/ceil``
(R ÷ what this machine drives with that backend and number of processes,
measured as ``--ceiling`` does just before the table: see below). The child
processes are this same script (``serve``, ``client``). Nothing is asserted.

``--trace DIR`` samples each ``auto`` process's learner every 20 ms (its
mode, pace, learned limit, latency, round trip to Redis, the fleet's grants
at first contact, its admitted and refused requests) and writes one file per
row to DIR: where a row's time went, first contact and every 429.

``--latency S`` has the emulator wait S seconds before it answers, as a
round trip to the real API would: first contact is slower, and a ten-second
window may fill only after about ten seconds.

``--ceiling`` measures what this machine can drive instead: the
unconfigured client (one or two processes) against the emulator with no rate
limit, sending ``--ceiling-updates`` updates; it prints updates per second.
Two processes also run through one ``RedisRateLimiter`` at a fixed rate far
above the emulator's reach, which costs a Redis round trip per request as a
fleet pays. A row whose R needs more than that is beyond the machine, not
the limiter. A table run measures the ceilings it needs first (``--no-ceiling``
skips them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import PYTHON, Server  # noqa: E402  (bench/run.py: subprocess servers, stopped by PID)

ACCOUNT_SID = "PJ" + "0" * 32
TOKEN = "bench-token"
CONFERENCE_SID = "CF" + "3" * 32
PARTICIPANTS = 200


def call_sid(index: int) -> str:
    return f"CA{index:032x}"


# --- children --------------------------------------------------------------------------


def serve(rate: float, window: float, lifetime: float, latency: float = 0.0) -> None:
    """The emulator enforcing ``rate`` per second over ``window`` seconds; stats on stdin EOF."""
    from aioparticipant.emulator import Emulator, serve_in_thread

    limit = rate if rate > 0 else None  # 0: no limit (the machine's ceiling)
    emulator = Emulator(
        project_id=ACCOUNT_SID,
        token=TOKEN,
        rate_limit=limit,
        rate_window=window,
        latency=latency,
    )
    for index in range(PARTICIPANTS):
        emulator.add_participant(CONFERENCE_SID, call_sid(index))
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(3))
    signal.alarm(int(lifetime) + 10)
    with serve_in_thread(emulator) as where:
        print(f"PORT {where.port}", flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait(timeout=lifetime)
    stats = emulator.stats
    print(json.dumps({"requests": stats.requests, "rate_limited": stats.rate_limited}), flush=True)


async def run_client(args: argparse.Namespace) -> dict[str, Any]:
    import anyio

    from aioparticipant import AsyncClient, ParticipantUpdate

    limiter: Any = None
    if args.redis_url:
        from aioparticipant.redis import RedisRateLimiter

        # "redis": a fixed rate far above any limit, to see what the Redis hop costs.
        rate = 1_000_000.0 if args.mode == "redis" else "auto"
        limiter = RedisRateLimiter(args.redis_url, key=args.redis_key, rate=rate)  # type: ignore[arg-type]
    options: dict[str, Any] = {"limiter": limiter} if limiter else {}
    if not limiter and args.mode == "auto":
        options["rate_limit"] = "auto"
    updates = (
        ParticipantUpdate(CONFERENCE_SID, call_sid(index % PARTICIPANTS), muted=index % 2 == 0)
        for index in range(args.n)
    )
    limits: list[tuple[float, float | None]] = []
    trace: list[list[Any]] = []
    failures = 0
    first_error: str | None = None
    async with AsyncClient(
        ACCOUNT_SID,
        TOKEN,
        base_url=f"http://127.0.0.1:{args.port}/api/laml/2010-04-01",
        http_backend=args.backend,
        **options,
    ) as client:

        async def sample() -> None:
            while True:
                limits.append((time.monotonic(), getattr(client.limiter, "limit", None)))
                if args.trace and (state := learner_state(client.limiter)):
                    trace.append([time.monotonic(), *state])
                await anyio.sleep(0.02 if args.trace else 0.1)

        # Every process starts when the last is ready (see one_row): the
        # interpreters' start-up skew is the harness's, not the limiter's.
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(sample)
            async with client.bulk(updates, concurrency=64) as results:
                async for result in results:
                    if not result.ok:
                        failures += 1
                        first_error = first_error or repr(result.error)[:200]
            group.cancel_scope.cancel()
        finished = time.monotonic()
        learned = getattr(client.limiter, "limit", None)
        if limiter is not None:
            await limiter.aclose()
    converged = next(
        (
            at - started
            for at, limit in limits
            if limit is not None and abs(limit - args.rate) <= 0.1 * args.rate
        ),
        None,
    )
    return {
        "started": started,
        "finished": finished,
        "failures": failures,
        "first_error": first_error,
        "converged": converged,
        "learned": learned,
        "trace": trace,
    }


TRACE_COLUMNS = "process seconds mode pace limit latency_ms redis_ms fleet_granted admitted refused"


def learner_state(limiter: Any) -> list[Any]:
    """The learner's state for ``--trace``, once it has one (a bench may read private parts)."""
    fleet = getattr(limiter, "_fleet", None)  # RedisRateLimiter(rate="auto")
    pacer = fleet.pacer if fleet is not None else getattr(limiter, "_pacer", None)
    if pacer is None:
        return []
    latency = None if pacer.latency is None else round(pacer.latency * 1000, 2)
    redis_ms = None if fleet is None else round(fleet._round_trip * 1000, 2)
    granted = None if fleet is None else fleet._fleet_granted
    limit = None if pacer.limit is None else round(pacer.limit, 1)
    pace = round(limiter.rate, 1)
    return [pacer.mode, pace, limit, latency, redis_ms, granted, pacer.admitted, pacer.refused]


# --- the runner -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a free loopback port, stopped by its PID."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: two-process rows need it")
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="pacing-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_together(children: list[subprocess.Popen[str]]) -> None:
    """Let the clients go at once, when each has its client built (or has died, or a minute passed)."""
    deadline = time.monotonic() + 60
    for child in children:
        assert child.stdout is not None
        if select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            child.stdout.readline()  # "ready", or "" from a child that failed
    for child in children:
        assert child.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write("go\n")
            child.stdin.flush()


def one_row(
    rate: float,
    window: float,
    backend: str,
    processes: int,
    mode: str,
    redis: RedisServer | None,
    updates: int | None = None,
    latency: float = 0.0,
    trace: Path | None = None,
) -> dict[str, Any]:
    n = int(20 * rate) if updates is None else updates
    lifetime = 120.0 + 40 * n / (rate or 100.0)
    with Server(
        [
            __file__,
            "serve",
            "--rate",
            str(rate),
            "--window",
            str(window),
            "--lifetime",
            str(lifetime),
            "--latency",
            str(latency),
        ],
        name="emulator",
    ) as server:
        key = f"pacing-{rate:g}-{window:g}-{backend}-{time.monotonic_ns()}"
        children = []
        for _ in range(processes):
            argv = [
                __file__, "client", "--port", str(server.port), "--rate", str(rate),
                "--n", str(n // processes), "--backend", backend, "--mode", mode,
            ]  # fmt: skip
            if processes > 1 and mode in ("auto", "redis") and redis is not None:
                argv += ["--redis-url", redis.url, "--redis-key", key]
            if trace is not None and mode == "auto":
                argv.append("--trace")
            children.append(
                subprocess.Popen(
                    [PYTHON, *argv],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        start_together(children)
        outputs = []
        for child in children:
            try:
                stdout, stderr = child.communicate(timeout=lifetime)
            except subprocess.TimeoutExpired:
                child.kill()
                stdout, stderr = child.communicate()
            lines = stdout.strip().splitlines()
            outputs.append(
                json.loads(lines[-1])
                if child.returncode == 0 and lines
                else {"failed": stderr[-800:]}
            )
        stats_line = server.close_stdin_and_read().strip().splitlines()
    stats = json.loads(stats_line[-1]) if stats_line else {}
    row: dict[str, Any] = {
        "R": rate,
        "window": window,
        "backend": backend,
        "processes": processes,
        "mode": mode,
    }
    if any("failed" in output for output in outputs) or not stats:
        row["failed"] = next((o["failed"] for o in outputs if "failed" in o), "no emulator stats")
        return row
    started = min(o["started"] for o in outputs)
    wall = max(o["finished"] for o in outputs) - started
    if trace is not None and mode == "auto":
        write_trace(
            trace / f"trace-{window:g}s-{backend}-{rate:g}-{processes}p.txt", outputs, started
        )
    row.update(
        per_second=n / wall,
        rate_ratio=n / wall / rate if rate else None,
        limited=100 * stats["rate_limited"] / stats["requests"],
        requests=stats["requests"],
        converged=outputs[0]["converged"],
        learned=outputs[0]["learned"],
        failures=sum(o["failures"] for o in outputs),
        first_error=next((o["first_error"] for o in outputs if o.get("first_error")), None),
    )
    return row


def write_trace(path: Path, outputs: list[dict[str, Any]], started: float) -> None:
    """Each process's start, finish and samples, in seconds from the row's start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {TRACE_COLUMNS}"]
    for index, output in enumerate(outputs):
        lines.append(
            f"# process {index}: started {output['started'] - started:+.3f} s, "
            f"finished {output['finished'] - started:+.3f} s"
        )
        for at, *state in output["trace"]:
            values = " ".join("-" if value is None else str(value) for value in state)
            lines.append(f"{index} {at - started:+.3f} {values}")
    path.write_text("\n".join(lines) + "\n")


def print_ceiling(row: dict[str, Any]) -> None:
    through = " through Redis" if row["mode"] == "redis" else ""
    head = f"ceiling {row['backend']:7} {row['processes']:>2}p{through}"
    if "failed" in row:
        print(f"{head}  FAILED: {row['failed']}", flush=True)
        return
    print(f"{head} {row['per_second']:9.0f} updates/s  ({row['requests']} requests)", flush=True)


def measure_ceilings(
    backends: list[str],
    processes: list[int],
    redis: RedisServer | None,
    updates: int,
    *,
    without_redis: bool = False,
) -> list[dict[str, Any]]:
    """What each (backend, processes) drives, printed: through one ``RedisRateLimiter``
    for several processes, as their "auto" rows run (and also without it, if asked)."""
    rows = []
    for backend in backends:
        for count in processes:
            modes = ["redis"] if count > 1 else ["before"]
            if count > 1 and without_redis:
                modes.insert(0, "before")
            for mode in modes:
                rows.append(one_row(0, 1.0, backend, count, mode, redis, updates))
                print_ceiling(rows[-1])
    return rows


def print_row(row: dict[str, Any]) -> None:
    head = f"{row['mode']:6} {row['window']:>4g}s {row['backend']:7} {row['processes']:>2}p {row['R']:>6g}"
    if "failed" in row:
        print(f"{head}  FAILED: {row['failed']}", flush=True)
        return
    conv = "-" if row["converged"] is None else f"{row['converged']:.1f}"
    learned = "-" if row["learned"] is None else f"{row['learned']:.1f}"
    load = "-" if row.get("ceiling") is None else f"{row['R'] / row['ceiling']:.2f}"
    print(
        f"{head} {row['rate_ratio']:7.3f} {row['limited']:6.2f} {conv:>7} {learned:>8} "
        f"{row['requests']:>8d} {row['failures']:>5d} {load:>6}",
        flush=True,
    )
    if row.get("first_error"):
        print(f"    first failure: {row['first_error']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command")
    serve_parser = sub.add_parser("serve")
    serve_parser.add_argument("--rate", type=float, required=True)
    serve_parser.add_argument("--window", type=float, default=1.0)
    serve_parser.add_argument("--lifetime", type=float, default=300.0)
    serve_parser.add_argument("--latency", type=float, default=0.0)
    client_parser = sub.add_parser("client")
    client_parser.add_argument("--port", type=int, required=True)
    client_parser.add_argument("--rate", type=float, required=True)
    client_parser.add_argument("--n", type=int, required=True)
    client_parser.add_argument("--backend", choices=("httpx", "aiohttp"), default="httpx")
    client_parser.add_argument("--mode", choices=("auto", "before", "redis"), default="auto")
    client_parser.add_argument("--redis-url")
    client_parser.add_argument("--redis-key")
    client_parser.add_argument("--trace", action="store_true")
    parser.add_argument("--rates", type=float, nargs="+", default=[20, 50, 100, 200, 500, 1000])
    parser.add_argument("--windows", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--backends", nargs="+", default=["httpx", "aiohttp"])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--before", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path, help="save the rows here")
    parser.add_argument(
        "--trace", type=Path, metavar="DIR", help="write each auto row's learner samples here"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the emulator waits before answering (a round trip to the real API)",
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="measure what this machine can drive"
    )
    parser.add_argument("--ceiling-updates", type=int, default=10_000)
    parser.add_argument(
        "--no-ceiling",
        dest="with_ceiling",
        action="store_false",
        help="a table run without measuring the ceilings first",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.rate, args.window, args.lifetime, args.latency)
        return
    if args.command == "client":
        import anyio

        print(json.dumps(anyio.run(run_client, args)), flush=True)
        return
    if args.ceiling:
        redis = RedisServer() if any(p > 1 for p in args.processes) else None
        try:
            rows = measure_ceilings(
                args.backends, args.processes, redis, args.ceiling_updates, without_redis=True
            )
        finally:
            if redis is not None:
                redis.stop()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    redis = RedisServer() if any(p > 1 for p in args.processes) else None
    rows = []
    try:
        ceilings = {}
        if args.with_ceiling:
            measured = measure_ceilings(args.backends, args.processes, redis, args.ceiling_updates)
            ceilings = {
                (row["backend"], row["processes"]): row["per_second"]
                for row in measured
                if "failed" not in row
            }
        print(f"{'mode':6} {'win':>5} {'backend':7} {'pr':>3} {'R':>6} {'rate/R':>7} {'429%':>6} "
              f"{'conv s':>7} {'learned':>8} {'requests':>8} {'fail':>5} {'R/ceil':>6}",
              flush=True)  # fmt: skip
        for window in args.windows:
            for backend in args.backends:
                for rate in args.rates:
                    modes = ["before", "auto"] if args.before else ["auto"]
                    for mode in modes:
                        for processes in args.processes if mode == "auto" else [1]:
                            row = one_row(
                                rate, window, backend, processes, mode, redis,
                                latency=args.latency, trace=args.trace,
                            )  # fmt: skip
                            rows.append(row)
                            rows[-1]["ceiling"] = ceilings.get((backend, processes))
                            print_row(rows[-1])
    finally:
        if redis is not None:
            redis.stop()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
