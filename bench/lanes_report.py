"""The lanes bench's figures: one row per scenario from its runs, the goal check, the table.

``bench/lanes.py`` runs the scenarios and hands their raw reports here.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

#: The emulator enforces this much more than R, so that the client's limit binds.
HEADROOM = 1.25
#: The issue's measurement before lanes: rate_limit=200, in-process emulator.
HISTORICAL_BEFORE_MS = 325.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN when there is nothing."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarize(runs: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """One table row from the runs of one scenario (rounds pooled)."""
    window = 0.0
    bulk_done = cpu = server_cpu = 0.0
    latencies, turns, lags = [], [], []
    failures, server_429, bulk_processes = 0, 0, 0
    first_error = None
    for run in runs:
        clicker = next(r for r in run["reports"] if "latencies" in r)
        bulk = [r for r in run["reports"] if "bulk_in_window" in r]
        window += clicker["window_s"]
        latencies += [1000 * s for s in clicker["latencies"]]
        turns += [1000 * s for s in clicker["turns"]]
        lags += [1000 * s for s in clicker.get("lags", [])]
        bulk_done += sum(r["bulk_in_window"] for r in bulk)
        bulk_processes = len(bulk)
        cpu += sum(r["cpu_s"] for r in run["reports"])
        server_cpu += run["server_cpu_s"]
        server_429 += run["server_429"] or 0
        failures += clicker["click_failures"] + sum(r["bulk_failures"] for r in bulk)
        first_error = first_error or clicker.get("click_error")
        first_error = first_error or next(
            (r["first_error"] for r in bulk if r["first_error"]), None
        )
    click_rate = len(latencies) / window
    row: dict[str, Any] = {
        "rounds": len(runs),
        "clicks": len(latencies),
        "click_rate": click_rate,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies, default=math.nan),
        "turn_p50_ms": percentile(turns, 0.5),
        "turn_p99_ms": percentile(turns, 0.99),
        "lag_p99_ms": percentile(lags, 0.99),
        "failures": failures,
        "first_error": first_error,
        "server_429": server_429,
        "server_busy": server_cpu / window,
        "cpu_pressure": statistics.mean(run["cpu_pressure"] for run in runs),
        "client_busy": cpu / window,
        "processes": [
            {k: v for k, v in r.items() if k not in ("latencies", "turns", "lags")}
            for run in runs
            for r in run["reports"]
        ],
    }
    if bulk_processes:
        row["bulk_rate"] = bulk_done / window
        row["bulk_share"] = row["bulk_rate"] / (rate - click_rate)
    return row


ROUND_FIELDS = ("p50_ms", "p99_ms", "turn_p99_ms", "lag_p99_ms", "bulk_rate", "cpu_pressure")


def checks(row: dict[str, Any], unloaded: dict[str, Any]) -> tuple[bool, bool, bool]:
    """The contract's goal for a loaded row: (p99 within bound, turn p99 within it, bulk share)."""
    allowance = 2000 / row["rate"] + 20
    return (
        row["p99_ms"] <= unloaded["p99_ms"] + allowance,
        row["turn_p99_ms"] <= unloaded["turn_p99_ms"] + allowance,
        row["bulk_share"] >= 0.9,
    )


def describe(row: dict[str, Any]) -> str:
    bulk = f" bulk {row['bulk_rate']:.0f}/s" if "bulk_rate" in row else ""
    return (
        f"R={row['rate']:g} {row['backend']} {row['mode']} {row['scenario']}: "
        f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms "
        f"turn p99 {row['turn_p99_ms']:.1f} ms{bulk} "
        f"(429s {row['server_429']}, failures {row['failures']})"
    )


def goal(row: dict[str, Any], unloaded: dict[str, Any]) -> str:
    """The contract's check of a loaded row against its unloaded row (and round by round)."""
    allowance = 2000 / row["rate"] + 20
    verdicts = checks(row, unloaded)
    rounds = row.get("rounds_met", [0, 0, 0])
    n = len(row.get("per_round", ()))
    parts = (
        f"p99 ≤ {unloaded['p99_ms'] + allowance:.0f}",
        f"turn ≤ {unloaded['turn_p99_ms'] + allowance:.0f}",
        "bulk ≥ 90 %",
    )
    return "; ".join(
        f"{part}: {'met' if ok else 'MISSED'}" + (f" ({met}/{n} rounds)" if n > 1 else "")
        for part, ok, met in zip(parts, verdicts, rounds, strict=True)
    )


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n## Lanes: a click every {args.interval * 1000:g} ms, {args.seconds:g} s per scenario "
        f"x {args.rounds} round(s), bulk concurrency = max_connections = {args.concurrency}, "
        f"emulator enforcing {HEADROOM:g} × R\n"
    )
    print(
        "| R | backend | processes | scenario | clicks | p50 ms | p99 ms | turn p99 ms "
        "| loop lag p99 ms | bulk req/s | bulk ÷ (R − clicks) | 429s | CPU pressure | goal |"
    )
    print("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    unloaded = {
        (r["rate"], r["backend"], r["mode"]): r for r in rows if r["scenario"] == "unloaded"
    }
    for row in rows:
        key = (row["rate"], row["backend"], row["mode"])
        check = goal(row, unloaded[key]) if row["scenario"] != "unloaded" else ""
        processes = "1" if row["mode"] == "single" else "3, Redis"
        if row["scenario"] == "unloaded" and row["mode"] == "redis":
            processes = "1, Redis"
        bulk_rate = f"{row['bulk_rate']:.0f}" if "bulk_rate" in row else "-"
        share = f"{row['bulk_share'] * 100:.0f} %" if "bulk_share" in row else "-"
        print(
            f"| {row['rate']:g} | {row['backend']} | {processes} | {row['scenario']} "
            f"| {row['clicks']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['turn_p99_ms']:.1f} | {row['lag_p99_ms']:.1f} | {bulk_rate} | {share} "
            f"| {row['server_429']} | {row['cpu_pressure'] * 100:.0f} % | {check} |"
        )
    for row in rows:
        if row["failures"]:
            print(f"\n{describe(row)}: first error {row['first_error']}")
    print(
        f"\nHistorical before (issue 9, before lanes: rate_limit=200, bulk concurrency 64, "
        f"in-process emulator): a click took {HISTORICAL_BEFORE_MS:.0f} ms (median)."
    )
