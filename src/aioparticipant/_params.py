"""Keywords → wire form: the one table of wire names, their validation, and sid encoding.

Everything here runs before a byte is sent, so a bad argument never costs a
request, a token from the rate limiter or a retry.
"""

from __future__ import annotations

import difflib
import enum
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypedDict
from urllib.parse import quote

from ._constants import MAX_PAGE_SIZE
from ._exceptions import InvalidParameterError
from ._validate import (
    CONTROL_CHARACTERS,
    callback_method,
    check_bool,
    check_int,
    describe_character,
    is_absolute_http_url,
    shown,
)

# The one place that spells this import for Python 3.10: the keyword-argument
# TypedDicts live here, and the modules that unpack them import Unpack from here.
if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover
    from typing_extensions import Unpack

__all__ = [
    "LIST_FILTERS",
    "UPDATE_PARAMETERS",
    "ListFilters",
    "Unpack",
    "UpdateParameters",
    "closest_name",
    "encode_list_filters",
    "encode_path_segment",
    "encode_update",
    "validate_sid",
]


class Kind(enum.Enum):
    """What a parameter holds, which decides how it is checked and written."""

    BOOL = "bool"
    URL = "url"
    METHOD = "method"
    SID = "sid"


@dataclass(frozen=True)
class Parameter:
    keyword: str
    wire_name: str
    kind: Kind
    #: What sending "" means, for the parameters where "" is a value; None if "" is refused.
    empty_means: str | None = None


#: The update parameters, in the order the contract lists them: keyword → wire form.
UPDATE_PARAMETERS: Final[Mapping[str, Parameter]] = {
    p.keyword: p
    for p in (
        Parameter("muted", "Muted", Kind.BOOL),
        Parameter("hold", "Hold", Kind.BOOL),
        Parameter("hold_url", "HoldUrl", Kind.URL, empty_means="no hold music"),
        Parameter("hold_method", "HoldMethod", Kind.METHOD),
        Parameter("announce_url", "AnnounceUrl", Kind.URL),
        Parameter("announce_method", "AnnounceMethod", Kind.METHOD),
        Parameter("coaching", "Coaching", Kind.BOOL),
        Parameter(
            "call_sid_to_coach", "CallSidToCoach", Kind.SID, empty_means="stop coaching that call"
        ),
        Parameter("beep", "Beep", Kind.BOOL),
        Parameter("wait_url", "WaitUrl", Kind.URL, empty_means="no wait music"),
        Parameter("wait_method", "WaitMethod", Kind.METHOD),
        Parameter("beep_on_exit", "BeepOnExit", Kind.BOOL),
        Parameter("end_conference_on_exit", "EndConferenceOnExit", Kind.BOOL),
    )
}

#: Filters of participants.list() / stream(): keyword → wire name.
LIST_FILTERS: Final[Mapping[str, str]] = {
    "muted": "Muted",
    "hold": "Hold",
    "coaching": "Coaching",
    "page_size": "PageSize",
}


class UpdateParameters(TypedDict, total=False):
    """Keyword arguments of ``update()``; ``None`` (or leaving one out) sends nothing."""

    muted: bool | None
    hold: bool | None
    hold_url: str | None
    hold_method: str | None
    announce_url: str | None
    announce_method: str | None
    coaching: bool | None
    call_sid_to_coach: str | None
    beep: bool | None
    wait_url: str | None
    wait_method: str | None
    beep_on_exit: bool | None
    end_conference_on_exit: bool | None


class ListFilters(TypedDict, total=False):
    """Keyword arguments of ``participants.list()`` and ``stream()``."""

    muted: bool | None
    hold: bool | None
    coaching: bool | None
    page_size: int | None


#: What a sid may not hold: path and query delimiters, and control characters.
_SID_FORBIDDEN = re.compile(r"[/\\?#]|" + CONTROL_CHARACTERS.pattern)


def encode_update(params: Mapping[str, object], *, caller: str = "update") -> dict[str, str]:
    """Validate update keywords and return the form fields to send, in the caller's order.

    Raises ``TypeError`` for an unknown keyword and ``InvalidParameterError``
    for a bad value.
    """
    form: dict[str, str] = {}
    for keyword, value in params.items():
        parameter = UPDATE_PARAMETERS.get(keyword)
        if parameter is None:
            raise _unknown_keyword(caller, keyword, UPDATE_PARAMETERS.keys())
        if value is None:
            continue
        form[parameter.wire_name] = _encode_value(parameter, value)
    if params.get("coaching") is True and not params.get("call_sid_to_coach"):
        raise InvalidParameterError(
            "call_sid_to_coach",
            "coaching=True needs call_sid_to_coach: pass the call sid of the participant "
            "to coach (or use coach(call_sid) / monitor(call_sid))",
        )
    return form


def encode_list_filters(filters: Mapping[str, object]) -> dict[str, str]:
    """Validate list filters and return the query parameters to send."""
    query: dict[str, str] = {}
    for keyword, value in filters.items():
        wire_name = LIST_FILTERS.get(keyword)
        if wire_name is None:
            raise _unknown_keyword("list", keyword, LIST_FILTERS.keys())
        if value is None:
            continue
        if keyword == "page_size":
            size = check_int(keyword, value, minimum=1, maximum=MAX_PAGE_SIZE, hint="e.g. 50")
            query[wire_name] = str(size)
        else:
            query[wire_name] = _encode_bool(keyword, value)
    return query


def validate_sid(parameter: str, value: object) -> str:
    """Check that a sid can stand alone in a URL path and return it.

    Sids are opaque (SignalWire's are not UUIDs; a Twilio participant label may
    hold spaces), so only what could change which resource is addressed is
    refused.
    """
    if not isinstance(value, str):
        raise InvalidParameterError(parameter, f"{parameter} must be a str, got {shown(value)}")
    if value in ("", ".", ".."):
        raise InvalidParameterError(
            parameter, f"{parameter} must be a sid such as 'CA123...', got {value!r}"
        )
    _refuse_characters(
        parameter, value, _SID_FORBIDDEN, "pass the sid exactly as the API returned it"
    )
    return value


def encode_path_segment(parameter: str, value: object) -> str:
    """Validate a sid and percent-encode it as one path segment."""
    return quote(validate_sid(parameter, value), safe="")


def _encode_value(parameter: Parameter, value: object) -> str:
    keyword = parameter.keyword
    if parameter.kind is Kind.BOOL:
        return _encode_bool(keyword, value)
    if not isinstance(value, str):
        raise InvalidParameterError(keyword, f"{keyword} must be a str, got {shown(value)}")
    if value == "":
        if parameter.empty_means is None:
            raise InvalidParameterError(
                keyword, f"{keyword} cannot be empty: {_expected(parameter)}"
            )
        return value
    if parameter.kind is Kind.SID:
        return validate_sid(keyword, value)
    _refuse_characters(keyword, value, CONTROL_CHARACTERS, "remove it")
    if parameter.kind is Kind.METHOD:
        method = callback_method(value)
        if method is None:
            raise InvalidParameterError(keyword, f"{keyword} {_expected(parameter)}, got {value!r}")
        return method
    if not is_absolute_http_url(value):
        raise InvalidParameterError(keyword, f"{keyword} {_expected(parameter)}, got {value!r}")
    return value


def _refuse_characters(parameter: str, value: str, forbidden: re.Pattern[str], fix: str) -> None:
    found = forbidden.search(value)
    if found is not None:
        raise InvalidParameterError(
            parameter,
            f"{parameter} must not contain {describe_character(found.group())} "
            f"(at position {found.start()}): {fix}",
        )


def _encode_bool(keyword: str, value: object) -> str:
    return "true" if check_bool(keyword, value, hint=f"pass {keyword}=True") else "false"


def _expected(parameter: Parameter) -> str:
    keyword = parameter.keyword
    if parameter.kind is Kind.METHOD:
        return "must be 'GET' or 'POST'"
    text = "must be an absolute http(s) URL such as 'https://example.com/music.xml'"
    if parameter.empty_means:
        text += f" (or '' for {parameter.empty_means})"
    elif keyword == "announce_url":
        text = "must be the absolute http(s) URL of the announcement (leave it unset to announce nothing)"
    return text


def closest_name(name: str, known: Iterable[str]) -> tuple[str | None, bool]:
    """The known name ``name`` most likely meant, and whether it is ``name`` in snake_case.

    ``callSidToCoach`` and ``CallSidToCoach`` mean ``call_sid_to_coach``; a
    typo means the closest name, if one is close enough.
    """
    names = list(known)
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    if snake in names:
        return snake, True
    close = difflib.get_close_matches(snake, names, n=1)
    return (close[0] if close else None), False


def _unknown_keyword(caller: str, keyword: str, known: Iterable[str]) -> TypeError:
    names = list(known)
    meant, snake_case = closest_name(keyword, names)
    if meant is None:
        hint = f"; expected one of: {', '.join(names)}"
    else:
        hint = f"; did you mean {meant!r}?" + (" (keywords are snake_case)" if snake_case else "")
    return TypeError(f"{caller}() got an unexpected keyword argument {keyword!r}{hint}")
