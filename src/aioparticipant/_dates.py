"""RFC 2822 dates in and out.

The API sends dates such as ``Mon, 24 Sept 2018 21:00:00 +0000``. The standard
library's ``email.utils`` rejects the ``Sept`` spelling that SignalWire's pages
use, so parsing is ours; formatting (for the emulator) uses the standard form.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

__all__ = ["format_rfc2822", "parse_rfc2822"]

_MONTHS = {
    "jan": 1, "january": 1,
    "feb": 2, "february": 2,
    "mar": 3, "march": 3,
    "apr": 4, "april": 4,
    "may": 5,
    "jun": 6, "june": 6,
    "jul": 7, "july": 7,
    "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10,
    "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}  # fmt: skip

# Obsolete zone names RFC 2822 still allows (section 4.3), in minutes east of UTC.
_ZONES = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
    "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
}  # fmt: skip

_RFC2822 = re.compile(
    r"""
    \s*(?:[A-Za-z]{3,9},?\s*)?          # optional day of week
    (?P<day>\d{1,2})\s+
    (?P<month>[A-Za-z]{3,9})\.?\s+
    (?P<year>\d{4})\s+
    (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?
    \s*(?P<zone>[+-]\d{4}|[A-Za-z]{1,3})?
    \s*\Z
    """,
    re.VERBOSE | re.ASCII,
)


def parse_rfc2822(value: str) -> datetime | None:
    """Parse an RFC 2822 date, keeping its UTC offset; ``None`` if it is not one.

    Accepts the long and dotted month spellings (``Sept``, ``September``,
    ``Sep.``) and falls back to ISO 8601. Never raises: a date the API garbled
    must not cost the caller the rest of the response.
    """
    fast = _parse_canonical(value)
    if fast is not None:
        return fast
    match = _RFC2822.match(value)
    if match is None:
        return _parse_iso8601(value)
    month = _MONTHS.get(match["month"].lower())
    if month is None:
        return None
    offset = _zone_offset(match["zone"])
    if offset is None:
        return None
    try:
        return datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            tzinfo=offset,
        )
    except ValueError:  # 31 Feb, hour 25, ...
        return None


def _parse_canonical(value: str) -> datetime | None:
    """The shape the API nearly always sends, ``Tue, 25 Sep 2018 20:00:00 +0000``, without a regex."""
    parts = value.split(" ")
    if len(parts) != 6:
        return None
    _, day, month_name, year, clock, zone = parts
    month = _MONTHS.get(month_name.lower())
    if (
        month is None
        or len(clock) != 8
        or clock[2] != ":"
        or clock[5] != ":"
        or not _ascii_digits(day + year + clock[:2] + clock[3:5] + clock[6:])
    ):
        return None
    offset = _numeric_offset(zone)
    if offset is None:
        return None
    try:
        return datetime(
            int(year),
            month,
            int(day),
            int(clock[:2]),
            int(clock[3:5]),
            int(clock[6:]),
            tzinfo=offset,
        )
    except ValueError:  # not a real date (31 Feb): the full parser decides
        return None


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


@functools.lru_cache(maxsize=64)
def _numeric_offset(zone: str) -> timezone | None:
    if len(zone) != 5 or zone[0] not in "+-" or not _ascii_digits(zone[1:]):
        return None
    return _zone_offset(zone)


def _zone_offset(zone: str | None) -> timezone | None:
    if zone is None:
        return timezone.utc
    if zone[0] in "+-":
        hours, minutes = int(zone[1:3]), int(zone[3:5])
        if hours >= 24 or minutes >= 60:  # datetime refuses offsets of a day or more
            return None
        sign = -1 if zone[0] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    minutes_east = _ZONES.get(zone.upper())
    if minutes_east is None:
        return None
    return timezone(timedelta(minutes=minutes_east))


def _parse_iso8601(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def format_rfc2822(value: datetime) -> str:
    """Format an aware datetime the way the API sends it (``Mon, 24 Sep 2018 21:00:00 +0000``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return format_datetime(value)
