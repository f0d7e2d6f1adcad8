"""The Performance page's plots and table, from the bench's own output.

    python bench/run.py --only table --n 2000 --rounds 3 --json docs/data/bench-runs.json
    python docs/scripts/plots.py             # docs/img/bench-*.svg and docs/data/bench-table.md
    python docs/scripts/plots.py --out DIR   # all three somewhere else (the docs tests do this)

``bench-runs.json`` is the list of raw runs ``bench/run.py --json`` saves: one
object per (round, client, in-flight level) with ``rps``, ``cpu_us``,
``burst_ms``, ``rss_mb`` and ``connections``. Figures and table show the
median over the rounds, as ``bench/run.py``'s own table does. Needs matplotlib.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
IMG = HERE.parent / "img"

#: Clients in the bench's order, with the names the page uses and a colour each.
CLIENTS = {
    "aioparticipant": ("aioparticipant (httpx, default)", "#1f77b4"),
    "aioparticipant-fast": ("aioparticipant (aiohttp, fast)", "#d62728"),
    "raw-httpx": ("raw httpx AsyncClient", "#aec7e8"),
    "raw-aiohttp": ("raw aiohttp ClientSession", "#ff9896"),
    "twilio": ("twilio-python update_async", "#7f7f7f"),
    "aioparticipant-trio": ("aioparticipant (httpx) under trio", "#9467bd"),
    "raw-httpx-http2": ("raw httpx, HTTP/2", "#c5b0d5"),
}
METRICS = ("rps", "cpu_us", "burst_ms", "rss_mb", "connections")

plt.rcParams.update(
    {
        "svg.hashsalt": "aioparticipant-docs",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.facecolor": "white",
    }
)


def medians(runs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    """Median of each metric per (client, in flight), over the rounds that succeeded."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        if "rps" in run:
            grouped.setdefault((run["client"], run["in_flight"]), []).append(run)
    return {
        key: {metric: statistics.median(r[metric] for r in group) for metric in METRICS}
        | {"rounds": len(group), "errors": sum(r.get("errors", 0) for r in group)}
        for key, group in grouped.items()
    }


def bars(
    table: dict[tuple[str, int], dict[str, float]],
    metric: str,
    *,
    ylabel: str,
    title: str,
    out: Path,
    log: bool = False,
) -> None:
    clients = [c for c in CLIENTS if any(key[0] == c for key in table)]
    levels = sorted({level for _, level in table})
    width = 0.8 / len(clients)
    figure, ax = plt.subplots(figsize=(8.2, 3.6))
    for index, client in enumerate(clients):
        name, colour = CLIENTS[client]
        xs = [
            level_index + (index - (len(clients) - 1) / 2) * width
            for level_index in range(len(levels))
        ]
        values = [table.get((client, level), {}).get(metric, float("nan")) for level in levels]
        ax.bar(xs, values, width * 0.95, label=name, color=colour)
        for x, value in zip(xs, values, strict=True):
            if value == value:  # not NaN
                ax.text(x, value, f"{value:,.0f}", ha="center", va="bottom", fontsize=6.5)
    ax.set_xticks(range(len(levels)), [f"{level} in flight" for level in levels])
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=7.5, frameon=False, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    figure.tight_layout()
    figure.savefig(out, metadata={"Date": None})
    plt.close(figure)


def markdown_table(table: dict[tuple[str, int], dict[str, float]]) -> str:
    lines = [
        "| client | in flight | req/s | CPU µs/update | cold burst ms | peak RSS MB | connections opened |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    levels = sorted({level for _, level in table})
    for level in levels:
        for client in CLIENTS:
            row = table.get((client, level))
            if row is None:
                continue
            lines.append(
                f"| {CLIENTS[client][0]} | {level} | {row['rps']:,.0f} | {row['cpu_us']:,.0f} "
                f"| {row['burst_ms']:,.0f} | {row['rss_mb']:,.0f} | {row['connections']:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=DATA / "bench-runs.json")
    parser.add_argument("--out", type=Path, default=None, help="one directory for everything")
    args = parser.parse_args()
    figures = args.out or IMG
    tables = args.out or DATA
    figures.mkdir(parents=True, exist_ok=True)
    table = medians(json.loads(args.runs.read_text(encoding="utf-8")))
    bars(
        table,
        "cpu_us",
        ylabel="client CPU µs per update (lower is better)",
        title="Client CPU per participant update",
        out=figures / "bench-cpu.svg",
    )
    bars(
        table,
        "rps",
        ylabel="updates per second (higher is better)",
        title="Throughput against a fast loopback stub, one client process",
        out=figures / "bench-throughput.svg",
    )
    bars(
        table,
        "connections",
        ylabel="TCP connections opened (log scale)",
        title="Connections opened for the whole run",
        out=figures / "bench-connections.svg",
        log=True,
    )
    (tables / "bench-table.md").write_text(markdown_table(table), encoding="utf-8")
    print(f"{len(table)} (client, in flight) medians from {args.runs}")


if __name__ == "__main__":
    main()
