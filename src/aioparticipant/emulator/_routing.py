"""Which resource a request names, and whether the method applies to it.

Paths are read as the API reads them: both prefixes (SignalWire's
``/api/laml/2010-04-01``, Twilio's ``/2010-04-01``), with or without
``.json``, each segment percent-decoded on its own so that an encoded ``/``
in a sid stays part of that sid.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from .._constants import SIGNALWIRE_API_PATH
from ._asgi import Scope
from ._problems import METHOD_NOT_ALLOWED, ApiProblem, not_found

__all__ = ["TWILIO_API_PATH", "Route", "check_method", "find_route"]

#: Twilio's prefix; SignalWire's is ``SIGNALWIRE_API_PATH`` (``/api/laml/2010-04-01``).
TWILIO_API_PATH = "/2010-04-01"
_PREFIXES = {
    ("api", "laml", "2010-04-01"): SIGNALWIRE_API_PATH,
    ("2010-04-01",): TWILIO_API_PATH,
}


@dataclass(frozen=True)
class Route:
    """The resource a path names: the participants list, or one participant."""

    prefix: str
    account_sid: str
    conference_sid: str
    #: The call sid or label of the participant; ``None`` for the Participants list.
    call_sid: str | None
    #: The path as requested, for messages.
    path: str


def find_route(scope: Scope) -> Route:
    """Find the resource a path names, or a 404."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    path = bytes(raw).decode("latin-1")
    segments = path.split("/")[1:] if path.startswith("/") else []
    matched = [
        (prefix, len(prefix_segments))
        for prefix_segments, prefix in _PREFIXES.items()
        if tuple(segments[: len(prefix_segments)]) == prefix_segments
    ]
    if not matched:
        raise not_found(path)
    prefix, skip = matched[0]
    rest = [unquote(segment) for segment in segments[skip:]]
    if len(rest) not in (5, 6) or rest[0] != "Accounts" or rest[2] != "Conferences":
        raise not_found(path)
    if len(rest) == 5:
        if _strip_json(rest[4]) != "Participants":
            raise not_found(path)
        call_sid = None
    else:
        if rest[4] != "Participants":
            raise not_found(path)
        call_sid = _strip_json(rest[5])
    if not rest[1] or not rest[3] or call_sid == "":
        raise not_found(path)
    return Route(prefix, rest[1], rest[3], call_sid, path)


def check_method(method: str, route: Route) -> None:
    """A 405 (with ``Allow``) unless ``method`` applies: the list is read-only."""
    allowed = ("GET",) if route.call_sid is None else ("GET", "POST", "DELETE")
    if method not in allowed:
        raise ApiProblem(
            405,
            METHOD_NOT_ALLOWED,
            f"Method {method} is not allowed on {route.path}",
            headers=[("allow", ", ".join(allowed))],
        )


def _strip_json(segment: str) -> str:
    return segment[: -len(".json")] if segment.endswith(".json") else segment
