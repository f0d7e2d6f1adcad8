"""The benchmark: ``nox -s bench`` (or ``python bench/run.py``), one table and a few figures.

    python bench/run.py                 # full run: 4,000 updates x 3 rounds, limiter, decode, memory
    python bench/run.py --quick         # CI smoke: a few hundred updates, one round, seconds
    python bench/run.py --only table --n 2000 --rounds 5 --in-flight 1 128
    python bench/run.py --only lanes overhead    # issue 9's lanes table, issue 11's overhead

What it measures, each client in a fresh process (so CPU and RSS are its own),
rounds interleaved (every client at every level once per round), medians shown:

* aioparticipant, default path (httpx's own transport) and fast path
  (``http_backend="aiohttp"`` with a non-binding limiter, retries, validation and
  msgspec decoding all on), against raw httpx ``AsyncClient`` (defaults), raw
  aiohttp ``ClientSession`` and twilio-python 9's ``update_async`` (its
  ``AsyncTwilioHttpClient`` pointed at the stub through ``client.api.base_url``);
* at 1, 16 and 128 updates in flight: updates per second (wall), client CPU per
  update, the cold burst (time until the first ``in flight`` updates are done),
  peak RSS, TCP connections the client opened (the stub counts them);
* ratio rows, computed per round from runs made side by side, then the median;
* limiter accuracy (``rate_limit=200`` against the project's emulator enforcing
  200/s), msgspec decode cost, and bulk memory (``bench/bench_bulk_memory.py``);
* lanes (``bench/lanes.py``, issue 9): a click's latency while bulk runs
  saturate the limit, in one process and in three sharing a Redis key;
* overhead (``bench/overhead.py``, issue 11): what unused hooks and tracing
  cost per call, and what importing OpenTelemetry adds to ``import aioparticipant``.

The server is ``bench/stub_server.py`` on 127.0.0.1, started and stopped by PID
and bounded in time. Nothing here asserts a timing; ``--json`` saves the raw runs.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

#: Table order, and what each row is called.
CLIENTS = {
    "aioparticipant": "aioparticipant (httpx, default)",
    "aioparticipant-fast": "aioparticipant (aiohttp, fast)",
    "raw-httpx": "raw httpx AsyncClient",
    "raw-aiohttp": "raw aiohttp ClientSession",
    "twilio": "twilio-python update_async",
    # Not in the default table: ask for it with --clients.
    "raw-httpx-http2": "raw httpx AsyncClient, HTTP/2 (h2c)",
    "aioparticipant-trio": "aioparticipant (httpx, default) under trio",
}
DEFAULT_CLIENTS = ["aioparticipant", "aioparticipant-fast", "raw-httpx", "raw-aiohttp", "twilio"]
#: What a client needs installed to run at all.
NEEDS = {
    "aioparticipant-fast": "aiohttp",
    "raw-aiohttp": "aiohttp",
    "twilio": "twilio",
    "raw-httpx-http2": "h2",
    "aioparticipant-trio": "trio",
}

#: (label, numerator, denominator, metric, target-checker or None)
RATIOS: list[tuple[str, str, str, str, dict[int, tuple[str, float]]]] = [
    (
        "default ÷ raw httpx, CPU/update",
        "aioparticipant",
        "raw-httpx",
        "cpu_us",
        {1: ("<=", 1.1), 128: ("<=", 0.6)},
    ),
    ("default ÷ raw httpx, req/s", "aioparticipant", "raw-httpx", "rps", {}),
    (
        "fast ÷ twilio, CPU/update",
        "aioparticipant-fast",
        "twilio",
        "cpu_us",
        {1: ("<=", 0.9), 16: ("<=", 0.9), 128: ("<=", 0.9)},
    ),
    (
        "fast ÷ twilio, req/s",
        "aioparticipant-fast",
        "twilio",
        "rps",
        {1: (">=", 1.1), 16: (">=", 1.1), 128: (">=", 1.1)},
    ),
]


# --- processes we start, and stop by PID ---------------------------------------


class Server:
    """A server subprocess that prints ``PORT <n>`` once listening; stopped by its PID."""

    def __init__(self, argv: Sequence[str], *, name: str, startup_timeout: float = 20.0) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [PYTHON, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.port = self._read_port(startup_timeout)

    def _read_port(self, timeout: float) -> int:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise RuntimeError(f"{self.name} did not start within {timeout:g}s")
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            error = self.process.stderr.read() if self.process.stderr else ""
            self.stop()
            raise RuntimeError(f"{self.name} failed to start: {line!r} {error[-2000:]}")
        return int(line.split()[1])

    def stats(self) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/__stats")
            return dict(json.loads(connection.getresponse().read()))
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (Linux ``/proc``), or NaN."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return float("nan")

    def close_stdin_and_read(self, timeout: float = 15.0) -> str:
        """For servers that report on stdin EOF: close it and return what they print."""
        try:
            stdout, _ = self.process.communicate(input="", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return ""
        return stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_json(argv: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run ``python argv...`` to completion (bounded) and parse its last stdout line."""
    try:
        done = subprocess.run(
            [PYTHON, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:g}s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"failed": f"exit {done.returncode}: {done.stderr.strip()[-1500:]}"}
    return dict(json.loads(lines[-1]))


# --- the table -----------------------------------------------------------------


def client_command(server: Server, client: str, n: int, in_flight: int, *extra: str) -> list[str]:
    """The arguments of one ``clients.py`` child run against the stub."""
    return [
        str(HERE / "clients.py"),
        *("--client", client, "--port", str(server.port)),
        *("--n", str(n), "--in-flight", str(in_flight)),
        *extra,
    ]


def measure(server: Server, client: str, n: int, in_flight: int, timeout: float) -> dict[str, Any]:
    before = server.stats()
    stub_cpu = server.cpu_seconds()
    result = run_json(client_command(server, client, n, in_flight), timeout)
    after = server.stats()
    result["client"] = client
    result["in_flight"] = in_flight
    result["connections"] = after["connections"] - before["connections"]
    served = after["requests"] - before["requests"]
    result["served"] = served
    if served:
        result["stub_cpu_us"] = (server.cpu_seconds() - stub_cpu) / served * 1e6
    if "failed" not in result:
        result["rps"] = result["n"] / result["wall_s"]
        result["cpu_us"] = result["cpu_s"] / result["n"] * 1e6
        result["burst_ms"] = result["burst_s"] * 1e3
        result["rss_mb"] = result["rss_peak_kb"] / 1024
    return result


def bench_table(args: argparse.Namespace, clients: list[str]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    timeout = max(120.0, args.n / 50)
    lifetime = args.rounds * len(clients) * len(args.in_flight) * timeout + 60
    with Server(
        [str(HERE / "stub_server.py"), "--lifetime", str(min(lifetime, 4 * 3600))], name="stub"
    ) as server:
        for round_number in range(1, args.rounds + 1):
            for in_flight in args.in_flight:
                # Rotate the order each round so no client always runs first or last.
                shift = (round_number - 1) % len(clients)
                for client in clients[shift:] + clients[:shift]:
                    result = measure(server, client, args.n, in_flight, timeout)
                    result["round"] = round_number
                    runs.append(result)
                    _progress(result)
    return runs


def _progress(result: dict[str, Any]) -> None:
    if "failed" in result:
        text = f"FAILED {result['failed'][:200]}"
    else:
        text = (
            f"{result['rps']:8.0f} req/s {result['cpu_us']:7.0f} µs/update "
            f"{result['connections']:5d} conns {result['errors']} errors"
        )
    sys.stderr.write(
        f"  round {result['round']} {result['client']:>20} x{result['in_flight']:<4} {text}\n"
    )


def _median(values: Iterable[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def summarize(
    runs: list[dict[str, Any]], clients: list[str], levels: list[int]
) -> dict[tuple[str, int], dict[str, float]]:
    table: dict[tuple[str, int], dict[str, float]] = {}
    for client in clients:
        for level in levels:
            ok = [
                r for r in runs if r["client"] == client and r["in_flight"] == level and "rps" in r
            ]
            if not ok:
                continue
            table[client, level] = {
                metric: _median(r[metric] for r in ok)
                for metric in ("rps", "cpu_us", "burst_ms", "rss_mb", "connections")
            } | {
                "errors": sum(r["errors"] for r in ok),
                "runs": len(ok),
                "stub_cpu_us": _median(r.get("stub_cpu_us", float("nan")) for r in ok),
            }
    return table


def ratios(
    runs: list[dict[str, Any]], levels: list[int]
) -> list[tuple[str, dict[int, float], dict[int, tuple[str, float]]]]:
    by_key = {(r["round"], r["client"], r["in_flight"]): r for r in runs if "rps" in r}
    rounds = sorted({r["round"] for r in runs})
    rows = []
    for label, top, bottom, metric, targets in RATIOS:
        values: dict[int, float] = {}
        for level in levels:
            per_round = [
                by_key[rnd, top, level][metric] / by_key[rnd, bottom, level][metric]
                for rnd in rounds
                if (rnd, top, level) in by_key and (rnd, bottom, level) in by_key
            ]
            if per_round:
                values[level] = statistics.median(per_round)
        if values:
            rows.append((label, values, targets))
    return rows


def print_table(
    runs: list[dict[str, Any]], clients: list[str], levels: list[int], args: argparse.Namespace
) -> None:
    table = summarize(runs, clients, levels)
    rounds = max((r["round"] for r in runs), default=0)
    print(
        f"\n## Client CPU and throughput: {args.n:,} updates per run, "
        f"median of {rounds} interleaved round(s)\n"
    )
    print(
        "| client | in flight | req/s | CPU µs/update | cold burst ms | peak RSS MB "
        "| connections opened | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        for client in clients:
            row = table.get((client, level))
            if row is None:
                failed = next(
                    (r["failed"] for r in runs if r["client"] == client and "failed" in r), "-"
                )
                print(f"| {CLIENTS[client]} | {level} | failed: {failed[:80]} | | | | | |")
                continue
            print(
                f"| {CLIENTS[client]} | {level} | {row['rps']:,.0f} | {row['cpu_us']:,.0f} "
                f"| {row['burst_ms']:,.0f} | {row['rss_mb']:.0f} | {row['connections']:.0f} "
                f"| {row['errors']:.0f} |"
            )
    ratio_rows = ratios(runs, levels)
    if ratio_rows:
        print(
            "\n| ratio (per-round, median) | " + " | ".join(f"{k} in flight" for k in levels) + " |"
        )
        print("|---|" + "---:|" * len(levels))
        for label, values, targets in ratio_rows:
            cells = []
            for level in levels:
                if level not in values:
                    cells.append("-")
                    continue
                cell = f"{values[level]:.2f}"
                if level in targets:
                    op, bound = targets[level]
                    met = values[level] <= bound if op == "<=" else values[level] >= bound
                    cell += f" ({'meets' if met else 'misses'} {op} {bound})"
                cells.append(cell)
            print(f"| {label} | " + " | ".join(cells) + " |")
    stub = [row["stub_cpu_us"] for row in table.values()]
    print(
        f"\nStub server CPU: {_median(stub):.0f} µs per request (median over rows), "
        f"i.e. ~{1e6 / max(_median(stub), 1):,.0f} req/s on its own core."
    )


# --- msgspec decode cost ---------------------------------------------------------


def decode_costs(quick: bool) -> None:
    sys.path.insert(0, str(HERE))
    from stub_server import BODY

    loops = 2_000 if quick else 20_000
    rows: list[tuple[str, float]] = []

    def cost(label: str, function: Any, argument: Any) -> None:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(loops):
                function(argument)
            best = min(best, (time.perf_counter() - start) / loops)
        rows.append((label, best * 1e6))

    from aioparticipant import _models

    cost("decode_participant (msgspec + dates + Participant)", _models.decode_participant, BODY)
    wire_decoder = getattr(_models, "_PARTICIPANT_DECODER", None)
    if wire_decoder is not None:
        cost("  msgspec Decoder → wire struct only", wire_decoder.decode, BODY)
        from_wire = getattr(_models, "_from_wire", None)
        if from_wire is not None:
            cost("  _from_wire (dates + Participant)", from_wire, wire_decoder.decode(BODY))
    cost("json.loads → dict (raw clients)", json.loads, BODY)
    if importlib.util.find_spec("twilio") is not None:
        from twilio.rest.api.v2010.account.conference.participant import ParticipantInstance

        payload = json.loads(BODY)

        def twilio_instance(data: dict[str, Any]) -> object:
            return ParticipantInstance(
                None,  # type: ignore[arg-type]
                data,
                account_sid="AC",
                conference_sid="CF",
                call_sid="CA",
            )

        cost("twilio ParticipantInstance(json dict)", twilio_instance, payload)
    print(f"\n## Decoding one participant ({len(BODY)} bytes), best of 5 x {loops:,}\n")
    print("| step | µs |")
    print("|---|---:|")
    for label, micros in rows:
        print(f"| {label} | {micros:.2f} |")


# --- limiter accuracy ------------------------------------------------------------


def limiter_check(args: argparse.Namespace) -> None:
    rate = args.limiter_rate
    n = args.limiter_n
    emulator = importlib.util.find_spec("aioparticipant.emulator") is not None
    use_emulator = emulator and importlib.util.find_spec("uvicorn") is not None
    backends = ["httpx"] + (["aiohttp"] if importlib.util.find_spec("aiohttp") else [])
    print(
        f"\n## Limiter accuracy: rate_limit={rate:g}, {n:,} updates through client.bulk "
        f"(concurrency 50), server enforcing {rate:g}/s\n"
    )
    if n < 10 * rate:
        print(f"(only {n:,} updates: the steady rate needs about 10 s of them to mean much)\n")
    print(
        "| backend | burst | server | steady rate (error) | overall rate (ideal) "
        "| 429s at server | 429 retries | failures |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    timeout = n / rate * 3 + 60
    for backend, burst in ((b, k) for b in backends for k in args.limiter_burst):
        if use_emulator:
            server = Server(
                [
                    str(HERE / "limiter_check.py"),
                    "serve",
                    "--rate",
                    str(rate),
                    "--lifetime",
                    str(timeout + 30),
                ],
                name="emulator",
            )
            server_name = "aioparticipant.emulator"
        else:
            server = Server(
                [
                    str(HERE / "stub_server.py"),
                    "--rate-limit",
                    str(rate),
                    "--lifetime",
                    str(timeout + 30),
                ],
                name="stub",
            )
            server_name = "stub --rate-limit"
        with server:
            result = run_json(
                [
                    str(HERE / "limiter_check.py"),
                    "client",
                    "--port",
                    str(server.port),
                    "--rate",
                    str(rate),
                    "--n",
                    str(n),
                    "--backend",
                    backend,
                    *(["--burst", str(burst)] if burst else []),
                ],
                timeout,
            )
            if use_emulator:
                lines = server.close_stdin_and_read().strip().splitlines()
                server_stats = json.loads(lines[-1]) if lines else {}
            else:
                server_stats = server.stats()
        if "failed" in result:
            print(
                f"| {backend} | {burst or 'default'} | {server_name} "
                f"| failed: {result['failed'][:120]} | | | | |"
            )
            continue
        steady = result["steady_rate"]
        ideal = result["ideal_overall_rate"]
        print(
            f"| {backend} | {result['burst']} | {server_name} "
            f"| {steady:.1f}/s ({(steady / rate - 1) * 100:+.1f}%) "
            f"| {result['overall_rate']:.1f}/s ({ideal:.1f}) "
            f"| {server_stats.get('rate_limited', '?')} | {result['retried_429']} "
            f"| {result['failures']} |"
        )


# --- bulk memory (bench_bulk_memory.py, written separately) ------------------------


def memory_check(args: argparse.Namespace) -> None:
    script = HERE / "bench_bulk_memory.py"
    print("\n## Bulk memory: client.bulk, peak RSS growth after warm-up\n")
    if not script.exists():
        print("bench/bench_bulk_memory.py is not there yet; skipped.")
        return
    extra = list(args.memory_args)
    if args.quick and not extra:
        extra = ["--n", "5000", "--warmup", "1000", "--timeout", "120"]
    timeout = args.memory_timeout
    try:
        done = subprocess.run(
            [PYTHON, str(script), *extra, "--timeout", str(timeout - 30)]
            if "--timeout" not in extra
            else [PYTHON, str(script), *extra],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"bench_bulk_memory.py timed out after {timeout:g}s")
        return
    try:
        report = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        print(done.stdout.rstrip() or "(no output)")
    else:
        print("| figure | value |")
        print("|---|---:|")
        for key, value in report.items():
            print(f"| {key} | {value} |")
    if done.returncode != 0:
        print(f"(exit {done.returncode}) {done.stderr.strip()[-1500:]}")


# --- lanes and overhead (their own scripts) --------------------------------------------


def run_script(name: str, argv: list[str], timeout: float) -> None:
    """Run ``bench/<name>`` with ``argv``, passing its report through (bounded in time)."""
    try:
        done = subprocess.run(
            [PYTHON, str(HERE / name), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"\n{name} timed out after {timeout:g}s")
        return
    report = done.stdout.strip()
    # Their first lines repeat the machine and title: keep from the first table on.
    start = report.find("\n## ")
    print(report[start:] if start != -1 else report)
    if done.returncode != 0:
        print(f"({name} exit {done.returncode}) {done.stderr.strip()[-1500:]}")


def lanes_check(args: argparse.Namespace) -> None:
    # --quick: one process only (three scenarios, ~15 s); the full run adds the Redis fleet.
    argv = ["--quick", "--modes", "single"] if args.quick else []
    run_script("lanes.py", argv, timeout=1800)


def overhead_check(args: argparse.Namespace) -> None:
    run_script("overhead.py", ["--quick"] if args.quick else [], timeout=1200)


# --- entry ---------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("httpx", "httpcore", "anyio", "sniffio", "aiohttp", "twilio", "msgspec"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    uvloop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio loop (no uvloop)"
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.system()}), {uvloop}; " + ", ".join(versions)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke: small N, one round")
    parser.add_argument("--n", type=int, default=None, help="updates per run (default 4000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--clients", nargs="+", choices=list(CLIENTS), default=DEFAULT_CLIENTS)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("table", "decode", "limiter", "memory", "lanes", "overhead"),
        default=("table", "decode", "limiter", "memory", "lanes", "overhead"),
    )
    parser.add_argument("--limiter-rate", type=float, default=200.0)
    parser.add_argument(
        "--limiter-burst", type=int, nargs="+", default=[0], help="client bursts (0: default)"
    )
    parser.add_argument("--limiter-n", type=int, default=None, help="default 5000 (600 quick)")
    parser.add_argument("--memory-args", nargs="*", default=[], help="passed to the memory bench")
    parser.add_argument("--memory-timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--json", type=Path, default=None, help="save the raw runs here")
    args = parser.parse_args(argv)
    args.n = args.n or (300 if args.quick else 4000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.limiter_n = args.limiter_n or (600 if args.quick else 5000)
    if not (1 <= args.n <= 1_000_000 and 1 <= args.rounds <= 50):
        parser.error("--n must be 1..1,000,000 and --rounds 1..50")
    if any(not 1 <= k <= 4096 for k in args.in_flight) or not 1 <= args.limiter_n <= 1_000_000:
        parser.error("--in-flight must be 1..4096, --limiter-n 1..1,000,000")

    clients = []
    for client in args.clients:
        need = NEEDS.get(client)
        if need and importlib.util.find_spec(need) is None:
            sys.stderr.write(f"skipping {client}: {need} is not installed\n")
            continue
        clients.append(client)

    print(f"# aioparticipant bench\n\nMachine: {machine()}")
    if args.quick:
        print("\n(--quick: a smoke run; too few updates for the figures to mean anything)")
    started = time.perf_counter()
    if "table" in args.only:
        runs = bench_table(args, clients)
        print_table(runs, clients, args.in_flight, args)
        if args.json is not None:
            args.json.write_text(json.dumps(runs, indent=1))
    if "decode" in args.only:
        decode_costs(args.quick)
    if "limiter" in args.only:
        limiter_check(args)
    if "memory" in args.only:
        memory_check(args)
    if "lanes" in args.only:
        lanes_check(args)
    if "overhead" in args.only:
        overhead_check(args)
    print(f"\n(bench took {time.perf_counter() - started:.0f}s)")


if __name__ == "__main__":
    main()
