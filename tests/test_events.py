"""Event hooks: one event per attempt, plain or async, with no secret; a raising hook fails the call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from aioparticipant import (
    InvalidParameterError,
    NotFoundError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)

from .helpers import AUTH, PARTICIPANT_JSON, PARTICIPANT_URL, TOKEN, make_client

pytestmark = pytest.mark.anyio

PATH = "/Accounts/YourProjectID/Conferences/CF1/Participants/CA1.json"


async def test_each_attempt_gets_its_events_in_order() -> None:
    seen: list[Any] = []

    async def on_response(event: ResponseEvent) -> None:  # async hooks are awaited
        seen.append(event)

    hooks = {"request": [seen.append], "response": [on_response], "retry": [seen.append]}
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "0"}),
                httpx.Response(200, content=PARTICIPANT_JSON),
            ]
        )
        async with make_client(event_hooks=hooks) as client:
            await client.conferences("CF1").participants("CA1").mute()
    kinds = [type(event).__name__ for event in seen]
    assert kinds == ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent", "ResponseEvent"]
    first_request, first_response, retry, second_request, second_response = seen
    assert first_request == RequestEvent("POST", PATH, 1, "interactive")
    assert (first_response.status, first_response.attempt) == (503, 1)
    assert first_response.elapsed >= 0
    assert retry.attempt == 1  # the attempt that failed
    assert retry.wait == 0.0
    assert retry.error.status == 503
    assert second_request.attempt == 2
    assert (second_response.status, second_response.attempt) == (200, 2)
    for event in seen:
        assert TOKEN not in repr(event)
        assert AUTH not in repr(event)


async def test_error_statuses_get_a_response_event_too_and_views_have_their_own_hooks() -> None:
    responses: list[ResponseEvent] = []
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(404, json={"code": 20404, "message": "gone"})
        async with make_client() as client:
            watched = client.with_options(
                event_hooks={"response": [responses.append]}, priority="bulk"
            )
            with pytest.raises(NotFoundError):
                await watched.conferences("CF1").participants("CA1").mute()
            with pytest.raises(NotFoundError):
                await client.conferences("CF1").participants("CA1").mute()  # no hooks here
    assert [(event.status, event.priority) for event in responses] == [(404, "bulk")]


async def test_a_request_hook_that_raises_fails_the_call_before_anything_is_sent() -> None:
    class Refused(Exception):
        pass

    def refuse(event: RequestEvent) -> None:
        raise Refused(event.path)

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with make_client(event_hooks={"request": [refuse]}) as client:
            with pytest.raises(Refused):
                await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 0


async def test_a_retry_hook_that_raises_ends_the_retries() -> None:
    def stop(event: RetryEvent) -> None:
        raise RuntimeError("enough")

    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(503)
        async with make_client(event_hooks={"retry": [stop]}) as client:
            with pytest.raises(RuntimeError, match="enough"):
                await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("event_hooks", "says"),
    [
        ({"sent": [print]}, "has no event 'sent'"),
        ({"request": print}, 'event_hooks["request"] must be a list of callables'),
        ({"retry": ["log"]}, "which is not callable"),
        ([print], "must be a dict"),
    ],
)
def test_bad_hooks_are_refused_naming_event_hooks_before_anything_is_sent(
    event_hooks: Any, says: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        make_client(event_hooks=event_hooks)  # refused as the client is made
    assert caught.value.parameter == "event_hooks"
    assert says in str(caught.value)
