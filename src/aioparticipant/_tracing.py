"""Optional OpenTelemetry spans: one ``aioparticipant.<operation>`` span around each call.

With ``opentelemetry-api`` installed (extra ``aioparticipant[otel]``) and a
tracer provider set, each call (an update, a fetch, a delete, a page of a
list) is a span whose children are its attempts, as OpenTelemetry's httpx or
aiohttp instrumentation records them. Attributes: the conference and call
sids, the lane and the number of attempts; never a credential.

Nothing here imports OpenTelemetry: a program that sets a tracer provider
has imported ``opentelemetry.trace`` itself, so until that module is loaded
tracing is off, and the check per call is one dictionary lookup. Without a
provider (the API's placeholder), no span is made either.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._lanes import Priority

__all__ = ["ATTEMPTS", "call_span"]

_TRACER_NAME = "aioparticipant"
#: Span attribute names.
CONFERENCE_SID = "aioparticipant.conference_sid"
CALL_SID = "aioparticipant.call_sid"
LANE = "aioparticipant.priority"
ATTEMPTS = "aioparticipant.attempts"

#: OpenTelemetry can also build its provider from this variable on first use.
_PROVIDER_FROM_ENVIRONMENT = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def _tracing_module() -> Any:
    """``opentelemetry.trace`` when a real tracer provider is set, else ``None``."""
    module = sys.modules.get("opentelemetry.trace")
    if module is None:
        return None
    # The API keeps the provider set by set_tracer_provider() here; reading it
    # spares get_tracer_provider()'s environment lookup on every call.
    if getattr(module, "_TRACER_PROVIDER", True) is None and not _PROVIDER_FROM_ENVIRONMENT:
        return None
    provider = module.get_tracer_provider()
    if isinstance(provider, (module.ProxyTracerProvider, module.NoOpTracerProvider)):
        return None  # the API's placeholder: spans would be dropped anyway
    return module


@contextmanager
def _span(
    trace: Any,
    operation: str,
    priority: Priority,
    conference_sid: str | None,
    call_sid: str | None,
) -> Iterator[Any]:
    attributes: dict[str, str] = {LANE: priority}
    if conference_sid is not None:
        attributes[CONFERENCE_SID] = conference_sid
    if call_sid is not None:
        attributes[CALL_SID] = call_sid
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        f"aioparticipant.{operation}", kind=trace.SpanKind.INTERNAL, attributes=attributes
    ) as span:
        yield span


def call_span(
    operation: str, priority: Priority, conference_sid: str | None, call_sid: str | None
) -> Any:
    """A context manager yielding the call's span, or ``None`` when tracing is off."""
    trace = _tracing_module()
    if trace is None:
        return None
    return _span(trace, operation, priority, conference_sid, call_sid)
