"""The emulator: an ASGI app answering the participant endpoints as the real API does.

One request, top to bottom: read the body → wait ``latency`` → check the
credentials → find the route → take a rate-limit token → draw a fault →
handle → answer (or drop the connection).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import anyio
import httpx
import msgspec

from .._constants import SIGNALWIRE_API_PATH
from .._dates import parse_rfc2822
from .._models import Participant
from .._validate import check_positive_number
from ._faults import Fault, FaultInjector
from ._forms import parse_form, parse_list_query, parse_update
from ._problems import (
    AUTHENTICATE,
    INTERNAL_ERROR,
    INVALID_PARAMETER,
    METHOD_NOT_ALLOWED,
    SERVICE_UNAVAILABLE,
    TOO_MANY_REQUESTS,
    ApiProblem,
    conference_not_in_progress,
    error_body,
    not_found,
)
from ._rate_limit import SlidingWindowLimit, retry_after_seconds
from ._render import participant_json, participant_page_json
from ._state import ParticipantRecord, State

__all__ = [
    "CLOSE_CONNECTION_KEY",
    "TWILIO_API_PATH",
    "ConnectionDropped",
    "Emulator",
    "EmulatorStats",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Twilio's prefix; SignalWire's is ``SIGNALWIRE_API_PATH`` (``/api/laml/2010-04-01``).
TWILIO_API_PATH = "/2010-04-01"
_PREFIXES = {
    ("api", "laml", "2010-04-01"): SIGNALWIRE_API_PATH,
    ("2010-04-01",): TWILIO_API_PATH,
}

#: Key of ``scope["state"]`` under which a server may offer a callable that
#: closes the request's connection at once (``aioparticipant.emulator``'s own
#: uvicorn setup does). Without it, a dropped request raises ``ConnectionDropped``.
CLOSE_CONNECTION_KEY = "aioparticipant.close_connection"

_MAX_BODY = 64 * 1024
_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


class ConnectionDropped(httpx.RemoteProtocolError):
    """The emulator dropped this request's connection (``drop_rate``).

    Raised out of the ASGI app where no server can close a socket for it, as
    under ``httpx.ASGITransport``. It is the error httpx raises when a server
    hangs up without answering, so a client sees the same transport failure in
    process as over a real socket.
    """


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator has done so far; ``Emulator.stats`` takes a snapshot."""

    #: HTTP requests received.
    requests: int = 0
    #: Updates applied (including ones whose answer was then dropped).
    updates: int = 0
    fetches: int = 0
    lists: int = 0
    deletes: int = 0
    #: 429 answers sent because of ``rate_limit``.
    rate_limited: int = 0
    #: 5xx answers sent because of ``error_rate``.
    errors_injected: int = 0
    #: Connections closed without an answer because of ``drop_rate``.
    connections_dropped: int = 0
    #: AnnounceUrl deliveries, across all participants.
    announcements: int = 0
    #: Answers sent, by HTTP status.
    statuses: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    prefix: str
    account_sid: str
    conference_sid: str
    call_sid: str | None  # None: the Participants list
    path: str  # as requested, for messages


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Emulator:
    """An in-memory SignalWire/Twilio conference-participant API; the instance is an ASGI app.

    It serves fetch, update, delete and list of participants under both
    ``/api/laml/2010-04-01`` (SignalWire) and ``/2010-04-01`` (Twilio), with
    or without ``.json``, for one account whose Basic-auth user is
    ``project_id`` and password ``token``. Seed it with ``add_participant``;
    read it back with ``participant``.

    In process::

        emulator = Emulator()
        emulator.add_participant("CF1", "CA1")
        transport = httpx.ASGITransport(app=emulator)
        client = AsyncClient(emulator.project_id, emulator.token,
                             base_url=emulator.base_url(), transport=transport)

    Misbehaviour on demand: at most ``rate_limit`` × ``rate_window``
    requests in any ``rate_window`` seconds (a sliding window, as SignalWire
    counts; the default window of one second holds one second's worth), past
    which the answer is 429 + a truthful ``Retry-After``; ``latency``
    seconds added to every answer; ``error_rate`` of requests answered 500 or
    503 without being processed; ``drop_rate`` of requests processed but whose
    connection is closed before the answer (over ``httpx.ASGITransport``: the
    ``ConnectionDropped`` transport error). ``seed`` makes the faults
    reproducible for a given order of requests.
    """

    #: Prefix of SignalWire's LaML API.
    signalwire_path = SIGNALWIRE_API_PATH
    #: Prefix of Twilio's API.
    twilio_path = TWILIO_API_PATH

    def __init__(
        self,
        *,
        project_id: str = "emulator-project",
        # A well-known default is fine for an in-memory test server; serving
        # commands take the real one from the environment.
        token: str = "emulator-token",  # noqa: S107
        rate_limit: float | None = None,
        rate_window: float = 1.0,
        latency: float = 0,
        error_rate: float = 0,
        drop_rate: float = 0,
        seed: int | None = None,
    ) -> None:
        for name, value in (("project_id", project_id), ("token", token)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty str")
        if ":" in project_id:
            raise ValueError("project_id must not contain ':' (it is the Basic-auth user name)")
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not latency >= 0:
            raise ValueError(f"latency must be seconds >= 0, got {latency!r}")
        self.project_id = project_id
        self._token = token
        self._credentials = f"{project_id}:{token}".encode()
        self.latency = float(latency)
        #: Seconds of the window over which ``rate_limit`` is counted.
        self.rate_window = check_positive_number("rate_window", rate_window, what="seconds")
        self._rate_limit = (
            None if rate_limit is None else SlidingWindowLimit(rate_limit, self.rate_window)
        )
        #: Requests per second (on average over ``rate_window``) past which the answer is 429.
        self.rate_limit = None if self._rate_limit is None else self._rate_limit.rate
        self.faults = FaultInjector(error_rate=error_rate, drop_rate=drop_rate, seed=seed)
        self._state = State()
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()
        self._counts_lock = threading.Lock()
        self._request_ids = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"Emulator(project_id={self.project_id!r}, participants={len(self._state.records())})"
        )

    @property
    def token(self) -> str:
        """The Basic-auth password the emulator accepts."""
        return self._token

    @property
    def account_sid(self) -> str:
        """The one account the emulator serves: the project id."""
        return self.project_id

    def base_url(
        self,
        origin: str = "http://127.0.0.1",
        *,
        flavor: Literal["signalwire", "twilio"] = "signalwire",
    ) -> str:
        """The API base URL under ``origin``: SignalWire's ``/api/laml/2010-04-01`` or Twilio's."""
        path = self.signalwire_path if flavor == "signalwire" else self.twilio_path
        return origin.rstrip("/") + path

    # --- state: seeding and reading ----------------------------------------------

    def add_participant(self, conference_sid: str, call_sid: str, **fields: Any) -> None:
        """Put a participant in a conference (creating the conference if new).

        ``fields`` take ``Participant`` names and Python values (``muted=True``,
        ``label="agent"``, ``date_created=datetime(...)``); omitted dates are
        stamped now. Raises ``ValueError`` if the participant is already there.
        """
        self._state.add(conference_sid, call_sid, fields)

    def add_participants(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add participants from ``{"conference_sid", "call_sid", **fields}`` mappings.

        Date fields may be RFC 2822 or ISO 8601 strings. Returns how many were added.
        """
        added = 0
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                raise ValueError(f"participant #{number} must be an object, got {row!r}")
            values = dict(row)
            try:
                conference_sid = values.pop("conference_sid")
                call_sid = values.pop("call_sid")
            except KeyError as missing:
                raise ValueError(f"participant #{number} has no {missing}") from None
            for name in ("date_created", "date_updated"):
                if isinstance(values.get(name), str):
                    parsed = parse_rfc2822(values[name])
                    if parsed is None:
                        raise ValueError(f"participant #{number}: {name} is not a date")
                    values[name] = parsed
            try:
                self.add_participant(conference_sid, call_sid, **values)
            except (TypeError, ValueError) as error:
                raise ValueError(f"participant #{number}: {error}") from None
            added += 1
        return added

    def load_participants(self, path: str | PathLike[str]) -> int:
        """Add the participants listed in a JSON file (a list of ``add_participants`` rows)."""
        with Path(path).open("rb") as file:
            try:
                rows = json.load(file)
            except ValueError as error:
                raise ValueError(f"{path} is not JSON: {error}") from None
        if not isinstance(rows, list):
            raise ValueError(f"{path} must hold a JSON list of participants")
        return self.add_participants(rows)

    def participant(self, conference_sid: str, call_sid: str) -> Participant:
        """The participant's current state; ``KeyError`` if it is not (or no longer) there.

        ``call_sid`` may also be the participant's label, as in the API's paths.
        """
        record = self._state.get(conference_sid, call_sid)
        if record is None:
            raise KeyError(f"no participant {call_sid!r} in conference {conference_sid!r}")
        return self._to_participant(record)

    def participants(self, conference_sid: str | None = None) -> list[Participant]:
        """Every participant (of one conference, or of all), in the order they joined."""
        return [self._to_participant(record) for record in self._state.records(conference_sid)]

    def end_conference(self, conference_sid: str) -> None:
        """End the conference, as its last moderator leaving would: every participant leaves.

        Requests for its participants are then answered 400 with Twilio's code
        16099 (the conference is not in progress); its list is empty. A
        participant with ``end_conference_on_exit`` ends it the same way when it
        is removed. ``KeyError`` for a conference the emulator does not know.
        """
        try:
            self._state.end_conference(conference_sid)
        except KeyError:
            raise KeyError(f"no conference {conference_sid!r}") from None

    def conference_sids(self) -> list[str]:
        """Every conference the emulator knows, including ones whose participants all left."""
        return self._state.conference_sids()

    def announcements(self, conference_sid: str, call_sid: str) -> list[str]:
        """Every AnnounceUrl played to the participant, in order; kept after it leaves."""
        return self._state.announcements(conference_sid, call_sid)

    @property
    def stats(self) -> EmulatorStats:
        """A snapshot of the counters."""
        with self._counts_lock:
            counts = dict(self._counts)
            statuses = dict(self._statuses)
        return EmulatorStats(**counts, statuses=statuses)

    def _to_participant(self, record: ParticipantRecord) -> Participant:
        wire = participant_json(record, prefix=self.signalwire_path, account_sid=self.account_sid)
        wire["date_created"] = record.date_created
        wire["date_updated"] = record.date_updated
        return Participant(**wire)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the emulator serves HTTP only, not {scope['type']!r}")
        self._count("requests")
        body = await _read_body(receive)
        if self.latency:
            await anyio.sleep(self.latency)
        if body is None:
            answer = _problem_answer(
                ApiProblem(413, INVALID_PARAMETER, f"The request body exceeds {_MAX_BODY} bytes")
            )
            dropped = False
        else:
            answer, dropped = self._answer(scope, body)
        if dropped:
            self._count("connections_dropped")
            await _drop_connection(scope, receive)
            return
        with self._counts_lock:
            self._statuses[answer.status] += 1
        headers = [*answer.headers, (b"twilio-request-id", self._request_id())]
        if answer.body:
            headers += _JSON_HEADERS
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _answer(self, scope: Scope, body: bytes) -> tuple[_Answer, bool]:
        """The answer to one request, and whether its connection is to be dropped instead."""
        try:
            self._authenticate(scope)
            route = _route(scope)
            method = scope["method"]
            allowed = ("GET",) if route.call_sid is None else ("GET", "POST", "DELETE")
            if method not in allowed:
                raise ApiProblem(
                    405,
                    METHOD_NOT_ALLOWED,
                    f"Method {method} is not allowed on {route.path}",
                    headers=[("allow", ", ".join(allowed))],
                )
            if route.account_sid != self.account_sid:
                # Another account's resources are none of these credentials' business.
                raise not_found(route.path)
            self._take_rate_limit_token()
            fault, error_status = self.faults.draw()
            if fault is Fault.ERROR:
                self._count("errors_injected")
                code = SERVICE_UNAVAILABLE if error_status == 503 else INTERNAL_ERROR
                message = "Service Unavailable" if error_status == 503 else "Internal Server Error"
                return _Answer(error_status, error_body(error_status, code, message)), False
            return self._handle(scope, method, route, body), fault is Fault.DROP
        except ApiProblem as problem:
            return _problem_answer(problem), False

    def _authenticate(self, scope: Scope) -> None:
        given = b""
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                scheme, _, encoded = bytes(value).partition(b" ")
                if scheme.lower() == b"basic":
                    try:
                        given = base64.b64decode(encoded.strip(), validate=True)
                    except (binascii.Error, ValueError):
                        given = b""
                break
        if not hmac.compare_digest(given, self._credentials):
            raise ApiProblem(
                401,
                AUTHENTICATE,
                "Authenticate",
                headers=[("www-authenticate", 'Basic realm="aioparticipant emulator"')],
            )

    def _take_rate_limit_token(self) -> None:
        if self._rate_limit is None:
            return
        wait = self._rate_limit.take()
        if wait > 0:
            self._count("rate_limited")
            raise ApiProblem(
                429,
                TOO_MANY_REQUESTS,
                f"Too Many Requests: the limit is {self._rate_limit.describe()}",
                headers=[("retry-after", str(retry_after_seconds(wait)))],
            )

    def _handle(self, scope: Scope, method: str, route: _Route, body: bytes) -> _Answer:
        state = self._state
        status = state.conference_status(route.conference_sid)
        if status is None:
            raise not_found(route.path)
        if route.call_sid is None:
            query = parse_list_query(scope.get("query_string", b""))
            matching = [
                record
                for record in state.records(route.conference_sid)
                if all(getattr(record, name) == value for name, value in query.filters.items())
            ]
            page = participant_page_json(
                matching,
                query,
                prefix=route.prefix,
                account_sid=self.account_sid,
                conference_sid=route.conference_sid,
            )
            self._count("lists")
            return _json_answer(200, page)
        if status == "completed":
            raise conference_not_in_progress(route.conference_sid)
        if method == "DELETE":
            if not state.delete(route.conference_sid, route.call_sid):
                raise not_found(route.path)
            self._count("deletes")
            return _Answer(204)
        if method == "POST":
            changes = parse_update(parse_form(body))
            record = state.update(route.conference_sid, route.call_sid, changes)
            if record is None:
                raise not_found(route.path)
            self._count("updates")
            if "announce_url" in changes:
                self._count("announcements")
        else:
            record = state.get(route.conference_sid, route.call_sid)
            if record is None:
                raise not_found(route.path)
            self._count("fetches")
        return _json_answer(
            200, participant_json(record, prefix=route.prefix, account_sid=self.account_sid)
        )

    def _request_id(self) -> bytes:
        return f"RQ{next(self._request_ids):032x}".encode()


def _route(scope: Scope) -> _Route:
    """Find the resource a path names, or a 404. Sids are decoded one segment at a time."""
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
    return _Route(prefix, rest[1], rest[3], call_sid, path)


def _strip_json(segment: str) -> str:
    return segment[: -len(".json")] if segment.endswith(".json") else segment


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or ``None`` when it is larger than the emulator accepts."""
    chunks: list[bytes] = []
    size = 0
    while True:  # ends at the last chunk, a disconnect, or the size cap
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _drop_connection(scope: Scope, receive: Receive) -> None:
    close = scope.get("state", {}).get(CLOSE_CONNECTION_KEY)
    if close is None:
        raise ConnectionDropped("Server disconnected without sending a response.")
    close()
    # Wait for the server to notice, so that it does not answer on our behalf.
    with anyio.move_on_after(1.0):
        for _ in range(3):
            if (await receive())["type"] == "http.disconnect":
                break


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:  # ends at shutdown, which every ASGI server sends last
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _json_answer(status: int, payload: Mapping[str, Any]) -> _Answer:
    return _Answer(status, msgspec.json.encode(payload))


def _problem_answer(problem: ApiProblem) -> _Answer:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in problem.headers]
    return _Answer(problem.status, problem.body(), headers)
