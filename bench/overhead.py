"""Hooks and tracing cost nothing when unused (issue 11): per-call CPU, and the import.

    python bench/overhead.py                  # 30 rounds x 2,000 updates per variant, ~1 min
    python bench/overhead.py --quick          # 5 rounds x 500: a smoke run
    python bench/overhead.py --rounds 60 --loops 4000 --import-runs 15

Per-call CPU: sequential ``participant.update(muted=True)`` through the default
path (``HttpxSender``) with ``transport=`` an in-process fake that answers a
prebuilt participant at once, so the client's own work is all that is timed:
validation, the pipeline (pause, token, slot, hooks, span check), building the
``httpx.Request``, and decoding the answer. One ``AsyncClient`` per variant,
all in one process; every round runs every variant once (order rotated), each
for ``--loops`` calls timed with ``time.process_time()``. The table gives the
median µs per call over the rounds and, per variant, the median of its
per-round difference from the reference measured in the same round, with the
interquartile range of those differences (the noise a difference must clear).

Variants: the reference has no hooks and ``opentelemetry.trace`` not loaded
(as without the ``otel`` extra, or with it but unused: the library never
imports it); then ``opentelemetry.trace`` imported by the program but no
tracer provider set; ``event_hooks`` with empty lists; one no-op hook per event (plain,
then async); and an SDK ``TracerProvider`` exporting every span to a no-op
exporter through ``SimpleSpanProcessor`` (what tracing on costs, for scale).

Import: ``python -X importtime -c "import aioparticipant"`` run ``--import-runs``
times with ``opentelemetry`` importable and as many times with
``sys.modules["opentelemetry"] = None`` (as if the extra were absent),
interleaved; medians of the package's cumulative import time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from stub_server import BODY

from aioparticipant import AsyncClient
from aioparticipant._senders import RawResponse

ACCOUNT_SID = "PJ" + "0" * 32
BASE_URL = "http://127.0.0.1:9/api/laml/2010-04-01"
CONFERENCE_SID = "CF" + "1" * 32
CALL_SID = "CA" + "2" * 32
JSON_HEADERS = [(b"content-type", b"application/json")]


class AnswerAtOnce(httpx.AsyncBaseTransport):
    """An in-process transport: every request is answered 200 with one participant, no I/O."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=JSON_HEADERS, content=BODY)


def noop(event: object) -> None:
    """A hook that does nothing."""


async def async_noop(event: object) -> None:
    """An async hook that does nothing."""


@contextmanager
def otel_absent() -> Iterator[None]:
    """Tracing as it is when nothing imported ``opentelemetry.trace`` (not installed, or unused)."""
    saved = sys.modules.pop("opentelemetry.trace", None)
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["opentelemetry.trace"] = saved


@contextmanager
def nothing() -> Iterator[None]:
    yield


def sdk_provider() -> Callable[[], Any]:
    """A context factory that puts an SDK tracer provider (no-op exporter) in force."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Discard()))

    @contextmanager
    def in_force() -> Iterator[None]:
        # trace.set_tracer_provider may be called once per process; the bench
        # switches the global back and forth between rounds instead.
        saved = trace._TRACER_PROVIDER
        trace._TRACER_PROVIDER = provider
        try:
            yield
        finally:
            trace._TRACER_PROVIDER = saved

    return in_force


def variants() -> list[tuple[str, dict[str, Any], Callable[[], Any]]]:
    """(label, AsyncClient keywords, context to run it in); the first is the reference."""
    rows: list[tuple[str, dict[str, Any], Callable[[], Any]]] = [
        ("reference: no hooks, opentelemetry absent", {}, otel_absent),
        ("opentelemetry.trace imported, no tracer provider", {}, nothing),
        (
            "event_hooks with empty lists",
            {"event_hooks": {"request": [], "response": [], "retry": []}},
            otel_absent,
        ),
        (
            "one no-op hook per event (plain)",
            {"event_hooks": {"request": [noop], "response": [noop], "retry": [noop]}},
            otel_absent,
        ),
        (
            "one no-op hook per event (async)",
            {
                "event_hooks": {
                    "request": [async_noop],
                    "response": [async_noop],
                    "retry": [async_noop],
                }
            },
            otel_absent,
        ),
    ]
    try:
        rows.append(("SDK tracer provider, spans to a no-op exporter", {}, sdk_provider()))
    except ImportError:
        sys.stderr.write("opentelemetry-sdk is not installed: its row is skipped\n")
    return rows


class AnswerAtOnceSender:
    """A fake sender in place of the HTTP backend: only aioparticipant's own code is timed."""

    def __init__(self) -> None:
        self._answer = RawResponse(200, "OK", httpx.Headers(JSON_HEADERS), BODY)

    def prepare_timeout(self, timeout: httpx.Timeout) -> object:
        return None

    async def send(self, method: str, url: str, form: bytes | None, timeouts: object) -> Any:
        return self._answer

    async def aclose(self) -> None:
        pass


def make_client(level: str, kwargs: dict[str, Any]) -> AsyncClient:
    if level == "transport":
        return AsyncClient(
            ACCOUNT_SID, "token", base_url=BASE_URL, transport=AnswerAtOnce(), **kwargs
        )
    client = AsyncClient(ACCOUNT_SID, "token", base_url=BASE_URL, **kwargs)
    client._pipeline.sender = AnswerAtOnceSender()  # type: ignore[assignment]  # bench only
    return client


async def per_call_cpu(
    level: str, rounds: int, loops: int
) -> list[tuple[str, list[float], list[float]]]:
    """Per variant: µs per call in each round, and its difference from the reference's."""
    chosen = variants()
    clients = [make_client(level, kwargs) for _, kwargs, _ in chosen]
    participants = [c.conferences(CONFERENCE_SID).participants(CALL_SID) for c in clients]
    per_round: list[list[float]] = [[] for _ in chosen]
    for round_number in range(rounds + 1):  # round 0 warms up and is dropped
        shift = round_number % len(chosen)
        order = list(range(len(chosen)))[shift:] + list(range(len(chosen)))[:shift]
        for index in order:
            participant = participants[index]
            with chosen[index][2]():
                started = time.process_time()
                for _ in range(loops):
                    await participant.update(muted=True)
                micros = (time.process_time() - started) / loops * 1e6
            if round_number:
                per_round[index].append(micros)
    for client in clients:
        await client.aclose()
    reference = per_round[0]
    return [
        (label, values, [v - r for v, r in zip(values, reference, strict=True)])
        for (label, _, _), values in zip(chosen, per_round, strict=True)
    ]


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95 % confidence interval of the median (binomial order statistics)."""
    ordered = sorted(values)
    n = len(ordered)
    k = max(0, math.floor((n - 1.96 * math.sqrt(n)) / 2) - 1)
    return ordered[k], ordered[n - 1 - k]


def print_cpu_table(
    title: str, results: list[tuple[str, list[float], list[float]]], loops: int
) -> None:
    rounds = len(results[0][1])
    print(
        f"## Per-call CPU, {title}: {rounds} interleaved rounds x {loops:,} "
        "sequential updates per variant\n"
    )
    print("| variant | µs per call (median) | − reference, median of rounds | 95 % CI |")
    print("|---|---:|---:|---:|")
    for index, (label, values, differences) in enumerate(results):
        if index == 0:
            print(f"| {label} | {statistics.median(values):.1f} | - | - |")
            continue
        low, high = median_interval(differences)
        print(
            f"| {label} | {statistics.median(values):.1f} "
            f"| {statistics.median(differences):+.2f} | {low:+.2f} … {high:+.2f} |"
        )
    print()


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_profile(script: str) -> dict[str, tuple[int, int]]:
    """``python -X importtime -c script``: module → (self µs, cumulative µs)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return {m[4]: (int(m[1]), int(m[2])) for m in _IMPORT_LINE.finditer(done.stderr)}


def import_times(runs: int) -> None:
    """``-X importtime`` of ``import aioparticipant`` with and without opentelemetry.

    The package's total swings by far more than opentelemetry's share on a
    busy machine, so the share is also measured directly: the self time of
    every module imported only when opentelemetry is importable, run by run.
    """
    with_otel = "import aioparticipant"
    without = "import sys; sys.modules['opentelemetry'] = None; import aioparticipant"
    totals: dict[str, list[float]] = {"importable": [], "blocked": []}
    trace_ms: list[float] = []
    extra_ms: list[float] = []
    extra_modules: set[str] = set()
    for _ in range(runs):
        importable, blocked = import_profile(with_otel), import_profile(without)
        totals["importable"].append(importable["aioparticipant"][1] / 1000)
        totals["blocked"].append(blocked["aioparticipant"][1] / 1000)
        trace_ms.append(importable.get("opentelemetry.trace", (0, 0))[1] / 1000)
        only = set(importable) - set(blocked)
        extra_modules |= only
        extra_ms.append(sum(importable[name][0] for name in only) / 1000)
    print(f"## `import aioparticipant` (python -X importtime), median of {runs} runs each\n")
    print("| opentelemetry | aioparticipant, cumulative ms |")
    print("|---|---:|")
    print(f"| importable (opentelemetry-api {otel_version()}) | {statistics.median(totals['importable']):.1f} |")  # fmt: skip
    print(f"| blocked (`sys.modules['opentelemetry'] = None`) | {statistics.median(totals['blocked']):.1f} |")  # fmt: skip
    print(
        f"\nWhat opentelemetry adds: {len(extra_modules)} modules imported only when it is "
        f"importable, {statistics.median(extra_ms):.1f} ms of self time (median; "
        f"`opentelemetry.trace` cumulative: {statistics.median(trace_ms):.1f} ms)."
    )


def otel_version() -> str:
    try:
        from importlib.metadata import version

        return version("opentelemetry-api")
    except Exception:
        return "?"


#: (level, title, rounds multiplier): the pipeline alone is cheap, so it gets more rounds.
LEVELS = [
    ("transport", "default path (HttpxSender over an in-process fake httpx transport)", 1),
    ("sender", "aioparticipant's own code (a fake sender in place of the HTTP backend)", 2),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 rounds x 100, 3 import runs")
    parser.add_argument("--rounds", type=int, default=None, help="default 100 (x2 for sender)")
    parser.add_argument("--loops", type=int, default=None, help="updates per variant per round")
    parser.add_argument("--import-runs", type=int, default=None, help="default 15")
    args = parser.parse_args(argv)
    rounds = args.rounds or (10 if args.quick else 100)
    loops = args.loops or (100 if args.quick else 300)
    import_runs = args.import_runs or (3 if args.quick else 15)
    if not (2 <= rounds <= 500 and 10 <= loops <= 100_000 and 1 <= import_runs <= 100):
        parser.error("--rounds 2..500, --loops 10..100,000, --import-runs 1..100")
    print(f"Load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    for level, title, scale in LEVELS:
        results = asyncio.run(per_call_cpu(level, rounds * scale, loops))
        print_cpu_table(title, results, loops)
    import_times(import_runs)
    print(f"\nLoad average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
