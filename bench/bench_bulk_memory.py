"""Peak memory of client.bulk over a million updates: it must stay flat.

    python bench/bench_bulk_memory.py [--n 1000000] [--concurrency 64] [--backend aiohttp]

Starts a minimal keep-alive HTTP stub on 127.0.0.1 in a child process (so its
memory and CPU are not the client's), sends ``n`` updates through
``client.bulk`` from a lazy generator, and prints the resident set size of
this process: after a warm-up (pools, caches and buffers in place), sampled
during the run, and at its peak (``VmHWM``, reset after the warm-up where the
kernel allows). The growth from warm-up to peak is the figure: it must not
depend on ``n``. Also prints throughput (of this machine, with the stub on
it too: a comparison between runs, not a capacity figure).

The measured run stops after ``--timeout`` seconds and reports what it
measured (``"completed": false``); the stub exits by itself soon after even
if this process dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio

BODY = json.dumps(
    {
        "account_sid": "AC" + "0" * 32,
        "call_sid": "CA" + "0" * 32,
        "conference_sid": "CF" + "1" * 32,
        "date_created": "Mon, 24 Sep 2018 21:00:00 +0000",
        "date_updated": "Tue, 25 Sep 2018 20:00:00 +0000",
        "muted": True,
        "hold": False,
        "status": "in-progress",
        "coaching": False,
        "uri": "/api/laml/2010-04-01/Accounts/AC/Conferences/CF/Participants/CA.json",
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
ACCOUNT_SID = "AC" + "0" * 32
CONFERENCE_SID = "CF" + "1" * 32


# --- the stub (child process) ------------------------------------------------------------


class _Stub(asyncio.Protocol):
    """Answers every complete request (head + Content-Length body) with RESPONSE."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = 0
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                break
            del self.buffer[: end + 4 + length]
            answers += 1
        if answers:
            self.transport.write(RESPONSE * answers)


async def _serve(lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Stub, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(lifetime)  # the parent kills us sooner; this is the backstop


# --- the measurement (parent) ------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _updates(n: int) -> Iterator[object]:
    from aioparticipant import ParticipantUpdate

    for index in range(n):
        yield ParticipantUpdate(CONFERENCE_SID, f"CA{index:032x}", muted=True)


async def _run(port: int, args: argparse.Namespace) -> dict[str, object]:
    from aioparticipant import AsyncClient

    async with AsyncClient(
        ACCOUNT_SID,
        "bench-token",
        base_url=f"http://127.0.0.1:{port}/api/laml/2010-04-01",
        http_backend=args.backend,
        max_connections=args.concurrency,
    ) as client:
        # Warm up: connections opened, decoders and caches built.
        async with client.bulk(_updates(args.warmup), concurrency=args.concurrency) as results:  # type: ignore[arg-type]
            async for _ in results:
                pass
        baseline = _status_kb("VmRSS")
        peak_was_reset = _reset_peak()
        samples: list[tuple[int, int]] = []
        failed = 0
        done = 0
        step = max(1, args.n // 10)
        started = time.perf_counter()
        # A loaded machine may not finish in time: stop then and report what was measured.
        with anyio.move_on_after(args.timeout):
            async with client.bulk(_updates(args.n), concurrency=args.concurrency) as results:  # type: ignore[arg-type]
                async for result in results:
                    done += 1
                    failed += not result.ok
                    if done % step == 0:
                        rss = _status_kb("VmRSS")
                        samples.append((done, rss))
                        rate = done / (time.perf_counter() - started)
                        print(
                            f"{done} updates, RSS {rss / 1024:.1f} MB, {rate:.0f}/s",
                            file=sys.stderr,
                        )
        elapsed = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    return {
        "updates": done,
        "completed": done == args.n,
        "failed": failed,
        "concurrency": args.concurrency,
        "backend": args.backend,
        "seconds": round(elapsed, 1),
        "updates_per_second": round(done / elapsed),
        "rss_after_warmup_mb": round(baseline / 1024, 1),
        "rss_samples_mb": " ".join(f"{count}:{kb / 1024:.1f}" for count, kb in samples),
        "peak_rss_mb": round(peak / 1024, 1),
        "peak_is_since_warmup": peak_was_reset,
        "peak_growth_mb": round((peak - baseline) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.timeout + 30))
        return

    stub = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--timeout", str(2 * args.timeout + 300)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stub.stdout is not None
        port = int(stub.stdout.readline())
        report = asyncio.run(_run(port, args))
    finally:
        stub.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            stub.wait(timeout=5)
        if stub.poll() is None:
            stub.kill()
    print(json.dumps(report, indent=2))
    if report["failed"]:
        sys.exit(f"{report['failed']} updates failed against the stub")


if __name__ == "__main__":
    main()
