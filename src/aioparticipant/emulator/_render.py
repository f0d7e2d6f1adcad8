"""The JSON the emulator answers with: the spec page's participant, Twilio's page.

A participant carries the keys of the spec page's responses plus Twilio's
(``label``, ``queue_time``); dates go out in standard RFC 2822 (``Sep``, not
the spec page's ``Sept``) and in GMT (``+0000``), so that every official SDK
parses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from .._dates import format_rfc2822
from ._forms import ListQuery
from ._records import ParticipantRecord

__all__ = ["participant_json", "participant_page_json", "participants_path"]


def participants_path(prefix: str, account_sid: str, conference_sid: str) -> str:
    """``{prefix}/Accounts/{account}/Conferences/{conference}/Participants``, sids encoded."""
    return (
        f"{prefix}/Accounts/{_segment(account_sid)}"
        f"/Conferences/{_segment(conference_sid)}/Participants"
    )


def participant_json(record: ParticipantRecord, *, prefix: str, account_sid: str) -> dict[str, Any]:
    """One participant, as the fetch and update endpoints answer it."""
    uri = (
        participants_path(prefix, account_sid, record.conference_sid)
        + f"/{_segment(record.call_sid)}.json"
    )
    return {
        "account_sid": account_sid,
        "call_sid": record.call_sid,
        "label": record.label,
        "conference_sid": record.conference_sid,
        "date_created": _gmt(record.date_created),
        "date_updated": _gmt(record.date_updated),
        "end_conference_on_exit": record.end_conference_on_exit,
        "muted": record.muted,
        "hold": record.hold,
        "hold_url": record.hold_url,
        "status": record.status,
        "start_conference_on_enter": record.start_conference_on_enter,
        "coaching": record.coaching,
        "call_sid_to_coach": record.call_sid_to_coach,
        "queue_time": record.queue_time,
        "uri": uri,
    }


def participant_page_json(
    matching: Sequence[ParticipantRecord],
    query: ListQuery,
    *,
    prefix: str,
    account_sid: str,
    conference_sid: str,
) -> dict[str, Any]:
    """One page of a conference's participants that match the query's filters.

    ``matching`` is every matching record in creation order. A page token
    ("PA<n>": after record n, "PB<n>": before it) wins over ``Page``, so a
    client following ``next_page_uri`` neither skips nor repeats anyone when
    participants leave between pages.

    Every link, ``uri`` included, names its page in full as the API does: the
    filters, ``PageSize`` and ``Page`` (and ``PageToken`` where one applies),
    whether or not the request spelled them out.
    """
    size = query.page_size
    if query.token is None:
        start = query.page * size
        records = list(matching[start : start + size])
    elif query.token[0] == "PA":
        after = [record for record in matching if record.sequence > query.token[1]]
        records = after[:size]
    else:
        before = [record for record in matching if record.sequence < query.token[1]]
        records = before[-size:]
    start = query.page * size
    base = participants_path(prefix, account_sid, conference_sid) + ".json"
    params = query.query_params()

    def link(page: int, token: str | None) -> str:
        extra = [("Page", str(page))] + ([("PageToken", token)] if token else [])
        return f"{base}?{urlencode(params + extra)}"

    more_after = bool(records) and any(r.sequence > records[-1].sequence for r in matching)
    more_before = bool(records) and any(r.sequence < records[0].sequence for r in matching)
    total = len(matching)
    num_pages = max(1, -(-total // size))
    return {
        "participants": [
            participant_json(record, prefix=prefix, account_sid=account_sid) for record in records
        ],
        "first_page_uri": link(0, None),
        "next_page_uri": link(query.page + 1, f"PA{records[-1].sequence}") if more_after else None,
        "previous_page_uri": (
            link(query.page - 1, f"PB{records[0].sequence}")
            if more_before and query.page > 0
            else None
        ),
        "page": query.page,
        "page_size": size,
        "start": start,
        "end": start + max(len(records) - 1, 0),
        "uri": link(query.page, None if query.token is None else "".join(map(str, query.token))),
        # Older pages (and SignalWire's) also carry these; clients must ignore them.
        "total": total,
        "num_pages": num_pages,
        "last_page_uri": link(num_pages - 1, None),
    }


def _gmt(moment: datetime) -> str:
    """RFC 2822 in GMT (``+0000``), as the API sends every date."""
    return format_rfc2822(moment.astimezone(timezone.utc))


def _segment(sid: str) -> str:
    return quote(sid, safe="")
