"""The Redis limiter's lanes across processes: a click's wait while bulk jobs saturate the limit.

    python bench/redis_lanes.py [--url redis://127.0.0.1:6379/0] [--rate 200] [--seconds 5]

Without ``--url`` it starts a redis-server of its own on a free loopback port
(and stops it). Three processes share one key: two bulk workers, each asking
for bulk tokens with 32 tasks non-stop, and one interactive process that asks
for a token every 50 ms and records how long each took. The limiter alone, no
HTTP: this is the limiter's part of the latency promise (p99 within 2/R +
20 ms of unloaded). Run once with the default reserve and once with
``reserve=0`` (what the limiter did before lanes). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

CHILD = """
import json, sys, time, anyio
from aioparticipant.redis import RedisRateLimiter
url, key, rate, burst, reserve, role, seconds = sys.argv[1:]
reserve = None if reserve == "default" else int(reserve)

async def main():
    async with RedisRateLimiter(url, key=key, rate=float(rate), burst=int(burst),
                                reserve=reserve) as limiter:
        await limiter.acquire(priority="bulk")  # connect before the clock starts
        print("ready", flush=True)
        sys.stdin.readline()
        deadline = time.monotonic() + float(seconds)
        if role == "bulk":
            granted = 0
            async def loop():
                nonlocal granted
                while time.monotonic() < deadline:
                    await limiter.acquire(priority="bulk")
                    granted += 1
            async with anyio.create_task_group() as tg:
                for _ in range(32):
                    tg.start_soon(loop)
            print(json.dumps({"granted": granted}))
        else:
            waits = []
            await anyio.sleep(0.5)  # let the bulk workers drain their share first
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await limiter.acquire()
                waits.append(time.perf_counter() - started)
                await anyio.sleep(0.05)
            print(json.dumps({"waits": waits}))

anyio.run(main)
"""


def run(url: str, rate: float, burst: int, reserve: str, seconds: float, bulk: bool) -> dict:
    key = f"bench-lanes:{uuid.uuid4().hex}"
    roles = ["bulk", "bulk", "interactive"] if bulk else ["interactive"]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                url,
                key,
                str(rate),
                str(burst),
                reserve,
                role,
                str(seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in roles
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [json.loads(child.communicate(timeout=seconds + 30)[0]) for child in children]
    waits = sorted(outputs[-1]["waits"])
    granted = sum(output.get("granted", 0) for output in outputs[:-1])
    return {
        "p50_ms": 1000 * statistics.median(waits),
        "p99_ms": 1000 * waits[min(len(waits) - 1, int(0.99 * len(waits)))],
        "bulk_rate": granted / seconds,
        "clicks": len(waits),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5)
    options = parser.parse_args()
    server = None
    url = options.url
    if url is None:
        port = free_port()
        workdir = tempfile.mkdtemp(prefix="bench-redis-")
        server = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.3)
        url = f"redis://127.0.0.1:{port}/0"
    try:
        rate, burst, seconds = options.rate, options.burst, options.seconds
        print(f"rate {rate:g}/s, burst {burst}; 2/R + 20 ms = {2000 / rate + 20:.0f} ms")
        print(f"{'scenario':<34} {'p50 ms':>7} {'p99 ms':>7} {'bulk/s':>7}")
        rows = [
            ("interactive alone", "default", False),
            ("under 2 bulk processes, reserve 0", "0", True),
            (f"under 2 bulk processes, reserve {burst // 2}", "default", True),
        ]
        for name, reserve, bulk in rows:
            result = run(url, rate, burst, reserve, seconds, bulk)
            bulk_rate = f"{result['bulk_rate']:7.1f}" if bulk else f"{'-':>7}"
            print(f"{name:<34} {result['p50_ms']:7.2f} {result['p99_ms']:7.2f} {bulk_rate}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)


if __name__ == "__main__":
    main()
