"""Lanes (issue 9): a supervisor's click while bulk runs saturate the limit, measured over loopback.

    python bench/lanes.py                          # R = 200 and 1000, httpx and aiohttp, 6 s each
    python bench/lanes.py --quick                  # R = 200, httpx, 2.5 s each: a smoke run
    python bench/lanes.py --rates 200 --backends aiohttp --modes redis --seconds 10

Every scenario is separate processes on 127.0.0.1, started and stopped here:
the project's emulator (``bench/limiter_check.py serve``, i.e. ``serve_in_thread``
in a process of its own: a server in the client's interpreter would share its
GIL and distort the latencies), enforcing 1.25 × R in its sliding one-second
window, so that the client's own limit of R is what binds (the emulator's
429 count shows it); and the clients (``bench/lanes_worker.py``):

* ``single``: one process, one ``AsyncClient(rate_limit=R, max_connections=64)``
  doing both a ``client.bulk`` run (``concurrency=64``) and the clicks;
* ``redis``: three processes sharing one ``RedisRateLimiter`` key at rate R:
  two bulk processes (the same bulk run each) and one clicking; a
  redis-server is started on a free loopback port for the run.

Per mode three scenarios: the clicks alone (``unloaded``), the clicks under
the bulk run(s) (``lanes``), and ``before``: the same load with the lanes
defeated (the clicks in the bulk lane through ``with_options(priority="bulk")``,
a limiter with ``reserve=0``), which is how the client behaved before lanes.
A click is one update every ``--interval`` seconds, recorded from 0.5 s after
the start (once the bucket's initial burst has gone) to the end; bulk
completions are counted over the same window. ``turn`` is the part of a
click's latency spent waiting for its turn (pause, token, slot: until its
request hook runs); ``loop lag`` is how late the clicking process's event loop
wakes a 10 ms sleep; ``CPU pressure`` is the share of the scenario during
which some task on the machine waited for a CPU (Linux PSI). The figures and
the table are ``bench/lanes_report.py``'s.

The goal (CONTRACT.md, "Lanes"): p99 under load ≤ unloaded p99 + 2/R + 20 ms,
and bulk ≥ 90 % of (R − the clicks' rate). Nothing here asserts; it prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lanes_report import HEADROOM, ROUND_FIELDS, checks, describe, print_table, summarize
from run import PYTHON, Server, machine

HERE = Path(__file__).resolve().parent


def cpu_stall_us() -> float:
    """Microseconds some task has waited for a CPU since boot (Linux PSI), or NaN."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(some.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return math.nan


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A throw-away redis-server on a free loopback port (its URL), or None if not installed."""
    program = shutil.which("redis-server")
    if program is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-lanes-redis-")
    argv = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", workdir]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def scenario(
    args: argparse.Namespace,
    rate: float,
    backend: str,
    roles: list[str],
    *,
    before: bool,
    redis_url: str | None,
) -> dict[str, Any]:
    """Run one scenario: an emulator, the worker processes, all stopped by PID; its figures."""
    lifetime = args.seconds + 60
    serve = [str(HERE / "limiter_check.py"), "serve", "--rate", str(rate * HEADROOM)]
    serve += ["--participants", "101", "--lifetime", str(lifetime)]
    with Server(serve, name="emulator") as emulator:
        common = ["--port", str(emulator.port), "--rate", str(rate), "--backend", backend]
        common += ["--seconds", str(args.seconds), "--interval", str(args.interval)]
        common += ["--concurrency", str(args.concurrency)] + (["--before"] if before else [])
        common += ["--burst", str(args.burst)] if args.burst else []
        if redis_url:
            common += ["--redis-url", redis_url, "--redis-key", f"bench-lanes:{uuid.uuid4().hex}"]
        workers = [
            subprocess.Popen(
                [PYTHON, str(HERE / "lanes_worker.py"), "--role", role, *common],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for role in roles
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                line = worker.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"a worker failed to start: {worker.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            emulator_cpu = emulator.cpu_seconds()
            stall, wall = cpu_stall_us(), time.monotonic()
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            reports = []
            for worker in workers:
                out, err = worker.communicate(timeout=lifetime)
                if worker.returncode != 0 or not out.strip():
                    raise RuntimeError(f"a worker failed: {err[-2000:]}")
                reports.append(json.loads(out.strip().splitlines()[-1]))
            emulator_cpu = emulator.cpu_seconds() - emulator_cpu
            pressure = (cpu_stall_us() - stall) / 1e6 / (time.monotonic() - wall)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(timeout=10)
        lines = emulator.close_stdin_and_read().strip().splitlines()
    server_stats = json.loads(lines[-1]) if lines else {}
    return {
        "reports": reports,
        "server_429": server_stats.get("rate_limited"),
        "server_cpu_s": emulator_cpu,
        "cpu_pressure": pressure,
    }


SCENARIOS = ("unloaded", "lanes", "before")


def plan(args: argparse.Namespace, have_redis: bool) -> list[tuple[float, str, str, str]]:
    """Every (rate, backend, mode, scenario) to run, in table order."""
    keys = []
    for rate in args.rates:
        for backend in args.backends:
            for mode in args.modes:
                if mode == "redis" and not have_redis:
                    sys.stderr.write("skipping the redis mode: redis-server is not installed\n")
                    continue
                keys += [(rate, backend, mode, name) for name in SCENARIOS]
    return keys


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every scenario ``--rounds`` times, rounds interleaved; one pooled row per scenario."""
    runs: dict[tuple[float, str, str, str], list[dict[str, Any]]] = {}
    per_round: dict[tuple[float, str, str, str], list[dict[str, Any]]] = {}
    with redis_server() as redis_url:
        keys = plan(args, redis_url is not None)
        for round_number in range(1, args.rounds + 1):
            for key in keys:
                rate, backend, mode, name = key
                loaded = ["both"] if mode == "single" else ["bulk", "bulk", "interactive"]
                run = scenario(
                    args,
                    rate,
                    backend,
                    ["interactive"] if name == "unloaded" else loaded,
                    before=name == "before",
                    redis_url=redis_url if mode == "redis" else None,
                )
                runs.setdefault(key, []).append(run)
                row = summarize([run], rate) | {"rate": rate, "backend": backend}
                row |= {"mode": mode, "scenario": name}
                per_round.setdefault(key, []).append(row)
                sys.stderr.write(f"  round {round_number} {describe(row)}\n")
    rows = []
    for key in keys:
        row = summarize(runs[key], key[0])
        row |= {"rate": key[0], "backend": key[1], "mode": key[2], "scenario": key[3]}
        if key[3] != "unloaded":
            # The goal checked round by round, each loaded run against that round's unloaded one.
            baseline = per_round[(*key[:3], "unloaded")]
            verdicts = [checks(r, u) for r, u in zip(per_round[key], baseline, strict=True)]
            row["rounds_met"] = [sum(v[i] for v in verdicts) for i in range(3)]
        row["per_round"] = [{k: r[k] for k in ROUND_FIELDS if k in r} for r in per_round[key]]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="R = 200, httpx, 2.5 s per scenario")
    parser.add_argument("--rates", type=float, nargs="+", default=None)
    parser.add_argument("--backends", nargs="+", choices=("httpx", "aiohttp"), default=None)
    parser.add_argument("--modes", nargs="+", choices=("single", "redis"), default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per scenario (default 6)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds, pooled")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between clicks")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--burst", type=int, default=None, help="default: the library's (R/10)")
    parser.add_argument("--json", type=Path, default=None, help="save the rows here")
    args = parser.parse_args(argv)
    args.rates = args.rates or ([200.0] if args.quick else [200.0, 1000.0])
    args.backends = args.backends or (["httpx"] if args.quick else ["httpx", "aiohttp"])
    args.modes = args.modes or ["single", "redis"]
    args.seconds = args.seconds or (2.5 if args.quick else 6.0)
    if not 1.0 < args.seconds <= 60 or not 0.001 <= args.interval <= 1:
        parser.error("--seconds must be in (1, 60] and --interval in [0.001, 1]")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")
    if "aiohttp" in args.backends:
        import importlib.util

        if importlib.util.find_spec("aiohttp") is None:
            args.backends.remove("aiohttp")
            sys.stderr.write("skipping aiohttp: not installed\n")
    print(f"# aioparticipant lanes bench\n\nMachine: {machine()}")
    print(f"Load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    started = time.perf_counter()
    rows = run_all(args)
    print_table(rows, args)
    print(f"\nLoad average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"(lanes bench took {time.perf_counter() - started:.0f}s)")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
