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
from urllib.parse import quote, urlsplit

from ._constants import MAX_PAGE_SIZE
from ._exceptions import InvalidParameterError

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


# Lone surrogates (U+D800-U+DFFF) are refused with the control characters: a
# Python str may hold them, but they cannot be encoded into a URL or a form.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SID_FORBIDDEN = re.compile(r"[/\\?#\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_METHODS = frozenset({"GET", "POST"})


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
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterError(
                    keyword, f"page_size must be an int, got {_show(value)}: pass e.g. page_size=50"
                )
            if not 1 <= value <= MAX_PAGE_SIZE:
                raise InvalidParameterError(
                    keyword, f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {value}"
                )
            query[wire_name] = str(value)
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
        raise InvalidParameterError(parameter, f"{parameter} must be a str, got {_show(value)}")
    if value in ("", ".", ".."):
        raise InvalidParameterError(
            parameter, f"{parameter} must be a sid such as 'CA123...', got {value!r}"
        )
    found = _SID_FORBIDDEN.search(value)
    if found is not None:
        raise InvalidParameterError(
            parameter,
            f"{parameter} must not contain {_describe_char(found.group())} "
            f"(at position {found.start()}): pass the sid exactly as the API returned it",
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
        raise InvalidParameterError(keyword, f"{keyword} must be a str, got {_show(value)}")
    if value == "":
        if parameter.empty_means is None:
            raise InvalidParameterError(
                keyword, f"{keyword} cannot be empty: {_expected(parameter)}"
            )
        return value
    if parameter.kind is Kind.SID:
        return validate_sid(keyword, value)
    found = _CONTROL.search(value)
    if found is not None:
        raise InvalidParameterError(
            keyword,
            f"{keyword} must not contain {_describe_char(found.group())} "
            f"(at position {found.start()}): remove it",
        )
    if parameter.kind is Kind.METHOD:
        method = value.upper()
        if method not in _METHODS:
            raise InvalidParameterError(keyword, f"{keyword} {_expected(parameter)}, got {value!r}")
        return method
    if not _is_absolute_http_url(value):
        raise InvalidParameterError(keyword, f"{keyword} {_expected(parameter)}, got {value!r}")
    return value


def _encode_bool(keyword: str, value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise InvalidParameterError(
        keyword, f"{keyword} must be True or False, got {_show(value)}: pass {keyword}=True"
    )


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


def _is_absolute_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def _unknown_keyword(caller: str, keyword: str, known: Iterable[str]) -> TypeError:
    names = list(known)
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", keyword).lower()
    if snake in names:
        hint = f"; did you mean {snake!r}? (keywords are snake_case)"
    else:
        close = difflib.get_close_matches(snake, names, n=1)
        hint = (
            f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(names)}"
        )
    return TypeError(f"{caller}() got an unexpected keyword argument {keyword!r}{hint}")


def _describe_char(char: str) -> str:
    if "\ud800" <= char <= "\udfff":
        return f"the lone surrogate U+{ord(char):04X}"
    if _CONTROL.match(char):
        return f"the control character U+{ord(char):04X}"
    return repr(char)


def _show(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"
