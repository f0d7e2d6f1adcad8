"""The emulator's world: one account's conferences and the participants in them.

Every method takes the state's lock, so a test thread may read while a server
thread writes. No method awaits while holding it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ._problems import COACHED_CALL_ABSENT, invalid
from ._records import Conference, ParticipantRecord, utc_now

__all__ = ["State"]

_Clock = Callable[[], datetime]


class State:
    """Conferences by sid, each holding its participants; every method takes the lock."""

    def __init__(self, clock: _Clock = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._conferences: dict[str, Conference] = {}
        self._sequence = itertools.count(1)
        # Kept apart from the records so that a participant's announcements
        # stay countable after it left the conference.
        self._announcements: dict[tuple[str, str], list[str]] = {}

    # --- seeding and reading (tests, the demo) ---------------------------------

    def add(self, conference_sid: str, call_sid: str, values: dict[str, Any]) -> None:
        """Add a participant whose ``values`` ``_seeding.checked_seed`` has checked.

        ``ValueError`` when the conference has ended, or the call sid or label
        would name two participants.
        """
        with self._lock:
            conference = self._conferences.get(conference_sid) or Conference(conference_sid)
            if conference.completed:
                raise ValueError(f"conference {conference_sid!r} has ended; nobody can join it")
            label = values.get("label")
            conference.check_unambiguous(call_sid, label)
            now = self._clock()
            date_created = values.pop("date_created", now)
            # Omitted dates are stamped now; a participant is never updated before it was made.
            date_updated = values.pop("date_updated", max(now, date_created))
            conference.participants[call_sid] = ParticipantRecord(
                conference_sid=conference_sid,
                call_sid=call_sid,
                sequence=next(self._sequence),
                date_created=date_created,
                date_updated=date_updated,
                **values,
            )
            if label is not None:
                conference.labels[label] = call_sid
            self._conferences[conference_sid] = conference

    def get(self, conference_sid: str, call_sid_or_label: str) -> ParticipantRecord | None:
        """A copy of the participant's record, or ``None``."""
        with self._lock:
            conference = self._conferences.get(conference_sid)
            record = None if conference is None else conference.find(call_sid_or_label)
            return None if record is None else _copy(record)

    def records(self, conference_sid: str | None = None) -> list[ParticipantRecord]:
        """Copies of every record (of one conference, or all), in creation order."""
        with self._lock:
            if conference_sid is not None:
                conference = self._conferences.get(conference_sid)
                chosen: Iterable[ParticipantRecord] = (
                    () if conference is None else conference.participants.values()
                )
            else:
                chosen = itertools.chain.from_iterable(
                    conference.participants.values() for conference in self._conferences.values()
                )
            return [_copy(record) for record in chosen]

    def announcements(self, conference_sid: str, call_sid: str) -> list[str]:
        """Every AnnounceUrl played to the participant, in order (kept after it leaves)."""
        with self._lock:
            return list(self._announcements.get((conference_sid, call_sid), ()))

    def conference_sids(self) -> list[str]:
        with self._lock:
            return list(self._conferences)

    def conference_status(self, conference_sid: str) -> str | None:
        """``"in-progress"``, ``"completed"``, or ``None`` for a conference never seen."""
        with self._lock:
            conference = self._conferences.get(conference_sid)
            return None if conference is None else conference.status

    def end_conference(self, conference_sid: str) -> None:
        """The conference ends: every participant leaves it. ``KeyError`` if unknown."""
        with self._lock:
            self._end(self._conferences[conference_sid])

    # --- what the API does -----------------------------------------------------

    def update(
        self, conference_sid: str, call_sid_or_label: str, changes: Mapping[str, bool | str]
    ) -> ParticipantRecord | None:
        """Apply a checked update; ``None`` if there is no such participant.

        Raises ``ApiProblem`` (400) when the coaching change is impossible;
        nothing is applied then.
        """
        with self._lock:
            conference = self._conferences.get(conference_sid)
            record = None if conference is None else conference.find(call_sid_or_label)
            if conference is None or record is None:
                return None
            coaching, coached = _coaching_after(record, changes, conference.participants)
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
                key = (conference_sid, record.call_sid)
                self._announcements.setdefault(key, []).append(str(changes["announce_url"]))
            record.date_updated = self._clock()
            return _copy(record)

    def delete(self, conference_sid: str, call_sid_or_label: str) -> bool:
        """Remove the participant; ``False`` if there was none. The conference stays known.

        A participant with ``end_conference_on_exit`` takes the conference with it.
        """
        with self._lock:
            conference = self._conferences.get(conference_sid)
            record = None if conference is None else conference.find(call_sid_or_label)
            if conference is None or record is None:
                return False
            conference.remove(record)
            if record.end_conference_on_exit:
                self._end(conference)
            return True

    @staticmethod
    def _end(conference: Conference) -> None:
        conference.status = "completed"
        conference.participants.clear()
        conference.labels.clear()


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
            f"Participant to be whispered is not present in the conference: CallSidToCoach "
            f"{coached!r} is not a participant of conference {record.conference_sid!r}",
            code=COACHED_CALL_ABSENT,
        )
    return True, coached


def _copy(record: ParticipantRecord) -> ParticipantRecord:
    return replace(record)
