"""Seeding the emulator: the fields a test may set, and participants read from rows or a file.

Seeded values are checked here, once, with errors that name the field; the
state then trusts them. Dates are kept in GMT, to the second, as the API
sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any

from .._dates import parse_rfc2822
from ._records import ParticipantRecord

__all__ = ["SEEDABLE_FIELDS", "checked_seed", "read_participants_file", "seed_rows"]

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


def checked_seed(
    conference_sid: object, call_sid: object, values: Mapping[str, object]
) -> dict[str, Any]:
    """``values`` checked and normalised for ``State.add``; ``TypeError``/``ValueError`` if not."""
    checked = _checked_fields(values)
    if not isinstance(conference_sid, str) or not conference_sid:
        raise TypeError("conference_sid must be a non-empty str")
    if not isinstance(call_sid, str) or not call_sid:
        raise TypeError("call_sid must be a non-empty str")
    return checked


def seed_rows(
    rows: Iterable[Mapping[str, Any]],
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """``(number, conference_sid, call_sid, fields)`` for each ``{"conference_sid", "call_sid", **fields}`` row.

    Date fields may be RFC 2822 or ISO 8601 strings; they come out as datetimes.
    """
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
        yield number, conference_sid, call_sid, values


def read_participants_file(path: str | PathLike[str]) -> list[Any]:
    """The JSON list of participant rows in ``path``; ``ValueError`` if it is not one."""
    with Path(path).open("rb") as file:
        try:
            rows = json.load(file)
        except ValueError as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path} must hold a JSON list of participants")
    return rows


def _checked_fields(values: Mapping[str, object]) -> dict[str, Any]:
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
            # Kept in GMT, as the API sends every date.
            value = value.astimezone(timezone.utc).replace(microsecond=0)
        if name == "queue_time" and isinstance(value, int):
            value = str(value)
        checked[name] = value
    return checked


# ParticipantRecord must be able to take every seedable field.
assert set(SEEDABLE_FIELDS) <= {f.name for f in fields(ParticipantRecord)}
