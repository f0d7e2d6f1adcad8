"""What the emulator's world is made of: conferences and the participants in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["Conference", "ParticipantRecord", "utc_now"]


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


@dataclass
class Conference:
    """One conference: its status and its participants, by call sid, in the order they joined."""

    sid: str
    #: Twilio's conference statuses that matter here: "in-progress", then "completed".
    status: str = "in-progress"
    participants: dict[str, ParticipantRecord] = field(default_factory=dict)
    #: Label → call sid. Twilio labels are unique within a conference.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def find(self, call_sid_or_label: str) -> ParticipantRecord | None:
        """The participant a path names: by call sid, else by label (Twilio takes either)."""
        record = self.participants.get(call_sid_or_label)
        if record is None:
            call_sid = self.labels.get(call_sid_or_label)
            record = None if call_sid is None else self.participants.get(call_sid)
        return record

    def check_unambiguous(self, call_sid: str, label: str | None) -> None:
        """``ValueError`` unless the new participant's call sid and label name only it."""
        if call_sid in self.participants:
            raise ValueError(f"participant {call_sid!r} is already in conference {self.sid!r}")
        if call_sid in self.labels:
            raise ValueError(
                f"call sid {call_sid!r} is the label of participant "
                f"{self.labels[call_sid]!r} in conference {self.sid!r}: a path naming it "
                "would be ambiguous"
            )
        if label is None:
            return
        if label in self.labels:
            raise ValueError(
                f"label {label!r} is already taken by participant {self.labels[label]!r} in "
                f"conference {self.sid!r}: labels are unique within a conference "
                "(Twilio refuses a duplicate with error 16025)"
            )
        if label in self.participants:
            raise ValueError(
                f"label {label!r} is the call sid of another participant in conference "
                f"{self.sid!r}: a path naming it would be ambiguous"
            )

    def remove(self, record: ParticipantRecord) -> None:
        del self.participants[record.call_sid]
        if record.label is not None:
            self.labels.pop(record.label, None)
