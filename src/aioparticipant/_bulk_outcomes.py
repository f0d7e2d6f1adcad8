"""How each update of a bulk run ended (``BulkOutcome``, ``BulkResult``), and how many ended each way.

Every part that counts outcomes counts them with ``BulkTally``: the ``*_all``
jobs' ``BulkSummary``, the ``aioparticipant bulk`` command's progress,
summary and results file, and the demo.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._exceptions import NotFoundError
from ._models import Participant
from ._participant_update import ParticipantUpdate

__all__ = ["BulkOutcome", "BulkResult", "BulkTally"]


class BulkOutcome(str, enum.Enum):
    """How one update of a bulk run ended."""

    #: The server applied the update; ``result.participant`` is the new state.
    OK = "ok"
    #: 404: the conference or participant does not exist (often: they already left).
    NOT_FOUND = "not_found"
    #: Anything else: refused, rate limited past the retries, server or network failure.
    FAILED = "failed"
    #: Refused before anything was sent: an ``aioparticipant bulk`` input row that
    #: does not make a valid ``ParticipantUpdate``. (A ``BulkResult`` never has it:
    #: ``ParticipantUpdate`` checks its arguments when it is built.)
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What happened to one update of a bulk run.

    Exactly one of ``participant`` (the state the server answered with) and
    ``error`` (the exception the update ended with, retries spent) is set.
    ``ok`` tells them apart; ``outcome`` also singles out a 404
    (``BulkOutcome.NOT_FOUND``), which in bulk work usually means the
    participant left the call before their turn.
    """

    update: ParticipantUpdate
    participant: Participant | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the update was applied."""
        return self.error is None

    @property
    def not_found(self) -> bool:
        """Whether the update failed with 404 (no such participant or conference)."""
        return isinstance(self.error, NotFoundError)

    @property
    def outcome(self) -> BulkOutcome:
        """``OK``, ``NOT_FOUND`` or ``FAILED``."""
        if self.error is None:
            return BulkOutcome.OK
        if isinstance(self.error, NotFoundError):
            return BulkOutcome.NOT_FOUND
        return BulkOutcome.FAILED


class BulkTally:
    """How many updates ended each way (``tally[BulkOutcome.OK]``), and how many were skipped.

    ``add(outcome)`` once per update that ended; ``skipped`` counts the ones
    left alone on purpose (already done, excepted), which never ended at all.
    """

    __slots__ = ("_counts", "skipped")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(BulkOutcome, 0)
        self.skipped = 0

    def add(self, outcome: BulkOutcome) -> None:
        """Count one more update that ended with ``outcome``."""
        self._counts[outcome] += 1

    def __getitem__(self, outcome: BulkOutcome) -> int:
        return self._counts[outcome]

    @property
    def done(self) -> int:
        """Updates that ended, whichever way."""
        return sum(self._counts.values())

    @property
    def succeeded(self) -> int:
        """Updates applied."""
        return self._counts[BulkOutcome.OK]

    @property
    def unsuccessful(self) -> int:
        """Updates that ended any other way (not found, failed, invalid)."""
        return self.done - self.succeeded

    def __repr__(self) -> str:
        counts = ", ".join(f"{outcome.value}={count}" for outcome, count in self._counts.items())
        return f"BulkTally({counts}, skipped={self.skipped})"
