"""The exact wire form of every example on the spec page, and of every call."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from aioparticipant import AsyncClient, NotFoundError, __version__

from .helpers import AUTH, BASE, INTENT_FORMS, PARTICIPANT_JSON, PROJECT, TOKEN, make_client

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).parent / "data" / "spec"
# The spec page's path template, filled with its own placeholder names.
SPEC_URL = f"{BASE}/Accounts/AccountSid/Conferences/ConferenceSid/Participants/CallSid.json"


def spec_client() -> AsyncClient:
    return make_client(account_sid="AccountSid")


async def send(params: dict[str, object]) -> httpx.Request:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SPEC_URL).respond(200, content=(SPEC / "mute.json").read_bytes())
        async with spec_client() as client:
            await client.conferences("ConferenceSid").participants("CallSid").update(**params)  # type: ignore[arg-type]
    assert route.call_count == 1
    return route.calls.last.request


@pytest.mark.parametrize(
    ("params", "body"),
    [
        # Request: the plain update, no parameters.
        ({}, b""),
        # Request: Coaching a Participant (curl sends True/False; the contract's wire form is true/false).
        ({"muted": False, "coaching": True, "beep": False, "call_sid_to_coach": "CallSidToCoach"},
         b"Muted=false&Coaching=true&Beep=false&CallSidToCoach=CallSidToCoach"),
        # Request: Monitoring a Conference.
        ({"muted": True, "coaching": True, "beep": False, "call_sid_to_coach": "CallSidToCoach"},
         b"Muted=true&Coaching=true&Beep=false&CallSidToCoach=CallSidToCoach"),
        # Request: Barge a Conference.
        ({"muted": False, "coaching": False}, b"Muted=false&Coaching=false"),
        # Request: Mute a Participant.
        ({"muted": True}, b"Muted=true"),
        # Request: Put a Participant on Hold.
        ({"hold": True, "hold_url": "http://www.your-application.com/hold"},
         b"Hold=true&HoldUrl=http%3A%2F%2Fwww.your-application.com%2Fhold"),
    ],
)  # fmt: skip
async def test_spec_examples_exact_wire_form(params: dict[str, object], body: bytes) -> None:
    request = await send(params)
    assert request.method == "POST"
    assert str(request.url) == SPEC_URL
    assert request.headers["Authorization"] == AUTH
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == body


async def test_every_request_names_the_library_and_asks_for_json() -> None:
    request = await send({"muted": True})
    assert request.headers["User-Agent"].startswith(f"aioparticipant/{__version__}")
    assert request.headers["Accept"] == "application/json"


@pytest.mark.parametrize(("intent", "args", "form"), INTENT_FORMS)
async def test_intent_helpers_send_exactly_their_fields(
    intent: str, args: tuple[str, ...], form: dict[str, str]
) -> None:
    with respx.mock() as mock:
        route = mock.post(SPEC_URL).respond(200, content=PARTICIPANT_JSON)
        async with spec_client() as client:
            handle = client.conferences("ConferenceSid").participants("CallSid")
            participant = await getattr(handle, intent)(*args)
    assert participant.call_sid == "CA1"
    assert (
        dict(parse_qsl(route.calls.last.request.content.decode(), keep_blank_values=True)) == form
    )


async def test_coach_and_monitor_need_a_sid_before_anything_is_sent() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, content=PARTICIPANT_JSON)
        async with spec_client() as client:
            handle = client.conferences("ConferenceSid").participants("CallSid")
            with pytest.raises(ValueError, match="call_sid_to_coach"):
                await handle.coach("")
            with pytest.raises(ValueError, match="announce_url cannot be empty"):
                await handle.announce("")
            with pytest.raises(TypeError, match="did you mean 'call_sid_to_coach'"):
                await handle.update(callSidToCoach="CA2")  # type: ignore[call-arg]
    assert route.call_count == 0


async def test_fetch_is_a_get_and_delete_a_delete() -> None:
    with respx.mock() as mock:
        get = mock.get(SPEC_URL).respond(200, content=PARTICIPANT_JSON)
        delete = mock.delete(SPEC_URL).respond(204)
        async with spec_client() as client:
            handle = client.conferences("ConferenceSid").participants("CallSid")
            fetched = await handle.fetch()
            assert await handle.delete() is None
    assert fetched.muted is True
    assert fetched.status == "in-progress"
    assert get.calls.last.request.content == b""
    assert delete.calls.last.request.headers["Authorization"] == AUTH


async def test_sids_are_percent_encoded_in_the_path() -> None:
    with respx.mock() as mock:
        route = mock.post(url__regex=r".*").respond(200, content=PARTICIPANT_JSON)
        async with make_client(account_sid="AC 1") as client:
            await client.conferences("room 5%").participants("agent é").mute()
    url = route.calls.last.request.url
    assert (
        url.raw_path
        == b"/api/laml/2010-04-01/Accounts/AC%201/Conferences/room%205%25/Participants/agent%20%C3%A9.json"
    )


@pytest.mark.parametrize("sid", ["..", ".", "", "a/b", "a?b", "a#b", "a\\b", "a\nb"])
async def test_no_sid_can_address_another_resource(sid: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, content=PARTICIPANT_JSON)
        async with make_client() as client:
            with pytest.raises(ValueError, match="call_sid"):
                await client.conferences("CF1").participants(sid).mute()
            with pytest.raises(ValueError, match="conference_sid"):
                client.conferences(sid)
    assert route.call_count == 0


async def test_api_errors_surface_with_their_class_and_code() -> None:
    body = b'{"code": 20404, "message": "Participant not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}'
    with respx.mock() as mock:
        route = mock.post(SPEC_URL).respond(404, content=body, headers={"Twilio-Request-Id": "RQ1"})
        async with spec_client() as client:
            with pytest.raises(NotFoundError) as info:
                await client.conferences("ConferenceSid").participants("CallSid").mute()
    assert route.call_count == 1  # 404 is never retried
    assert info.value.code == 20404
    assert info.value.request_id == "RQ1"
    assert (
        info.value.path
        == "/Accounts/AccountSid/Conferences/ConferenceSid/Participants/CallSid.json"
    )
    assert TOKEN not in str(info.value)


async def test_non_json_success_body_is_a_decode_error_not_a_crash() -> None:
    from aioparticipant import ResponseDecodeError

    with respx.mock() as mock:
        mock.post(SPEC_URL).respond(
            200, content=b"<html>ok</html>", headers={"content-type": "text/html"}
        )
        async with spec_client() as client:
            with pytest.raises(ResponseDecodeError) as info:
                await client.conferences("ConferenceSid").participants("CallSid").mute()
    assert info.value.status == 200


async def test_json_body_with_wrong_content_type_still_decodes() -> None:
    with respx.mock() as mock:
        mock.post(SPEC_URL).respond(
            200, content=PARTICIPANT_JSON, headers={"content-type": "text/plain"}
        )
        async with spec_client() as client:
            participant = await client.conferences("ConferenceSid").participants("CallSid").mute()
    assert participant.muted is True


async def test_twilio_base_url() -> None:
    with respx.mock() as mock:
        route = mock.post(
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Conferences/CF1/Participants/CA1.json"
        ).respond(200, content=PARTICIPANT_JSON)
        async with AsyncClient(
            "AC123", TOKEN, base_url="https://api.twilio.com/2010-04-01/"
        ) as client:
            await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 1
    assert PROJECT not in route.calls.last.request.headers["Authorization"]
