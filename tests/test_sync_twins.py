"""The same behaviour from both clients: every test here runs on AsyncClient and on Client."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
import respx

from aioparticipant import (
    APIConnectionError,
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    ParticipantUpdate,
    RateLimitError,
    ResponseEvent,
    ServerError,
)
from aioparticipant.emulator import Emulator, serve_in_thread

from .helpers import BASE, INTENT_FORMS, PARTICIPANT_JSON, PARTICIPANT_URL, PROJECT, TOKEN
from .twins import Twins, anyio_backend, twin_flavour, twins

__all__ = ["anyio_backend", "twin_flavour", "twins"]  # the fixtures, used by name

pytestmark = pytest.mark.anyio

LIST_URL = f"{BASE}/Accounts/{PROJECT}/Conferences/CF1/Participants.json"
ROOT = "/api/laml/2010-04-01"


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


@pytest.mark.parametrize(("intent", "args", "form"), INTENT_FORMS)
async def test_intent_helpers_send_exactly_their_fields(
    twins: Twins, intent: str, args: tuple[str, ...], form: dict[str, str]
) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with twins.open() as twin:
            participant = await twin.run(
                lambda c: getattr(c.conferences("CF1").participants("CA1"), intent)(*args)
            )
    assert participant.call_sid == "CA1"
    assert participant.muted is True
    request = route.calls.last.request
    assert form_of(request) == form
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_update_fetch_and_delete(twins: Twins) -> None:
    with respx.mock() as mock:
        post = mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        get = mock.get(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        delete = mock.delete(PARTICIPANT_URL).respond(204)
        async with twins.open() as twin:
            handle = await twin.run(lambda c: c.conferences("CF1").participants("CA1"))
            await twin.run(lambda c: handle.update(muted=True, wait_url="", beep_on_exit=False))
            fetched = await twin.run(lambda c: handle.fetch())
            assert await twin.run(lambda c: handle.delete()) is None
    assert form_of(post.calls.last.request) == {
        "Muted": "true",
        "WaitUrl": "",
        "BeepOnExit": "false",
    }
    assert fetched.status == "in-progress"
    assert get.call_count == delete.call_count == 1


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (lambda h: h.update(muted="yes"), InvalidParameterError, "muted must be True or False"),
        (lambda h: h.update(callSidToCoach="CA2"), TypeError, "did you mean 'call_sid_to_coach'"),
        (lambda h: h.coach(""), InvalidParameterError, "call_sid_to_coach"),
        (lambda h: h.announce(""), InvalidParameterError, "announce_url cannot be empty"),
        (lambda h: h.hold(hold_url="ftp://x/y"), InvalidParameterError, "hold_url"),
    ],
)
async def test_bad_arguments_raise_the_same_errors_before_anything_is_sent(
    twins: Twins, action: object, error: type[Exception], match: str
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, content=PARTICIPANT_JSON)
        async with twins.open() as twin:
            handle = await twin.run(lambda c: c.conferences("CF1").participants("CA1"))
            with pytest.raises(error, match=match):
                await twin.run(lambda c: action(handle))  # type: ignore[operator]
            for sid in ("", "..", "a/b", "a?b"):
                with pytest.raises(InvalidParameterError, match="call_sid"):
                    await twin.run(lambda c, sid=sid: c.conferences("CF1").participants(sid))
                with pytest.raises(InvalidParameterError, match="conference_sid"):
                    await twin.run(lambda c, sid=sid: c.conferences(sid))
            with pytest.raises(TypeError, match="page_size"):
                await twin.run(lambda c: c.conferences("CF1").participants.stream(pagesize=2))
            with pytest.raises(InvalidParameterError, match="concurrency"):
                await twin.run(lambda c: c.bulk([], concurrency=0))
    assert route.call_count == 0


async def test_api_errors_keep_their_class_code_and_request_id_without_the_token(
    twins: Twins,
) -> None:
    body = b'{"code": 20404, "message": "Participant not found", "more_info": "x", "status": 404}'
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(
            404, content=body, headers={"Twilio-Request-Id": "RQ1"}
        )
        mock.get(PARTICIPANT_URL).respond(401, content=b"<html>no</html>")
        async with twins.open() as twin:
            with pytest.raises(NotFoundError) as info:
                await twin.run(lambda c: c.conferences("CF1").participants("CA1").mute())
            with pytest.raises(AuthenticationError) as denied:
                await twin.run(lambda c: c.conferences("CF1").participants("CA1").fetch())
            assert TOKEN not in repr(twin.client)
    assert route.call_count == 1  # never retried
    assert (info.value.code, info.value.request_id) == (20404, "RQ1")
    assert TOKEN not in str(info.value) + str(denied.value)


async def test_retryable_answers_are_retried_and_counted(twins: Twins) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[
                httpx.Response(503),
                httpx.Response(429, headers={"Retry-After": "0"}),
                httpx.ConnectError("refused"),
                httpx.Response(200, content=PARTICIPANT_JSON),
            ]
        )
        async with twins.open(max_retries=3) as twin:
            participant = await twin.run(lambda c: c.conferences("CF1").participants("CA1").mute())
            stats = twin.client.stats
    assert participant.muted is True
    assert route.call_count == 4
    assert (stats.requests, stats.attempts, stats.retries) == (1, 4, 3)
    assert (stats.retries_after_5xx, stats.retries_after_429) == (1, 1)
    assert stats.retries_after_connection_error == 1


async def test_giving_up_raises_the_last_error(twins: Twins) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(500)
        mock.get(PARTICIPANT_URL).mock(side_effect=httpx.ConnectError("refused"))
        async with twins.open(max_retries=2) as twin:
            with pytest.raises(ServerError):
                await twin.run(lambda c: c.conferences("CF1").participants("CA1").mute())
            with pytest.raises(APIConnectionError):
                await twin.run(lambda c: c.conferences("CF1").participants("CA1").fetch())
    assert route.call_count == 3


def page(calls: list[str], next_page_uri: str | None) -> bytes:
    records = [{"call_sid": c, "conference_sid": "CF1", "muted": False} for c in calls]
    return json.dumps({"participants": records, "next_page_uri": next_page_uri}).encode()


async def test_list_and_stream_follow_the_pages(twins: Twins) -> None:
    second = (
        f"{ROOT}/Accounts/{PROJECT}/Conferences/CF1/Participants.json?Muted=true&PageSize=2&Page=1"
    )
    pages = [page(["CA1", "CA2"], second), page(["CA3"], None)]
    with respx.mock() as mock:
        route = mock.get(url__startswith=LIST_URL).mock(
            side_effect=[httpx.Response(200, content=body) for body in pages * 2]
        )
        async with twins.open() as twin:
            listed = await twin.run(
                lambda c: c.conferences("CF1").participants.list(muted=True, page_size=2)
            )
            streamed = await twin.collect(
                lambda c: c.conferences("CF1").participants.stream(muted=True, page_size=2)
            )
    assert [p.call_sid for p in listed] == [p.call_sid for p in streamed] == ["CA1", "CA2", "CA3"]
    first, following = (call.request for call in route.calls[:2])
    assert str(first.url) == f"{LIST_URL}?Muted=true&PageSize=2"
    assert str(following.url) == f"https://example.signalwire.com{second}"


async def test_stream_fetches_the_next_page_only_when_needed(twins: Twins) -> None:
    with respx.mock() as mock:
        route = mock.get(url__startswith=LIST_URL).respond(
            200, content=page(["CA1", "CA2"], f"{ROOT}/next.json")
        )
        async with twins.open() as twin:
            got = await twin.collect(lambda c: c.conferences("CF1").participants.stream(), limit=2)
    assert [p.call_sid for p in got] == ["CA1", "CA2"]
    assert route.call_count == 1


async def test_a_next_page_on_another_host_is_refused(twins: Twins) -> None:
    with respx.mock() as mock:
        mock.get(url__startswith=LIST_URL).respond(
            200, content=page(["CA1"], "https://evil.example/steal.json")
        )
        async with twins.open() as twin:
            with pytest.raises(Exception, match="refusing to follow next_page_uri"):
                await twin.run(lambda c: c.conferences("CF1").participants.list())


async def test_bulk_under_faults_accounts_for_every_update_exactly_once(twins: Twins) -> None:
    count = 150
    emulator = Emulator(error_rate=0.05, drop_rate=0.05, rate_limit=300, seed=3)
    for index in range(count):
        emulator.add_participant("CF1", f"CA{index:03d}")
    updates = (ParticipantUpdate("CF1", f"CA{index:03d}", muted=True) for index in range(count))
    with serve_in_thread(emulator) as server:
        async with twins.open(
            emulator.project_id, emulator.token, base_url=server.base_url, max_retries=6
        ) as twin:
            with anyio.fail_after(60):
                results = await twin.bulk(updates, concurrency=16)
    calls = [result.update.call_sid for result in results]
    assert sorted(calls) == [f"CA{index:03d}" for index in range(count)]  # each exactly once
    stats = emulator.stats
    assert stats.errors_injected > 0
    assert stats.connections_dropped > 0
    for result in results:
        if result.ok:
            assert emulator.participant("CF1", result.update.call_sid).muted
        else:  # retries spent: only transient failures may be left
            assert isinstance(result.error, (ServerError, RateLimitError, APIConnectionError))
    assert sum(result.ok for result in results) >= count - 5


async def test_rate_limit_auto_learns_the_services_limit_from_its_429s(twins: Twins) -> None:
    count = 120
    emulator = Emulator(rate_limit=40)
    for index in range(count):
        emulator.add_participant("CF1", f"CA{index:03d}")
    updates = [ParticipantUpdate("CF1", f"CA{index:03d}", muted=True) for index in range(count)]
    with serve_in_thread(emulator) as server:
        async with twins.open(
            emulator.project_id, emulator.token, base_url=server.base_url, rate_limit="auto"
        ) as twin:
            with anyio.fail_after(60):
                results = await twin.bulk(updates, concurrency=16)
            limit = twin.client.limiter.limit
    assert all(result.ok for result in results)
    assert limit is not None
    assert 30 <= limit <= 44  # learned from the 429s: the service allows 40/s
    assert emulator.stats.rate_limited <= 0.1 * count


async def test_bulk_gives_a_missing_participant_its_own_result(twins: Twins) -> None:
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    emulator.add_participant("CF1", "CA3")
    updates = [ParticipantUpdate("CF1", call, hold=True) for call in ("CA1", "CA2", "CA3")]
    with serve_in_thread(emulator) as server:
        async with twins.open(
            emulator.project_id, emulator.token, base_url=server.base_url
        ) as twin:
            results = await twin.bulk(updates, concurrency=2)
    outcome = {result.update.call_sid: result.outcome.value for result in results}
    assert outcome == {"CA1": "ok", "CA2": "not_found", "CA3": "ok"}
    assert emulator.participant("CF1", "CA3").hold


async def test_event_hooks_and_lanes_for_direct_calls_views_and_bulk(twins: Twins) -> None:
    seen: list[tuple[str, str, int]] = []

    def on_response(event: ResponseEvent) -> None:
        seen.append((event.method, event.priority, event.status))

    updates = [ParticipantUpdate("CF1", "CA1", muted=True)]
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        mock.get(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with twins.open(event_hooks={"response": [on_response]}) as twin:
            await twin.run(lambda c: c.conferences("CF1").participants("CA1").fetch())
            batch = await twin.run(lambda c: c.with_options(priority="bulk"))
            await twin.run(lambda c: batch.conferences("CF1").participants("CA1").fetch())
            await twin.bulk(updates)
            await twin.bulk(updates, priority="interactive")
            with pytest.raises(InvalidParameterError, match="priority"):
                await twin.run(lambda c: c.bulk(updates, priority="urgent"))
            with pytest.raises(InvalidParameterError, match="priority"):
                await twin.run(lambda c: c.with_options(priority="urgent"))
    assert seen == [
        ("GET", "interactive", 200),
        ("GET", "bulk", 200),
        ("POST", "bulk", 200),
        ("POST", "interactive", 200),
    ]


async def test_a_view_shares_stats_and_closing_it_closes_only_the_view(twins: Twins) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, content=PARTICIPANT_JSON)]
        )
        async with twins.open() as twin:
            strict = await twin.run(lambda c: c.with_options(max_retries=0))
            with pytest.raises(ServerError):
                await twin.run(lambda c: strict.conferences("CF1").participants("CA1").mute())
            assert twin.client.stats.requests == 1  # the view counts into the client's stats
            closing = strict.close() if twin.blocking else strict.aclose()
            if not twin.blocking:
                await closing
            assert strict.is_closed
            assert not twin.client.is_closed
            with pytest.raises(RuntimeError, match="closed"):
                await twin.run(lambda c: strict.conferences("CF1").participants("CA1").mute())
            await twin.run(lambda c: c.conferences("CF1").participants("CA1").mute())
    assert route.call_count == 2
