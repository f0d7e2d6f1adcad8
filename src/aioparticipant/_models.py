"""Response models: msgspec structs decoded straight from the response bytes.

The API's dates are RFC 2822 strings, which msgspec does not parse (and it
does not call ``dec_hook`` for ``datetime`` fields). So each public struct has
a private wire twin, generated from it, whose date fields are plain strings;
one reusable decoder per twin reads the bytes, and the dates are then parsed
by ``_dates.parse_rfc2822``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec

from ._dates import parse_rfc2822

__all__ = ["Participant", "ParticipantPage", "decode_participant", "decode_participant_page"]


class Participant(msgspec.Struct, frozen=True, kw_only=True):
    """A participant of a conference, as the API last described it.

    Every field may be ``None`` when the API leaves it out. Dates are aware
    ``datetime`` objects that keep the offset the API sent. Sids are opaque
    strings; ``status`` is an open string (``connected``, ``in-progress``,
    ``complete``, ...); ``queue_time`` is milliseconds, as a string.
    """

    account_sid: str | None = None
    call_sid: str | None = None
    conference_sid: str | None = None
    label: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    status: str | None = None
    muted: bool | None = None
    hold: bool | None = None
    hold_url: str | None = None
    coaching: bool | None = None
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool | None = None
    end_conference_on_exit: bool | None = None
    queue_time: str | None = None
    uri: str | None = None


class ParticipantPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a conference's participants, with the paging fields of Twilio's spec.

    The ``*_uri`` fields are root-relative paths as the API sends them
    (``None`` when there is no such page). ``page`` counts from 0; ``start``
    and ``end`` are the positions of the page's first and last records in the
    whole list. Any field may be ``None`` when the API leaves it out.
    """

    participants: list[Participant] = msgspec.field(default_factory=list)
    uri: str | None = None
    first_page_uri: str | None = None
    previous_page_uri: str | None = None
    next_page_uri: str | None = None
    page: int | None = None
    page_size: int | None = None
    start: int | None = None
    end: int | None = None


_DATE_FIELDS: Final = ("date_created", "date_updated")


def _wire_type(name: str, annotation: Any) -> Any:
    if name in _DATE_FIELDS:
        return str | None
    if name == "queue_time":
        return str | int | None  # a string of milliseconds, but tolerate a number
    return annotation


_WireParticipant: Any = msgspec.defstruct(
    "_WireParticipant",
    [
        (field.name, _wire_type(field.name, field.type), None)
        for field in msgspec.structs.fields(Participant)
    ],
    kw_only=True,
    frozen=True,
)
_WireParticipantPage: Any = msgspec.defstruct(
    "_WireParticipantPage",
    [
        ("participants", list[_WireParticipant] | None, None),
        *(
            (field.name, field.type, None)
            for field in msgspec.structs.fields(ParticipantPage)
            if field.name != "participants"
        ),
    ],
    kw_only=True,
    frozen=True,
)

# strict=False lets "true" stand for true and "50" for 50: the API is not
# always careful with types, and a lenient read beats a failed update.
_PARTICIPANT_DECODER: Final = msgspec.json.Decoder(_WireParticipant, strict=False)
_PAGE_DECODER: Final = msgspec.json.Decoder(_WireParticipantPage, strict=False)


def _date(raw: str | None) -> datetime | None:
    return None if raw is None else parse_rfc2822(raw)


def _from_wire(wire: Any) -> Participant:
    # One constructor call, every field named: this runs once per response.
    queue_time = wire.queue_time
    return Participant(
        account_sid=wire.account_sid,
        call_sid=wire.call_sid,
        conference_sid=wire.conference_sid,
        label=wire.label,
        date_created=_date(wire.date_created),
        date_updated=_date(wire.date_updated),
        status=wire.status,
        muted=wire.muted,
        hold=wire.hold,
        hold_url=wire.hold_url,
        coaching=wire.coaching,
        call_sid_to_coach=wire.call_sid_to_coach,
        start_conference_on_enter=wire.start_conference_on_enter,
        end_conference_on_exit=wire.end_conference_on_exit,
        queue_time=str(queue_time) if isinstance(queue_time, int) else queue_time,
        uri=wire.uri,
    )


def decode_participant(body: bytes) -> Participant:
    """Decode one participant from JSON bytes; raises ``msgspec.DecodeError`` on a bad body."""
    return _from_wire(_PARTICIPANT_DECODER.decode(body))


def decode_participant_page(body: bytes) -> ParticipantPage:
    """Decode a list page; records come from the ``participants`` key."""
    wire = _PAGE_DECODER.decode(body)
    return ParticipantPage(
        participants=[_from_wire(item) for item in wire.participants or ()],
        uri=wire.uri,
        first_page_uri=wire.first_page_uri or None,
        previous_page_uri=wire.previous_page_uri or None,
        next_page_uri=wire.next_page_uri or None,
        page=wire.page,
        page_size=wire.page_size,
        start=wire.start,
        end=wire.end,
    )
