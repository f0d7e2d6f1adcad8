"""The emulator's world: one account's conferences and the participants in them.

Every method takes the state's lock, so a test thread may read while a server
thread writes. No method awaits while holding it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any

from ._problems import invalid

__all__ = ["SEEDABLE_FIELDS", "ParticipantRecord", "State"]

_Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, to the second: RFC 2822 carries no fractions, so state never holds any."""
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class ParticipantRecord:
    """Everything the emulator knows about one participant."""

    conference_sid: str
    call_sid: str
    #: Creation order. Page tokens point into it, so paging survives deletions.
    sequence: int
    date_created: datetime
    date_updated: datetime
    label: str | None = None
    status: str = "connected"
    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    hold_method: str | None = None
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep_on_exit: bool | None = None
    wait_url: str | None = None
    wait_method: str | None = None
    queue_time: str | None = None


#: ``add_participant`` fields: the ``Participant`` names the emulator lets a
#: test set, and the Python types each accepts.
SEEDABLE_FIELDS: Mapping[str, tuple[type, ...]] = {
    "label": (str, type(None)),
    "date_created": (datetime,),
    "date_updated": (datetime,),
    "status": (str,),
    "muted": (bool,),
    "hold": (bool,),
    "hold_url": (str, type(None)),
    "coaching": (bool,),
    "call_sid_to_coach": (str, type(None)),
    "start_conference_on_enter": (bool,),
    "end_conference_on_exit": (bool,),
    "queue_time": (str, int, type(None)),
}
_DERIVED = frozenset({"account_sid", "conference_sid", "call_sid", "uri"})


class State:
    """Conferences by sid, each an insertion-ordered dict of participants by call sid."""

    def __init__(self, clock: _Clock = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._conferences: dict[str, dict[str, ParticipantRecord]] = {}
        self._sequence = itertools.count(1)
        # Kept apart from the records so that a participant's announcements
        # stay countable after it left the conference.
        self._announcements: dict[tuple[str, str], list[str]] = {}

    # --- seeding and reading (tests, the demo) ---------------------------------

    def add(self, conference_sid: str, call_sid: str, fields_: Mapping[str, object]) -> None:
        values = _checked_seed(fields_)
        if not isinstance(conference_sid, str) or not conference_sid:
            raise TypeError("conference_sid must be a non-empty str")
        if not isinstance(call_sid, str) or not call_sid:
            raise TypeError("call_sid must be a non-empty str")
        with self._lock:
            conference = self._conferences.setdefault(conference_sid, {})
            if call_sid in conference:
                raise ValueError(
                    f"participant {call_sid!r} is already in conference {conference_sid!r}"
                )
            now = self._clock()
            date_created = values.pop("date_created", now)
            date_updated = values.pop("date_updated", date_created)
            conference[call_sid] = ParticipantRecord(
                conference_sid=conference_sid,
                call_sid=call_sid,
                sequence=next(self._sequence),
                date_created=date_created,
                date_updated=date_updated,
                **values,
            )

    def get(self, conference_sid: str, call_sid: str) -> ParticipantRecord | None:
        """A copy of the participant's record, or ``None``."""
        with self._lock:
            record = self._conferences.get(conference_sid, {}).get(call_sid)
            return None if record is None else _copy(record)

    def records(self, conference_sid: str | None = None) -> list[ParticipantRecord]:
        """Copies of every record (of one conference, or all), in creation order."""
        with self._lock:
            if conference_sid is not None:
                chosen: Iterable[ParticipantRecord] = self._conferences.get(
                    conference_sid, {}
                ).values()
            else:
                chosen = itertools.chain.from_iterable(
                    conference.values() for conference in self._conferences.values()
                )
            return [_copy(record) for record in chosen]

    def announcements(self, conference_sid: str, call_sid: str) -> list[str]:
        """Every AnnounceUrl played to the participant, in order (kept after it leaves)."""
        with self._lock:
            return list(self._announcements.get((conference_sid, call_sid), ()))

    def conference_sids(self) -> list[str]:
        with self._lock:
            return list(self._conferences)

    def has_conference(self, conference_sid: str) -> bool:
        with self._lock:
            return conference_sid in self._conferences

    # --- what the API does -----------------------------------------------------

    def update(
        self, conference_sid: str, call_sid: str, changes: Mapping[str, bool | str]
    ) -> ParticipantRecord | None:
        """Apply a checked update; ``None`` if there is no such participant.

        Raises ``ApiProblem`` (400) when the coaching change is impossible;
        nothing is applied then.
        """
        with self._lock:
            conference = self._conferences.get(conference_sid)
            record = None if conference is None else conference.get(call_sid)
            if conference is None or record is None:
                return None
            coaching, coached = _coaching_after(record, changes, conference)
            record.coaching, record.call_sid_to_coach = coaching, coached
            if "muted" in changes:
                record.muted = bool(changes["muted"])
            if "hold" in changes:
                record.hold = bool(changes["hold"])
                if not record.hold and "hold_url" not in changes:
                    record.hold_url = None  # the music stops with the hold
            if "hold_url" in changes:
                record.hold_url = str(changes["hold_url"]) or None
            if "hold_method" in changes:
                record.hold_method = str(changes["hold_method"])
            if "end_conference_on_exit" in changes:
                record.end_conference_on_exit = bool(changes["end_conference_on_exit"])
            if "beep_on_exit" in changes:
                record.beep_on_exit = bool(changes["beep_on_exit"])
            if "wait_url" in changes:
                record.wait_url = str(changes["wait_url"]) or None
            if "wait_method" in changes:
                record.wait_method = str(changes["wait_method"])
            if "announce_url" in changes:
                key = (conference_sid, call_sid)
                self._announcements.setdefault(key, []).append(str(changes["announce_url"]))
            record.date_updated = self._clock()
            return _copy(record)

    def delete(self, conference_sid: str, call_sid: str) -> bool:
        """Remove the participant; ``False`` if there was none. The conference stays known."""
        with self._lock:
            conference = self._conferences.get(conference_sid)
            if conference is None or call_sid not in conference:
                return False
            del conference[call_sid]
            return True


def _coaching_after(
    record: ParticipantRecord,
    changes: Mapping[str, bool | str],
    conference: Mapping[str, ParticipantRecord],
) -> tuple[bool, str | None]:
    """The participant's (coaching, call_sid_to_coach) after ``changes``, or a 400.

    Twilio's rule: ``coaching`` defaults to false unless ``call_sid_to_coach``
    is given; ``coaching=true`` needs a call to coach. Ours on top: that call
    is another participant of the same conference, and an empty
    ``CallSidToCoach`` (or ``Coaching=false``) clears it.
    """
    coaching = record.coaching
    coached = record.call_sid_to_coach
    if "call_sid_to_coach" in changes:
        coached = str(changes["call_sid_to_coach"]) or None
        coaching = coached is not None
    if "coaching" in changes:
        coaching = bool(changes["coaching"])
        if not coaching:
            coached = None
    if not coaching:
        return False, None
    if coached is None:
        raise invalid("CallSidToCoach is required when Coaching is true")
    if coached == record.call_sid:
        raise invalid("CallSidToCoach must be another participant: a call cannot coach itself")
    if coached not in conference:
        raise invalid(
            f"CallSidToCoach {coached!r} is not a participant of conference "
            f"{record.conference_sid!r}"
        )
    return True, coached


def _checked_seed(values: Mapping[str, object]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name in _DERIVED:
            raise TypeError(f"add_participant() does not take {name!r}: the emulator sets it")
        allowed = SEEDABLE_FIELDS.get(name)
        if allowed is None:
            raise TypeError(
                f"add_participant() got an unexpected field {name!r}; "
                f"expected some of: {', '.join(SEEDABLE_FIELDS)}"
            )
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            expected = " or ".join(
                "None" if kind is type(None) else kind.__name__ for kind in allowed
            )
            raise TypeError(f"{name} must be {expected}, got {value!r}")
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
            value = value.replace(microsecond=0)
        if name == "queue_time" and isinstance(value, int):
            value = str(value)
        checked[name] = value
    return checked


def _copy(record: ParticipantRecord) -> ParticipantRecord:
    return replace(record)


# ParticipantRecord must be able to take every seedable field.
assert set(SEEDABLE_FIELDS) <= {f.name for f in fields(ParticipantRecord)}
