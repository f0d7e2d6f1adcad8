"""Reading requests the way the server does: form bodies and list queries.

The server is more lenient than our client about spelling (``True`` and
``TRUE`` are booleans, ``post`` is a method: the spec page's own curl
examples send ``Muted=True``) and stricter about meaning: a value it cannot
read is a 400, and nothing of a refused update is applied.

Wire names come from the client's one table, ``_params.UPDATE_PARAMETERS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from .._params import LIST_FILTERS, UPDATE_PARAMETERS, Kind
from .._validate import has_control_characters
from ._problems import INVALID_URL, invalid

__all__ = ["ListQuery", "parse_form", "parse_list_query", "parse_update"]

_METHODS = frozenset({"GET", "POST"})
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000
#: Paging parameters the server reads besides the filters (the client only
#: ever follows ``next_page_uri``, so they are not in its table).
_PAGE = "Page"
_PAGE_TOKEN = "PageToken"  # noqa: S105 - a paging cursor, not a secret
_PAGE_TOKEN_FORM = re.compile(r"\A(P[AB])(\d{1,18})\Z")


def parse_form(body: bytes) -> dict[str, str]:
    """Decode an ``application/x-www-form-urlencoded`` body; a repeated name keeps its last value."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The request body is not valid UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def parse_update(form: Mapping[str, str]) -> dict[str, bool | str]:
    """The update parameters present in ``form``, by keyword, read and checked.

    Unknown names are ignored, as the real API ignores them.
    """
    changes: dict[str, bool | str] = {}
    for parameter in UPDATE_PARAMETERS.values():
        raw = form.get(parameter.wire_name)
        if raw is None:
            continue
        name = parameter.wire_name
        if has_control_characters(raw):
            raise invalid(f"{name} must not contain control characters")
        if parameter.kind is Kind.BOOL:
            changes[parameter.keyword] = _boolean(name, raw)
        elif parameter.kind is Kind.METHOD:
            method = raw.upper()
            if method not in _METHODS:
                raise invalid(f"{name} must be either GET or POST, got {raw!r}")
            changes[parameter.keyword] = method
        elif parameter.kind is Kind.URL:
            if raw == "" and parameter.empty_means is None:
                raise invalid(f"{name} cannot be empty", code=INVALID_URL)
            if raw != "" and not _is_absolute_http_url(raw):
                raise invalid(f"{name} is not a valid URL: {raw!r}", code=INVALID_URL)
            changes[parameter.keyword] = raw
        else:  # Kind.SID: opaque; "" clears
            changes[parameter.keyword] = raw
    return changes


@dataclass(frozen=True)
class ListQuery:
    """A list request: filters by keyword (``muted``, ...), page size, and where to start."""

    filters: dict[str, bool] = field(default_factory=dict)
    page_size: int = _DEFAULT_PAGE_SIZE
    page: int = 0
    #: ("PA", n): records after sequence number n; ("PB", n): records before it.
    token: tuple[str, int] | None = None

    def query_params(self) -> list[tuple[str, str]]:
        """The filters and page size, in wire form, to carry into paging links."""
        params = [
            (LIST_FILTERS[keyword], "true" if value else "false")
            for keyword, value in self.filters.items()
        ]
        params.append((LIST_FILTERS["page_size"], str(self.page_size)))
        return params


def parse_list_query(query_string: bytes) -> ListQuery:
    """Read the filters and paging parameters of a list request."""
    try:
        text = query_string.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The query string is not valid UTF-8") from None
    query = dict(parse_qsl(text, keep_blank_values=True))
    filters: dict[str, bool] = {}
    for keyword, wire_name in LIST_FILTERS.items():
        if keyword != "page_size" and wire_name in query:
            filters[keyword] = _boolean(wire_name, query[wire_name])
    page_size = _integer(
        LIST_FILTERS["page_size"], query.get(LIST_FILTERS["page_size"]), _DEFAULT_PAGE_SIZE
    )
    if not 1 <= page_size <= _MAX_PAGE_SIZE:
        raise invalid(f"PageSize must be between 1 and {_MAX_PAGE_SIZE}, got {page_size}")
    page = _integer(_PAGE, query.get(_PAGE), 0)
    if page < 0:
        raise invalid(f"Page must not be negative, got {page}")
    token: tuple[str, int] | None = None
    raw_token = query.get(_PAGE_TOKEN)
    if raw_token:
        match = _PAGE_TOKEN_FORM.match(raw_token)
        if match is None:
            raise invalid(f"PageToken {raw_token!r} is not valid")
        token = (match[1], int(match[2]))
    return ListQuery(filters=filters, page_size=page_size, page=page, token=token)


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise invalid(f"{name} must be either true or false, got {raw!r}")


def _integer(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise invalid(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


def _is_absolute_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)
