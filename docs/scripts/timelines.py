"""The figures of "Retries and rate limits": what the real client does, on a virtual clock.

    python docs/scripts/timelines.py            # rewrites docs/img/lanes.svg and pause.svg
    python docs/scripts/timelines.py --out DIR  # somewhere else (the docs tests do this)

Each figure is a run of the real ``AsyncClient`` (its token bucket, lanes,
slots and shared pause) against a tiny in-process server, on trio with a
virtual clock (``trio.testing.MockClock``): the run is instant and the times
are exact. Every attempt is recorded through the client's ``request`` event
hook. Needs matplotlib and trio (both in the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt
from trio.testing import MockClock

from aioparticipant import AsyncClient, ParticipantUpdate, RequestEvent, TokenBucket

HERE = Path(__file__).resolve().parent
IMG = HERE.parent / "img"
BODY = b'{"call_sid": "CA1", "conference_sid": "CF1", "muted": true}'
INTERACTIVE, BULK, REFUSED, PAUSE = "#d62728", "#7f7f7f", "#000000", "#fde0c5"

plt.rcParams.update(
    {
        "svg.hashsalt": "aioparticipant-docs",  # stable ids: a rerun changes only what changed
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.facecolor": "white",
    }
)


@dataclass
class Run:
    """What one scenario recorded: every attempt, and each click's wait."""

    sent: list[tuple[float, str]] = field(default_factory=list)  # (time, lane)
    refused: list[float] = field(default_factory=list)  # times a 429 was answered
    clicks: list[tuple[float, float]] = field(default_factory=list)  # (clicked, sent)


def server(run: Run, latency: float, refuse: Callable[[float], bool]) -> httpx.MockTransport:
    """A participant API that answers after ``latency``, or 429 when ``refuse(now)``."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(latency)
        now = anyio.current_time()
        if refuse(now):
            run.refused.append(now)
            body = b'{"code": 20429, "message": "Too Many Requests", "status": 429}'
            return httpx.Response(429, headers={"Retry-After": "1"}, content=body)
        return httpx.Response(200, content=BODY)

    return httpx.MockTransport(answer)


async def scenario(
    run: Run,
    *,
    limiter: object | None,
    clicks: list[float],
    updates: int,
    latency: float,
    concurrency: int = 8,
    refuse: Callable[[float], bool] = lambda now: False,
) -> None:
    """A bulk run of ``updates`` at full speed, and a supervisor clicking at ``clicks``."""

    def record(event: RequestEvent) -> None:
        run.sent.append((anyio.current_time(), event.priority))

    async with AsyncClient(
        "docs",
        "docs-token",
        base_url="http://127.0.0.1/api/laml/2010-04-01",
        transport=server(run, latency, refuse),
        limiter=limiter,  # type: ignore[arg-type]
        max_connections=max(concurrency, 8),
        event_hooks={"request": [record]},
    ) as client:

        async def click(at: float) -> None:
            sent: list[float] = []
            clicker = client.with_options(
                event_hooks={"request": [record, lambda event: sent.append(anyio.current_time())]}
            )
            await anyio.sleep(at)
            await clicker.conferences("CF1").participants("CAagent").mute()
            run.clicks.append((at, sent[0]))

        async def bulk() -> None:
            rows = (ParticipantUpdate("CF1", f"CA{n}", muted=True) for n in range(updates))
            async with client.bulk(rows, concurrency=concurrency) as results:
                async for _ in results:
                    pass

        async with anyio.create_task_group() as group:
            group.start_soon(bulk)
            for at in clicks:
                group.start_soon(click, at)


_real_sleep = anyio.sleep


async def _sleep_at_least_a_microsecond(delay: float) -> None:
    # A virtual clock jumps exactly to a deadline, so a bucket one rounding error short
    # of a token would sleep 1e-17 s forever without the clock moving; a real clock
    # always moves on. Give the virtual one a real clock's resolution.
    await _real_sleep(max(delay, 1e-6) if delay > 0 else delay)


def on_virtual_clock(coroutine_function: Callable[[], object]) -> None:
    random.seed(7)  # the client's jitter and stagger: the same figure on every run
    anyio.sleep = _sleep_at_least_a_microsecond  # type: ignore[assignment]
    anyio.run(
        coroutine_function,  # type: ignore[arg-type]
        backend="trio",
        backend_options={"clock": MockClock(autojump_threshold=0)},
    )


class OneQueue:
    """A limiter that knows no lanes: the same rate and burst, one first-come, first-served queue.

    (GCRA with reservations: each caller is given the next free moment and sleeps until then.)
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.next_free = 0.0

    async def acquire(self) -> None:
        now = anyio.current_time()
        moment = max(now, self.next_free - self.tolerance)
        self.next_free = max(self.next_free, now) + self.interval
        await anyio.sleep(moment - now)


def token_levels(
    sent: list[tuple[float, str]], rate: float, burst: int, until: float
) -> tuple[list[float], list[float]]:
    """The bucket's level over time, rebuilt from the grants (full at 0, +rate per second)."""
    times, levels = [0.0], [float(burst)]
    level, last = float(burst), 0.0
    for moment in [*sorted(t for t, _ in sent), until]:
        steps = 20
        for step in range(1, steps + 1):  # the refill between grants, as a ramp
            t = last + (moment - last) * step / steps
            times.append(t)
            levels.append(min(burst, level + (t - last) * rate))
        level = min(burst, level + (moment - last) * rate)
        if moment != until:
            level -= 1
            times.append(moment)
            levels.append(level)
        last = moment
    return times, levels


def lanes_figure(out: Path) -> None:
    rate, burst, clicks = 20.0, 4, [0.5, 1.1, 1.3, 2.1]
    runs = {"one queue for everyone": Run(), "two lanes (aioparticipant)": Run()}
    limiters = {
        "one queue for everyone": lambda: OneQueue(rate, burst),
        "two lanes (aioparticipant)": lambda: TokenBucket(rate, burst),  # reserve = 2
    }

    for title, run in runs.items():

        async def one(run: Run = run, title: str = title) -> None:
            await scenario(
                run,
                limiter=limiters[title](),
                clicks=clicks,
                updates=56,
                latency=0.05,
                concurrency=32,
            )

        on_virtual_clock(one)  # each from time 0
    until = 3.0
    figure, axes = plt.subplots(2, 1, figsize=(8.2, 6.2), sharex=True)
    for ax, (title, run) in zip(axes, runs.items(), strict=True):
        times, levels = token_levels(run.sent, rate, burst, until)
        ax.step(times, levels, where="post", color="#1f77b4", linewidth=1.2, label="tokens")
        if "lanes" in title:
            ax.axhline(2, color="#1f77b4", linestyle=":", linewidth=1)
            ax.text(1.95, 1.9, "reserve (2 tokens): bulk stops here", ha="right", va="top")
        bulk = [t for t, lane in run.sent if lane == "bulk"]
        ax.vlines(bulk, -2.5, -2.0, color=BULK, linewidth=1, label="bulk request sent")
        clicked_sent = [sent for _, sent in run.clicks]
        ax.vlines(clicked_sent, -2.5, -2.0, color=INTERACTIVE, linewidth=1.5)
        for row, (clicked, sent) in enumerate(run.clicks):
            y = -0.4 - 0.4 * row  # one row per click, so waits that overlap stay readable
            ax.annotate(
                "",
                xy=(sent, y),
                xytext=(clicked, y),
                arrowprops={"arrowstyle": "-|>", "color": INTERACTIVE, "linewidth": 1.2},
            )
            ax.plot([clicked], [y], "o", color=INTERACTIVE, markersize=4)
            label = f"waits {(sent - clicked) * 1000:.0f} ms"
            ax.text(
                clicked - 0.03, y, label, color=INTERACTIVE, ha="right", va="center", fontsize=8
            )
        ax.plot([], [], "o-", color=INTERACTIVE, markersize=4, label="a click: its wait")
        waits = [(s - c) * 1000 for c, s in run.clicks]
        spread = (
            f"{min(waits):.0f} ms"
            if max(waits) - min(waits) < 1
            else (f"{min(waits):.0f}–{max(waits):.0f} ms")
        )
        ax.set_title(
            f"{title}: clicks wait {spread}",
            loc="left",
            fontsize=10,
        )
        ax.set_ylim(-2.7, burst + 0.8)
        ax.set_yticks(range(burst + 1))
        ax.set_ylabel("tokens in the bucket")
        ax.set_xlim(0, until)
    axes[0].legend(loc="upper right", ncols=3, fontsize=8, frameon=False)
    axes[1].set_xlabel(
        "seconds (rate_limit=20, burst=4; a bulk run of 56 updates with concurrency=32)"
    )
    figure.tight_layout()
    figure.savefig(out / "lanes.svg", metadata={"Date": None})
    plt.close(figure)
    for title, run in runs.items():
        print(f"lanes.svg, {title}: waits {[round((s - c) * 1000) for c, s in run.clicks]} ms")


def pause_figure(out: Path) -> None:
    run = Run()
    start, stop = 0.6, 0.66  # the server refuses everything that arrives in this window

    async def paused() -> None:
        await scenario(
            run,
            limiter=None,
            clicks=[0.3, 1.0],
            updates=150,
            latency=0.1,
            refuse=lambda now: start <= now < stop,
        )

    on_virtual_clock(paused)
    resumed = max(run.refused) + 1.0
    figure, ax = plt.subplots(figsize=(8.2, 2.9))
    ax.axvspan(min(run.refused), resumed, color=PAUSE, label="shared pause (Retry-After: 1)")
    rows = {"interactive": 1.0, "bulk": 0.0}
    for lane, y in rows.items():
        sent = [t for t, sent_lane in run.sent if sent_lane == lane]
        color = INTERACTIVE if lane == "interactive" else BULK
        ax.vlines(sent, y - 0.3, y + 0.3, color=color, linewidth=1.2)
    ax.plot(run.refused, [-0.45] * len(run.refused), "x", color=REFUSED, label="answered 429")
    for clicked, sent in run.clicks:
        ax.annotate(
            "",
            xy=(sent, 1.45),
            xytext=(clicked, 1.45),
            arrowprops={"arrowstyle": "-|>", "color": INTERACTIVE, "linewidth": 1.2},
        )
        ax.plot([clicked], [1.45], "o", color=INTERACTIVE, markersize=4)
    ax.text(resumed + 0.03, 1.55, "interactive: the moment the pause ends", fontsize=8)
    ax.text(resumed + 0.03, -0.62, "bulk: spread over up to a second", fontsize=8)
    ax.set_yticks(list(rows.values()), [f"{lane}\nrequests" for lane in rows])
    ax.set_ylim(-0.9, 1.8)
    ax.set_xlim(0, resumed + 1.3)
    ax.set_xlabel(
        "seconds (no rate_limit, 8 in flight, 100 ms per answer; the server answers 429 for 60 ms)"
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=2, bbox_to_anchor=(0, 1.18))
    figure.tight_layout()
    figure.savefig(out / "pause.svg", metadata={"Date": None})
    plt.close(figure)
    print(f"pause.svg: {len(run.refused)} answered 429, paused until {resumed:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMG, help="directory (default: docs/img)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lanes_figure(args.out)
    pause_figure(args.out)


if __name__ == "__main__":
    main()
