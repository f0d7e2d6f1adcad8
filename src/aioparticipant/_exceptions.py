"""The error tree, and the mapping from an HTTP error response to it.

Nothing here ever holds the request's headers: only the response's, which the
server wrote and which carry no credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ._retry_after import parse_retry_after

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AioParticipantError",
    "AuthenticationError",
    "BadRequestError",
    "InvalidParameterError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "error_from_response",
    "record_attempts",
]

#: Response headers that carry the server's id for a request, most specific first.
REQUEST_ID_HEADERS = ("twilio-request-id", "x-signalwire-request-id", "x-request-id", "request-id")

_MAX_MESSAGE = 300
_MAX_FLATTEN_DEPTH = 8


class AioParticipantError(Exception):
    """Base class of every error this library raises."""

    #: How many attempts the request made before this error was raised (1: not retried).
    #: Given by ``record_attempts`` as the error leaves the request pipeline.
    attempts: int = 1


class InvalidParameterError(AioParticipantError, ValueError):
    """An argument was refused before anything was sent; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class APIError(AioParticipantError):
    """The API answered with an error status.

    ``status`` is the HTTP status, ``code`` the Twilio/SignalWire error code
    (``None`` when the body has none), ``message`` the server's explanation,
    ``more_info`` a documentation link, ``request_id`` the server's id for the
    request when it sent one, and ``headers`` the response headers.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        more_info: str | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.code = code
        self.message = message
        self.more_info = more_info
        self.headers: Mapping[str, str] = dict(headers or {})
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code is not None:
            parts.append(f"(code {self.code})")
        text = " ".join(parts) + f": {self.message}"
        if self.method and self.path:
            text += f" [{self.method} {self.path}]"
        if self.more_info:
            text += f" — see {self.more_info}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class BadRequestError(APIError):
    """400 or 422: the server refused the parameters."""


class AuthenticationError(APIError):
    """401: the project id or token is wrong."""


class PermissionDeniedError(APIError):
    """403: the credentials may not touch this resource."""


class NotFoundError(APIError):
    """404: no such conference or participant (it may have left the call)."""


class RateLimitError(APIError):
    """429: too many requests. ``retry_after`` is the server's wait in seconds, or ``None``."""


class ServerError(APIError):
    """5xx: the server failed; the request was retried if that was safe."""


class ResponseDecodeError(APIError):
    """A success status came with a body that is not a participant (HTML, bad JSON)."""


class APIConnectionError(AioParticipantError):
    """No answer came back: connecting failed, the connection broke, or the transport gave up.

    ``possibly_delivered`` is ``False`` only when the request certainly never
    reached the server (connect failures, connect and pool timeouts).
    ``transient`` is ``False`` when another attempt cannot help (a proxy
    refused the tunnel: wrong or missing proxy credentials, a host it does not
    allow); such an error is not retried.
    """

    def __init__(
        self, message: str, *, possibly_delivered: bool = True, transient: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.possibly_delivered = possibly_delivered
        self.transient = transient


class APITimeoutError(APIConnectionError):
    """The request timed out (connecting, writing, reading, or waiting for a pooled connection)."""


def record_attempts(error: AioParticipantError, attempts: int) -> None:
    """Tell ``error`` how many attempts its call made, as it leaves the request pipeline.

    The one place ``attempts`` is given: the pipeline calls it at the one point
    where a call's final error leaves it, whether the call was retried or not.
    """
    error.attempts = attempts


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return APIError


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    reason: str = "",
    method: str | None = None,
    path: str | None = None,
) -> APIError:
    """Build the right ``APIError`` from a response; never raises, whatever the body."""
    code, message, more_info = _parse_error_body(body)
    lowered = {key.lower(): value for key, value in headers.items()}
    if not message:
        message = _fallback_message(status, reason, lowered, body)
    request_id = next((lowered[name] for name in REQUEST_ID_HEADERS if name in lowered), None)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "more_info": more_info,
        "headers": headers,
        "request_id": request_id,
        "retry_after": parse_retry_after(lowered.get("retry-after")),
        "method": method,
        "path": path,
    }
    return error_class_for_status(status)(message, **common)


def _parse_error_body(body: bytes) -> tuple[int | None, str, str | None]:
    """Read ``code``, ``message`` and ``more_info`` from a Twilio- or SignalWire-style body."""
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None, _text_snippet(body), None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            # SignalWire's REST style: {"errors": [{"code": ..., "message"/"detail": ...}]}
            first = {**data, **errors[0]}
            return _code(first), _message(first), _more_info(first)
        return _code(data), _message(data), _more_info(data)
    if isinstance(data, str):
        return None, _shorten(data), None
    return None, "", None


def _code(data: Mapping[str, Any]) -> int | None:
    value = data.get("code")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _message(data: Mapping[str, Any]) -> str:
    for key in ("message", "detail", "details", "error_description", "error"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return _shorten(value)
        if isinstance(value, (list, dict)) and value:
            return _shorten(_flatten(value))
    return ""


def _flatten(value: object, depth: int = 0) -> str:
    if depth > _MAX_FLATTEN_DEPTH:  # a hostile body can nest deeper than Python recurses
        return "…"
    if isinstance(value, dict):
        inner = value.get("message") or value.get("detail")
        if isinstance(inner, str):
            return inner
        return "; ".join(f"{key}: {_flatten(item, depth + 1)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(_flatten(item, depth + 1) for item in value)
    return str(value)


def _more_info(data: Mapping[str, Any]) -> str | None:
    value = data.get("more_info") or data.get("url")
    return value if isinstance(value, str) and value else None


def _text_snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if not text or text.lstrip().startswith("<"):
        return ""  # an HTML gateway page says nothing a log line needs
    return _shorten(text)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _fallback_message(status: int, reason: str, lowered: Mapping[str, str], body: bytes) -> str:
    text = reason or f"HTTP {status}"
    if not body.strip():
        return text + " (empty body)"
    content_type = lowered.get("content-type", "").split(";")[0].strip() or "unknown"
    if "json" in content_type:
        return text
    return text + f" (non-JSON body, {content_type})"
