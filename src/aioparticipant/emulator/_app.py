"""The emulator: an ASGI app answering the participant endpoints as the real API does.

One request, top to bottom (``Emulator.__call__``): read the body → wait
``latency`` → check the credentials → find the route → admit it past the rate
limit → draw a fault → handle → answer (or drop the connection). Each step
lives in its own module; this one holds them together and keeps the
emulator's public face: seeding, reading state back, and the counters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any, Literal

import anyio

from .._constants import SIGNALWIRE_API_PATH
from .._exceptions import InvalidParameterError
from .._models import Participant
from .._validate import check_positive_number, check_seconds
from ._asgi import (
    MAX_BODY,
    Answer,
    Receive,
    Scope,
    Send,
    drop_connection,
    lifespan,
    read_body,
    send_answer,
)
from ._auth import check_credentials
from ._faults import Fault, FaultInjector, injected_error
from ._handlers import handle
from ._problems import INVALID_PARAMETER, ApiProblem, not_found
from ._rate_limit import SlidingWindowLimit
from ._records import ParticipantRecord
from ._render import participant_json
from ._routing import TWILIO_API_PATH, check_method, find_route
from ._seeding import checked_seed, read_participants_file, seed_rows
from ._state import State
from ._stats import EmulatorStats, StatsCounter

__all__ = ["Emulator"]


class Emulator:
    """An in-memory SignalWire/Twilio conference-participant API; the instance is an ASGI app.

    It serves fetch, update, delete and list of participants under both
    ``/api/laml/2010-04-01`` (SignalWire) and ``/2010-04-01`` (Twilio), with
    or without ``.json``, for one account whose Basic-auth user is
    ``project_id`` and password ``token``. Seed it with ``add_participant``;
    read it back with ``participant``. A participant may be addressed by its
    call sid or by its label.

    In process:

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

    A bad argument raises ``InvalidParameterError`` (a ``ValueError``) naming it.
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
                raise InvalidParameterError(name, f"{name} must be a non-empty str")
        if ":" in project_id:
            raise InvalidParameterError(
                "project_id", "project_id must not contain ':' (it is the Basic-auth user name)"
            )
        self.project_id = project_id
        self._token = token
        self._credentials = f"{project_id}:{token}".encode()
        #: Seconds added to every answer.
        self.latency = check_seconds("latency", latency)
        #: Seconds of the window over which ``rate_limit`` is counted.
        self.rate_window = check_positive_number("rate_window", rate_window, what="seconds")
        self._rate_limit = (
            None if rate_limit is None else SlidingWindowLimit(rate_limit, self.rate_window)
        )
        #: Requests per second (on average over ``rate_window``) past which the answer is 429.
        self.rate_limit = None if self._rate_limit is None else self._rate_limit.rate
        self.faults = FaultInjector(error_rate=error_rate, drop_rate=drop_rate, seed=seed)
        self._state = State()
        self._stats = StatsCounter()
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
        stamped now. Raises ``ValueError`` if the participant is already there,
        if its label is taken in the conference (Twilio labels are unique per
        conference), or if the conference has ended.
        """
        self._state.add(conference_sid, call_sid, checked_seed(conference_sid, call_sid, fields))

    def add_participants(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add participants from ``{"conference_sid", "call_sid", **fields}`` mappings.

        Date fields may be RFC 2822 or ISO 8601 strings. Returns how many were added.
        """
        added = 0
        for number, conference_sid, call_sid, values in seed_rows(rows):
            try:
                self.add_participant(conference_sid, call_sid, **values)
            except (TypeError, ValueError) as error:
                raise ValueError(f"participant #{number}: {error}") from None
            added += 1
        return added

    def load_participants(self, path: str | PathLike[str]) -> int:
        """Add the participants listed in a JSON file (a list of ``add_participants`` rows)."""
        return self.add_participants(read_participants_file(path))

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
        return self._stats.snapshot()

    def _to_participant(self, record: ParticipantRecord) -> Participant:
        wire = participant_json(record, prefix=self.signalwire_path, account_sid=self.account_sid)
        wire["date_created"] = record.date_created
        wire["date_updated"] = record.date_updated
        return Participant(**wire)

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the emulator serves HTTP only, not {scope['type']!r}")
        self._stats.count("requests")
        body = await read_body(receive)
        if self.latency:
            await anyio.sleep(self.latency)
        if body is None:
            message = f"The request body exceeds {MAX_BODY} bytes"
            answer, dropped = ApiProblem(413, INVALID_PARAMETER, message).answer(), False
        else:
            answer, dropped = self._answer(scope, body)
        if dropped:
            self._stats.count("connections_dropped")
            await drop_connection(scope, receive)
            return
        self._stats.count_status(answer.status)
        await send_answer(send, answer, f"RQ{next(self._request_ids):032x}".encode())

    def _answer(self, scope: Scope, body: bytes) -> tuple[Answer, bool]:
        """The answer to one request, and whether its connection is to be dropped instead."""
        try:
            check_credentials(scope, self._credentials)
            route = find_route(scope)
            check_method(scope["method"], route)
            if route.account_sid != self.account_sid:
                # Another account's resources are none of these credentials' business.
                raise not_found(route.path)
            self._admit()
            fault, error_status = self.faults.draw()
            if fault is Fault.ERROR:
                self._stats.count("errors_injected")
                return injected_error(error_status), False
            answer = handle(
                self._state,
                self._stats,
                scope=scope,
                route=route,
                body=body,
                account_sid=self.account_sid,
            )
            return answer, fault is Fault.DROP
        except ApiProblem as problem:
            return problem.answer(), False

    def _admit(self) -> None:
        """Count the request against the rate limit, or raise its 429."""
        if self._rate_limit is None:
            return
        try:
            self._rate_limit.admit()
        except ApiProblem:
            self._stats.count("rate_limited")
            raise
