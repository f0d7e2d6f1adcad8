"""A bulk job's results file: one JSON line per input row, written as each completes.

Each line is flushed as soon as its update completes, so a killed job loses at
most the line being written; ``--resume`` cuts such a torn last line off and
skips every row already recorded. A line looks like::

    {"row": 7, "conference_sid": "CF..", "call_sid": "CA..", "ok": true, "outcome": "ok",
     "participant": {"call_sid": "CA..", "muted": true, "date_updated": "2018-09-25T20:00:00Z", ...}}
    {"row": 8, "conference_sid": "CF..", "call_sid": "CA..", "ok": false, "outcome": "not_found",
     "error": {"type": "NotFoundError", "status": 404, "code": 20404, "message": "..."}}

``outcome`` is ``ok``, ``not_found`` (the participant left), ``failed``, or
``invalid`` (refused before sending: ``status`` and ``code`` null, the reason
as ``message``). Dates are ISO 8601 / RFC 3339, the form JSON tools read.
"""

from __future__ import annotations

import os
import sys
from array import array
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from .._bulk_outcomes import BulkOutcome, BulkResult
from .._exceptions import APIConnectionError, APIError

__all__ = [
    "Ledger",
    "ResultsError",
    "ResultsFile",
    "encode_invalid",
    "encode_result",
    "load_ledger",
]

_encode = msgspec.json.Encoder().encode


class ResultsError(Exception):
    """The results file cannot be used (unreadable, or not a results file)."""


def encode_result(row: int, result: BulkResult) -> bytes:
    """The results line for a row whose update was sent."""
    update = result.update
    record: dict[str, Any] = {
        "row": row,
        "conference_sid": update.conference_sid,
        "call_sid": update.call_sid,
        "ok": result.ok,
        "outcome": result.outcome.value,
    }
    if result.error is None:
        record["participant"] = result.participant
    else:
        record["error"] = _error(result.error)
    return _encode(record) + b"\n"


def encode_invalid(
    row: int, conference_sid: str | None, call_sid: str | None, reason: str
) -> bytes:
    """The results line for a row refused before sending."""
    record = {
        "row": row,
        "conference_sid": conference_sid,
        "call_sid": call_sid,
        "ok": False,
        "outcome": BulkOutcome.INVALID.value,
        "error": {"type": "InvalidRow", "status": None, "code": None, "message": reason},
    }
    return _encode(record) + b"\n"


def _error(error: Exception) -> dict[str, Any]:
    details: dict[str, Any] = {"type": type(error).__name__, "status": None, "code": None}
    if isinstance(error, APIError):
        details.update(status=error.status, code=error.code, message=error.message)
        if error.request_id:
            details["request_id"] = error.request_id
    elif isinstance(error, APIConnectionError):
        details["message"] = error.message
    else:
        details["message"] = str(error) or type(error).__name__
    return details


class Ledger:
    """The rows a results file already records: which, with which sids, and how they went.

    One byte and one hash per row number (9 MB for a million rows), not a
    set of objects, so resuming a huge job stays cheap.
    """

    def __init__(self) -> None:
        self._recorded = bytearray()
        self._keys = array("q")
        self.count = 0
        self.succeeded = 0

    def add(self, row: int, conference_sid: object, call_sid: object, ok: bool) -> None:
        if row >= len(self._recorded):
            grow = max(row + 1 - len(self._recorded), len(self._recorded))
            self._recorded.extend(bytes(grow))
            self._keys.frombytes(bytes(8 * grow))
        if self._recorded[row]:
            return  # a duplicate line: the first one stands
        self._recorded[row] = 1
        self._keys[row] = hash((conference_sid, call_sid))
        self.count += 1
        self.succeeded += ok

    def __contains__(self, row: int) -> bool:
        return 0 <= row < len(self._recorded) and bool(self._recorded[row])

    def matches(self, row: int, conference_sid: object, call_sid: object) -> bool:
        """Whether the recorded ``row`` has these sids (False means another input file)."""
        return self._keys[row] == hash((conference_sid, call_sid))

    @property
    def unsuccessful(self) -> int:
        return self.count - self.succeeded


def load_ledger(path: Path) -> Ledger:
    """Read an existing results file; cut off a torn last line left by a killed run."""
    ledger = Ledger()
    try:
        file = path.open("r+b")
    except FileNotFoundError:
        return ledger
    except OSError as error:
        raise ResultsError(f"cannot read {path}: {error.strerror}") from None
    with file:
        position = 0
        for number, line in enumerate(file, start=1):
            record = _record(line)
            if record is None:
                if not line.endswith(b"\n"):
                    # The last line, torn by a kill mid-write: drop it; its row is sent again.
                    file.truncate(position)
                    break
                raise ResultsError(
                    f"line {number} of {path} is not a results record; refusing to resume "
                    "from a file this command did not write"
                )
            position += len(line)
            ledger.add(
                record["row"], record.get("conference_sid"), record.get("call_sid"), record["ok"]
            )
        else:
            if position and not _ends_with_newline(file, position):
                file.write(b"\n")  # a whole record whose newline was lost
    return ledger


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("row"), int)
        or isinstance(record.get("row"), bool)
        or record["row"] < 1
        or not isinstance(record.get("ok"), bool)
    ):
        return None
    return record


def _ends_with_newline(file: BinaryIO, size: int) -> bool:
    file.seek(size - 1)
    last = file.read(1)
    file.seek(0, os.SEEK_END)
    return last == b"\n"


class ResultsFile:
    """Appends result lines, each flushed to the operating system as soon as it is written."""

    def __init__(self, path: Path | None, *, append: bool) -> None:
        self._file: BinaryIO
        if path is None:
            self._file = sys.stdout.buffer
            self._owned = False
        else:
            try:
                self._file = path.open("ab" if append else "wb")
            except OSError as error:
                raise ResultsError(f"cannot write {path}: {error.strerror}") from None
            self._owned = True

    def write(self, line: bytes) -> None:
        self._file.write(line)
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()
