"""Tracing: aioparticipant.<operation> spans around calls, HTTP client spans per attempt.

OpenTelemetry's SDK with an in-memory exporter; its standard httpx and
aiohttp-client instrumentations, switched on for one test at a time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import respx
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aioparticipant import AsyncClient, ParticipantUpdate
from aioparticipant.emulator import Emulator, serve_in_thread

from .helpers import AUTH, PARTICIPANT_JSON, PARTICIPANT_URL, TOKEN, make_client

pytestmark = pytest.mark.anyio


def test_without_the_extra_nothing_is_imported_and_calls_still_work() -> None:
    script = """
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
import anyio, httpx, respx
from aioparticipant import AsyncClient
async def main():
    with respx.mock() as mock:
        mock.post(url__regex=".*").respond(200, json={"call_sid": "CA1"})
        async with AsyncClient("p", "t", space_url="x.signalwire.com") as client:
            await client.conferences("CF1").participants("CA1").mute()
anyio.run(main)
print("ok")
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_opentelemetry_is_never_imported_by_the_library() -> None:
    script = """
import sys
import anyio, respx
from aioparticipant import AsyncClient
async def main():
    with respx.mock() as mock:
        mock.post(url__regex=".*").respond(200, json={"call_sid": "CA1"})
        async with AsyncClient("p", "t", space_url="x.signalwire.com") as client:
            await client.conferences("CF1").participants("CA1").mute()
anyio.run(main)
assert not any(name.startswith("opentelemetry") for name in sys.modules), "imported"
print("ok")
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_with_the_api_imported_but_no_tracer_provider_no_span_is_made() -> None:
    script = """
from opentelemetry import trace
from aioparticipant import _tracing
assert _tracing.call_span("update", "interactive", "CF1", "CA1") is None
print("ok")
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracer_provider() -> Iterator[None]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)  # once per process: later tests export nowhere
    yield
    _EXPORTER.shutdown()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def _no_secret_in(spans: tuple[ReadableSpan, ...]) -> None:
    for span in spans:
        text = repr(dict(span.attributes or {})) + span.name
        assert TOKEN not in text
        assert AUTH not in text


async def test_each_call_is_a_span_with_its_sids_lane_and_attempts(
    spans: InMemorySpanExporter,
) -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, content=PARTICIPANT_JSON)]
        )
        mock.get(url__regex=r".*Participants\.json.*").respond(
            200, json={"participants": [], "next_page_uri": None}
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
            await client.with_options(priority="bulk").conferences("CF1").participants.list()
    finished = spans.get_finished_spans()
    update, listing = (span for span in finished if span.name.startswith("aioparticipant."))
    assert update.name == "aioparticipant.update"
    assert dict(update.attributes or {}) == {
        "aioparticipant.priority": "interactive",
        "aioparticipant.conference_sid": "CF1",
        "aioparticipant.call_sid": "CA1",
        "aioparticipant.attempts": 2,
    }
    assert listing.name == "aioparticipant.list"
    assert (listing.attributes or {})["aioparticipant.priority"] == "bulk"
    _no_secret_in(finished)


async def test_httpx_instrumentation_makes_one_client_span_per_attempt_under_the_call(
    spans: InMemorySpanExporter,
) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument()
    try:
        with respx.mock() as mock:
            mock.post(PARTICIPANT_URL).mock(
                side_effect=[
                    httpx.Response(500),
                    httpx.Response(503),
                    httpx.Response(200, content=PARTICIPANT_JSON),
                ]
            )
            async with make_client() as client:
                await client.conferences("CF1").participants("CA1").mute()
    finally:
        instrumentor.uninstrument()
    finished = spans.get_finished_spans()
    (call,) = (span for span in finished if span.name == "aioparticipant.update")
    attempts = _children(finished, call)
    assert len(attempts) == 3
    assert all(span.kind is trace.SpanKind.CLIENT for span in attempts)
    assert (call.attributes or {})["aioparticipant.attempts"] == 3
    _no_secret_in(finished)


async def test_aiohttp_instrumentation_makes_client_spans_under_each_call(
    spans: InMemorySpanExporter, anyio_backend: str
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("aiohttp runs on asyncio only")
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    emulator = Emulator()
    for index in range(3):
        emulator.add_participant("CF1", f"CA{index}")
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument()
    try:
        with serve_in_thread(emulator) as server:
            async with AsyncClient(
                emulator.project_id,
                emulator.token,
                base_url=server.base_url,
                http_backend="aiohttp",
            ) as client:
                updates = [ParticipantUpdate("CF1", f"CA{n}", muted=True) for n in range(3)]
                async with client.bulk(updates) as results:
                    assert all([result.ok async for result in results])
    finally:
        instrumentor.uninstrument()
    finished = spans.get_finished_spans()
    calls = [span for span in finished if span.name == "aioparticipant.update"]
    assert len(calls) == 3
    for call in calls:
        (attempt,) = _children(finished, call)
        assert attempt.kind is trace.SpanKind.CLIENT
        assert (call.attributes or {})["aioparticipant.priority"] == "bulk"
    _no_secret_in(finished)
