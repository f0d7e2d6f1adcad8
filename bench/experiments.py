"""Side-by-side runs of candidate fixes (bench/variants.py) against the code as it is.

    python bench/experiments.py --client aioparticipant \\
        --variants "" first-try decode-fast direct shards:8 all-httpx --reference raw-httpx
    python bench/experiments.py --client aioparticipant-fast \\
        --variants "" first-try decode-fast aiohttp-lean all-aiohttp --reference twilio

Every (variant, level) runs once per round in a fresh process, rounds
interleaved, against one stub server; the table shows medians, and two ratios
taken per round from runs made side by side: against the unpatched code
(``""``) and against the reference client. On a shared machine the minimum
CPU over the rounds is shown too: contention only ever adds to it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import run

HERE = run.HERE


def child(server: run.Server, client: str, variant: str, n: int, in_flight: int) -> dict[str, Any]:
    before = server.stats()
    result = run.run_json(
        run.client_command(server, client, n, in_flight, "--variant", variant),
        timeout=max(120.0, n / 50),
    )
    result["connections"] = server.stats()["connections"] - before["connections"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="aioparticipant", choices=list(run.CLIENTS))
    parser.add_argument("--variants", nargs="+", default=[""])
    parser.add_argument("--reference", default="raw-httpx", choices=list(run.CLIENTS))
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 200_000 and 1 <= args.rounds <= 20):
        parser.error("--n 1..200,000, --rounds 1..20")
    variants = list(dict.fromkeys(["", *args.variants]))
    entries = [(args.client, v) for v in variants] + [(args.reference, "")]
    results: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    lifetime = len(entries) * len(args.in_flight) * args.rounds * max(120.0, args.n / 50) + 60
    with run.Server(
        [str(HERE / "stub_server.py"), "--lifetime", str(min(lifetime, 4 * 3600))], name="stub"
    ) as server:
        for round_number in range(args.rounds):
            for level in args.in_flight:
                shift = round_number % len(entries)
                for client, variant in entries[shift:] + entries[:shift]:
                    result = child(server, client, variant, args.n, level)
                    results[client, variant, level, round_number] = result
                    if "failed" in result:
                        sys.stderr.write(f"  {client} {variant!r} x{level}: {result['failed']}\n")
                        continue
                    sys.stderr.write(
                        f"  r{round_number} {client:>19} {variant or '(as is)':>16} x{level:<4}"
                        f" {result['cpu_s'] / result['n'] * 1e6:7.0f} µs"
                        f" {result['n'] / result['wall_s']:7.0f} req/s"
                        f" {result['connections']:4d} conns {result['errors']} errors\n"
                    )

    def metric(result: dict[str, Any], name: str) -> float:
        if name == "cpu":
            return float(result["cpu_s"] / result["n"] * 1e6)
        return float(result["n"] / result["wall_s"])

    def ratio(key: tuple[str, str], base: tuple[str, str], level: int, name: str) -> str:
        values = []
        for rnd in range(args.rounds):
            top = results.get((*key, level, rnd))
            bottom = results.get((*base, level, rnd))
            if top and bottom and "failed" not in top and "failed" not in bottom:
                values.append(metric(top, name) / metric(bottom, name))
        return f"{statistics.median(values):.2f}" if values else "-"

    print(
        f"\n### {args.client}: candidate fixes, {args.n:,} updates, "
        f"median of {args.rounds} interleaved rounds\n"
    )
    print(
        "| variant | in flight | CPU µs/update | min CPU µs | req/s | cold burst ms | conns "
        "| CPU ÷ as is "
        f"| CPU ÷ {args.reference} | req/s ÷ {args.reference} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in args.in_flight:
        for client, variant in entries:
            ok = [
                results[client, variant, level, rnd]
                for rnd in range(args.rounds)
                if "failed" not in results.get((client, variant, level, rnd), {"failed": 1})
            ]
            if not ok:
                print(f"| {client} {variant} | {level} | failed | | | | | | | |")
                continue
            label = variant or ("(as is)" if client == args.client else client)
            cpu = statistics.median(metric(r, "cpu") for r in ok)
            cpu_min = min(metric(r, "cpu") for r in ok)
            rps = statistics.median(metric(r, "rps") for r in ok)
            conns = statistics.median(r["connections"] for r in ok)
            burst = statistics.median(r["burst_s"] * 1e3 for r in ok)
            print(
                f"| {label} | {level} | {cpu:,.0f} | {cpu_min:,.0f} | {rps:,.0f} | {burst:,.0f} "
                f"| {conns:.0f} "
                f"| {ratio((client, variant), (args.client, ''), level, 'cpu')} "
                f"| {ratio((client, variant), (args.reference, ''), level, 'cpu')} "
                f"| {ratio((client, variant), (args.reference, ''), level, 'rps')} |"
            )


if __name__ == "__main__":
    main()
