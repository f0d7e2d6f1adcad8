"""participants.list() / stream(): filters, pages, and where next_page_uri may lead."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from aioparticipant import AioParticipantError, InvalidParameterError

from .helpers import BASE, PROJECT, make_client

pytestmark = pytest.mark.anyio

LIST_URL = f"{BASE}/Accounts/{PROJECT}/Conferences/CF1/Participants.json"
ROOT = "/api/laml/2010-04-01"


def page(calls: list[str], next_page_uri: str | None) -> bytes:
    return json.dumps(
        {
            "participants": [
                {"call_sid": c, "conference_sid": "CF1", "muted": False} for c in calls
            ],
            "next_page_uri": next_page_uri,
            "page_size": 2,
            "start": 0,
            "end": 1,
            "first_page_uri": f"{ROOT}/Accounts/{PROJECT}/Conferences/CF1/Participants.json?PageSize=2&Page=0",
            "previous_page_uri": None,
            "uri": f"{ROOT}/Accounts/{PROJECT}/Conferences/CF1/Participants.json?PageSize=2&Page=0",
        }
    ).encode()


async def test_list_follows_root_relative_next_page_uri_and_sends_filters() -> None:
    second = f"{ROOT}/Accounts/{PROJECT}/Conferences/CF1/Participants.json?Muted=true&PageSize=2&Page=1&PageToken=PT1"
    with respx.mock() as mock:
        route = mock.get(url__startswith=LIST_URL).mock(
            side_effect=[
                httpx.Response(200, content=page(["CA1", "CA2"], second)),
                httpx.Response(200, content=page(["CA3"], None)),
            ]
        )
        async with make_client() as client:
            participants = await client.conferences("CF1").participants.list(
                muted=True, page_size=2
            )
    assert [p.call_sid for p in participants] == ["CA1", "CA2", "CA3"]
    first, following = (call.request for call in route.calls)
    assert str(first.url) == f"{LIST_URL}?Muted=true&PageSize=2"
    assert str(following.url) == f"https://example.signalwire.com{second}"


async def test_stream_fetches_the_next_page_only_when_needed() -> None:
    with respx.mock() as mock:
        route = mock.get(url__startswith=LIST_URL).mock(
            side_effect=[httpx.Response(200, content=page(["CA1", "CA2"], f"{ROOT}/x.json?Page=1"))]
        )
        async with make_client() as client:
            stream = client.conferences("CF1").participants.stream()
            first = await stream.__anext__()
            assert first.call_sid == "CA1"
            await stream.aclose()  # type: ignore[attr-defined]
    assert route.call_count == 1


@pytest.mark.parametrize(
    "next_page_uri",
    [
        "https://evil.example/api/laml/2010-04-01/x.json",
        "//evil.example/x.json",
        "http://example.signalwire.com/x.json",
    ],
)
async def test_next_page_on_another_host_or_scheme_is_refused(next_page_uri: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        evil = mock.get(url__regex=r"^(?!https://example\.signalwire\.com).*").respond(
            200, content=page([], None)
        )
        mock.get(url__startswith=LIST_URL).respond(200, content=page(["CA1"], next_page_uri))
        async with make_client() as client:
            with pytest.raises(AioParticipantError, match="refusing to follow next_page_uri"):
                await client.conferences("CF1").participants.list()
    assert evil.call_count == 0


async def test_bad_filters_fail_before_any_request() -> None:
    async with make_client() as client:
        participants = client.conferences("CF1").participants
        with pytest.raises(TypeError, match="unexpected keyword argument 'status'"):
            participants.stream(status="connected")  # type: ignore[call-arg]
        with pytest.raises(InvalidParameterError, match="muted"):
            await participants.list(muted="yes")  # type: ignore[typeddict-item]


async def test_twilio_pages_resolve_against_twilio_host() -> None:
    from aioparticipant import AsyncClient

    base = "https://api.twilio.com/2010-04-01"
    list_url = f"{base}/Accounts/AC1/Conferences/CF1/Participants.json"
    with respx.mock() as mock:
        route = mock.get(url__startswith=list_url).mock(
            side_effect=[
                httpx.Response(
                    200,
                    content=page(
                        ["CA1"], "/2010-04-01/Accounts/AC1/Conferences/CF1/Participants.json?Page=1"
                    ),
                ),
                httpx.Response(200, content=page(["CA2"], None)),
            ]
        )
        async with AsyncClient("AC1", "t", base_url=base) as client:
            sids = [p.call_sid async for p in client.conferences("CF1").participants.stream()]
    assert sids == ["CA1", "CA2"]
    assert str(route.calls.last.request.url) == f"{list_url}?Page=1"
