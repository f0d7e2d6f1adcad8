"""Optional OpenTelemetry spans: one ``aioparticipant.<operation>`` span around each call.

With ``opentelemetry-api`` installed (extra ``aioparticipant[otel]``) and a
tracer provider set, each call (an update, a fetch, a delete, a page of a
list) is a span whose children are its attempts, as OpenTelemetry's httpx or
aiohttp instrumentation records them. Attributes: the conference and call
sids, the lane and the number of attempts; never a credential. Without the
package nothing is imported; without a tracer provider no span is made, so
the check costs one attribute read per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._lanes import Priority

__all__ = ["ATTEMPTS", "call_span"]

try:
    from opentelemetry import trace as _trace
except ImportError:  # the extra is not installed: tracing is off, and costs nothing
    _trace = None  # type: ignore[assignment]

_TRACER_NAME = "aioparticipant"
#: Span attribute names (OpenTelemetry's conventions where one exists).
CONFERENCE_SID = "aioparticipant.conference_sid"
CALL_SID = "aioparticipant.call_sid"
LANE = "aioparticipant.priority"
ATTEMPTS = "aioparticipant.attempts"


def _tracing_on() -> bool:
    if _trace is None:
        return False
    provider = _trace.get_tracer_provider()
    # The API's placeholder provider until an SDK sets one: spans would be dropped anyway.
    return not isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider))


@contextmanager
def _span(
    operation: str, priority: Priority, conference_sid: str | None, call_sid: str | None
) -> Iterator[Any]:
    assert _trace is not None
    attributes: dict[str, str] = {LANE: priority}
    if conference_sid is not None:
        attributes[CONFERENCE_SID] = conference_sid
    if call_sid is not None:
        attributes[CALL_SID] = call_sid
    tracer = _trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        f"aioparticipant.{operation}", kind=_trace.SpanKind.INTERNAL, attributes=attributes
    ) as span:
        yield span


def call_span(
    operation: str, priority: Priority, conference_sid: str | None, call_sid: str | None
) -> Any:
    """A context manager yielding the call's span, or ``None`` when tracing is off."""
    if not _tracing_on():
        return None
    return _span(operation, priority, conference_sid, call_sid)
