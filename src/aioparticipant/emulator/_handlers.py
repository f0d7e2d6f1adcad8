"""What each endpoint does once a request is authenticated, routed and admitted.

List, fetch, update and delete, against the state, answered in the API's
shapes. A participant of a conference that has ended is answered 400 with
Twilio's 16099; one who is not (or no longer) there, 404 with 20404.
"""

from __future__ import annotations

from ._asgi import Answer, Scope, json_answer
from ._forms import parse_form, parse_list_query, parse_update
from ._problems import conference_not_in_progress, not_found
from ._render import participant_json, participant_page_json
from ._routing import Route
from ._state import State
from ._stats import StatsCounter

__all__ = ["handle"]


def handle(
    state: State,
    stats: StatsCounter,
    *,
    scope: Scope,
    route: Route,
    body: bytes,
    account_sid: str,
) -> Answer:
    """The answer to one request for ``route``; raises ``ApiProblem`` for an error answer."""
    status = state.conference_status(route.conference_sid)
    if status is None:
        raise not_found(route.path)
    if route.call_sid is None:
        answer = _list(state, scope, route, account_sid)
        stats.count("lists")
        return answer
    if status == "completed":
        raise conference_not_in_progress(route.conference_sid)
    method = scope["method"]
    if method == "DELETE":
        if not state.delete(route.conference_sid, route.call_sid):
            raise not_found(route.path)
        stats.count("deletes")
        return Answer(204)
    if method == "POST":
        changes = parse_update(parse_form(body))
        record = state.update(route.conference_sid, route.call_sid, changes)
        if record is None:
            raise not_found(route.path)
        stats.count("updates")
        if "announce_url" in changes:
            stats.count("announcements")
    else:
        record = state.get(route.conference_sid, route.call_sid)
        if record is None:
            raise not_found(route.path)
        stats.count("fetches")
    return json_answer(200, participant_json(record, prefix=route.prefix, account_sid=account_sid))


def _list(state: State, scope: Scope, route: Route, account_sid: str) -> Answer:
    query = parse_list_query(scope.get("query_string", b""))
    matching = [
        record
        for record in state.records(route.conference_sid)
        if all(getattr(record, name) == value for name, value in query.filters.items())
    ]
    page = participant_page_json(
        matching,
        query,
        prefix=route.prefix,
        account_sid=account_sid,
        conference_sid=route.conference_sid,
    )
    return json_answer(200, page)
