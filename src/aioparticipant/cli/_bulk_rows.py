"""Reading a bulk job's rows: CSV or JSON Lines, each a ``ParticipantUpdate`` or the reason it is not.

Rows are numbered from 1 in input order, blank lines aside (a CSV header is
not a row), so the same file numbers its rows the same way on every run:
that is what ``--resume`` relies on.

CSV cells: ``conference_sid`` and ``call_sid``, then one column per update
keyword. Booleans read ``true/false``, ``yes/no`` or ``1/0`` in any case; an
empty cell means "not set" for every column. That includes ``hold_url``,
``wait_url`` and ``call_sid_to_coach``, where sending ``""`` means something
(no music, stop coaching): a spreadsheet cannot tell an empty cell from an
empty string, so to send ``""`` use JSON Lines (``"hold_url": ""``) or the
flag (``--hold-url ''``).

JSON Lines: one object per line with the same keys; ``null`` means "not set"
and values have their JSON types (``true``, not ``"true"``).

Values in a row override the same parameter given as a flag.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from .._exceptions import InvalidParameterError
from .._params import UPDATE_PARAMETERS, Kind, closest_name
from .._participant_update import ParticipantUpdate

__all__ = ["BOM", "Format", "InputError", "Row", "decoded", "read_rows"]

Format = Literal["csv", "jsonl"]

#: The UTF-8 byte order mark some spreadsheets write first.
BOM: Final = b"\xef\xbb\xbf"
SID_COLUMNS: Final = ("conference_sid", "call_sid")
_BOOLEANS: Final = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


class InputError(Exception):
    """The input as a whole cannot be read (not UTF-8, an unreadable CSV header, an I/O error)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: the update to send, or ``error``, why it was refused before sending."""

    number: int
    conference_sid: str | None
    call_sid: str | None
    update: ParticipantUpdate | None = None
    error: str | None = None


def read_rows(lines: Iterable[bytes], fmt: Format, defaults: Mapping[str, Any]) -> Iterator[Row]:
    """The rows of the input's ``lines`` (bytes, newline kept), with ``defaults`` under each."""
    if fmt == "csv":
        return _csv_rows(lines, defaults)
    return _jsonl_rows(lines, defaults)


# --- CSV -----------------------------------------------------------------------------------


def decoded(lines: Iterable[bytes]) -> Iterator[str]:
    # Lines keep their own endings, as csv wants (a quoted cell may span lines).
    for index, line in enumerate(lines):
        yield (line.removeprefix(BOM) if index == 0 else line).decode("utf-8")


def _csv_rows(lines: Iterable[bytes], defaults: Mapping[str, Any]) -> Iterator[Row]:
    reader = csv.reader(decoded(lines), strict=True)
    header: _CsvHeader | None = None
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if header is None:
                raise InputError(f"the CSV header cannot be read: {error}") from None
            number += 1
            yield Row(number, None, None, error=f"not a valid CSV record: {error}")
            continue
        if not cells:
            continue  # a blank line
        if header is None:
            header = _CsvHeader([cell.strip() for cell in cells])
            continue
        number += 1
        yield header.row(number, cells, defaults)


class _CsvHeader:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.problem = _header_problem(names)

    def row(self, number: int, cells: list[str], defaults: Mapping[str, Any]) -> Row:
        values = {name: cell.strip() for name, cell in zip(self.names, cells, strict=False)}
        conference_sid = values.get("conference_sid") or None
        call_sid = values.get("call_sid") or None
        if self.problem:
            return Row(number, conference_sid, call_sid, error=self.problem)
        if len(cells) != len(self.names):
            return Row(
                number,
                conference_sid,
                call_sid,
                error=f"the row has {len(cells)} cells but the header has {len(self.names)} columns",
            )
        params = dict(defaults)
        try:
            for name, cell in values.items():
                if name not in SID_COLUMNS and cell:
                    params[name] = _cell_value(name, cell)
        except ValueError as error:
            return Row(number, conference_sid, call_sid, error=str(error))
        return _build(number, conference_sid, call_sid, params)


def _header_problem(names: list[str]) -> str | None:
    for name in names:
        if names.count(name) > 1:
            return f"column {name!r} appears more than once in the CSV header"
    for name in SID_COLUMNS:
        if name not in names:
            return f"the CSV header has no {name} column (it needs conference_sid and call_sid)"
    for name in names:
        if name not in SID_COLUMNS and name not in UPDATE_PARAMETERS:
            return f"unknown column {name!r} in the CSV header{_did_you_mean(name)}"
    return None


def _cell_value(name: str, cell: str) -> object:
    if UPDATE_PARAMETERS[name].kind is Kind.BOOL:
        value = _BOOLEANS.get(cell.lower())
        if value is None:
            raise ValueError(f"{name}: {cell!r} is not a boolean (write true/false, yes/no or 1/0)")
        return value
    return cell


# --- JSON Lines ----------------------------------------------------------------------------

_decode_json = msgspec.json.Decoder().decode


def _jsonl_rows(lines: Iterable[bytes], defaults: Mapping[str, Any]) -> Iterator[Row]:
    number = 0
    for line in lines:
        if not line.strip():
            continue
        number += 1
        try:
            data = _decode_json(line)
        except msgspec.DecodeError as error:
            yield Row(number, None, None, error=f"not valid JSON: {error}")
            continue
        if not isinstance(data, dict):
            yield Row(number, None, None, error=f"expected a JSON object, got {_json_type(data)}")
            continue
        conference_sid = data.pop("conference_sid", None)
        call_sid = data.pop("call_sid", None)
        unknown = [key for key in data if key not in UPDATE_PARAMETERS]
        if unknown:
            name = unknown[0]
            reason = f"unknown key {name!r}{_did_you_mean(name)}"
            yield Row(number, _sid(conference_sid), _sid(call_sid), error=reason)
            continue
        params = dict(defaults)
        params.update((key, value) for key, value in data.items() if value is not None)
        yield _build(number, conference_sid, call_sid, params)


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --- both ----------------------------------------------------------------------------------


def _build(number: int, conference_sid: Any, call_sid: Any, params: dict[str, Any]) -> Row:
    known_conference, known_call = _sid(conference_sid), _sid(call_sid)
    for name, value in (("conference_sid", conference_sid), ("call_sid", call_sid)):
        if value is None or value == "":
            return Row(number, known_conference, known_call, error=f"{name} is missing")
    try:
        update = ParticipantUpdate(conference_sid, call_sid, **params)
    except (InvalidParameterError, TypeError) as error:
        return Row(number, known_conference, known_call, error=str(error))
    return Row(number, update.conference_sid, update.call_sid, update=update)


def _sid(value: object) -> str | None:
    """A sid as the results file records it: the string given, or null."""
    return value if isinstance(value, str) and value else None


def _did_you_mean(name: str) -> str:
    names = [*SID_COLUMNS, *UPDATE_PARAMETERS]
    meant, _ = closest_name(name, names)
    if meant is not None:
        return f" (did you mean {meant!r}?)"
    return f" (expected {', '.join(names)})"
