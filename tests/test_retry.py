"""What is retried, how long it waits, what it logs — through the real client, over respx."""

from __future__ import annotations

import logging
import random

import anyio
import httpx
import pytest
import respx

from aioparticipant import (
    APIConnectionError,
    APITimeoutError,
    Backoff,
    BadRequestError,
    RateLimitError,
    ServerError,
)
from aioparticipant._retry import decide

from .helpers import AUTH, PARTICIPANT_JSON, PARTICIPANT_URL, TOKEN, make_client

pytestmark = pytest.mark.anyio

OK = httpx.Response(200, content=PARTICIPANT_JSON)


def responses(*items: object) -> list[object]:
    return list(items)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_until_success(status: int) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(status), httpx.Response(status), OK]
        )
        async with make_client() as client:
            participant = await client.conferences("CF1").participants("CA1").mute()
    assert participant.muted is True
    assert route.call_count == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422, 501, 505])
async def test_other_statuses_are_never_retried(status: int) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(side_effect=[httpx.Response(status), OK])
        async with make_client() as client:
            with pytest.raises(Exception) as info:
                await client.conferences("CF1").participants("CA1").mute()
    assert getattr(info.value, "status", None) == status
    assert route.call_count == 1


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(503)
        async with make_client(max_retries=2) as client:
            with pytest.raises(ServerError) as info:
                await client.conferences("CF1").participants("CA1").mute()
    assert info.value.status == 503
    assert route.call_count == 3


async def test_max_retries_zero_disables_retrying() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(500)
        async with make_client(max_retries=0) as client:
            with pytest.raises(ServerError):
                await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"),
     httpx.ReadError("reset"), httpx.RemoteProtocolError("closed"), httpx.PoolTimeout("pool")],
)  # fmt: skip
async def test_connection_failures_and_timeouts_are_retried(error: Exception) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(side_effect=[error, OK])
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("error", "cls", "delivered"),
    [(httpx.ConnectError("refused"), APIConnectionError, False), (httpx.ConnectTimeout("x"), APITimeoutError, False),
     (httpx.PoolTimeout("x"), APITimeoutError, False), (httpx.ReadTimeout("x"), APITimeoutError, True),
     (httpx.WriteTimeout("x"), APITimeoutError, True), (httpx.ReadError("x"), APIConnectionError, True),
     (httpx.RemoteProtocolError("x"), APIConnectionError, True)],
)  # fmt: skip
async def test_transport_errors_map_to_our_classes_raised_from_httpx(
    error: Exception, cls: type[APIConnectionError], delivered: bool
) -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(side_effect=error)
        async with make_client(max_retries=0) as client:
            with pytest.raises(cls) as info:
                await client.conferences("CF1").participants("CA1").mute()
    assert info.value.__cause__ is error
    assert info.value.possibly_delivered is delivered


# --- the announce rule -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "retried"),
    [(httpx.ConnectError("refused"), True), (httpx.ConnectTimeout("x"), True), (httpx.PoolTimeout("x"), True),
     (httpx.Response(429), True), (httpx.ReadTimeout("x"), False), (httpx.ReadError("reset"), False),
     (httpx.RemoteProtocolError("x"), False), (httpx.WriteTimeout("x"), False), (httpx.Response(500), False),
     (httpx.Response(502), False), (httpx.Response(503), False), (httpx.Response(504), False)],
)  # fmt: skip
async def test_announce_is_retried_only_where_it_cannot_have_played(
    first: object, retried: bool
) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(side_effect=[first, OK])
        async with make_client() as client:
            handle = client.conferences("CF1").participants("CA1")
            if retried:
                await handle.announce("https://m.example/a.xml")
            else:
                with pytest.raises((APIConnectionError, ServerError)):
                    await handle.announce("https://m.example/a.xml")
    assert route.call_count == (2 if retried else 1)


async def test_the_same_failure_is_retried_for_a_plain_update() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.ReadError("reset"), httpx.Response(502), OK]
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").update(muted=True, hold=False)
    assert route.call_count == 3


# --- Retry-After -----------------------------------------------------------------


async def test_retry_after_seconds_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "0.25"}), OK]
        )
        async with make_client() as client:
            started = anyio.current_time()
            await client.conferences("CF1").participants("CA1").mute()
            elapsed = anyio.current_time() - started
    assert route.call_count == 2
    assert elapsed >= 0.25
    assert "waiting 0.25s" in caplog.text


async def test_retry_after_http_date_in_the_past_means_now(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(503, headers={"Retry-After": past}), OK]
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
    assert "waiting 0.00s" in caplog.text


@pytest.mark.parametrize("value", ["garbage", "-3", ""])
async def test_garbage_retry_after_falls_back_to_backoff(value: str) -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": value}), OK]
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 2


async def test_retry_after_beyond_the_cap_raises_at_once() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), OK]
        )
        async with make_client(backoff=Backoff(max_retry_after=5)) as client:
            started = anyio.current_time()
            with pytest.raises(RateLimitError) as info:
                await client.conferences("CF1").participants("CA1").mute()
            assert anyio.current_time() - started < 5
    assert info.value.retry_after == 3600
    assert route.call_count == 1


async def test_backoff_is_exponential_with_full_jitter_under_the_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(500)
        async with make_client(
            max_retries=5, backoff=Backoff(initial=0.001, maximum=0.004)
        ) as client:
            with pytest.raises(ServerError):
                await client.conferences("CF1").participants("CA1").mute()
    waits = [float(r.getMessage().rsplit("waiting ", 1)[1].rstrip("s")) for r in caplog.records]
    assert len(waits) == 5
    ceilings = [0.001, 0.002, 0.004, 0.004, 0.004]
    assert all(0 <= wait <= ceiling + 0.005 for wait, ceiling in zip(waits, ceilings, strict=True))


async def test_one_warning_per_retry_with_method_path_status_attempt_and_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(503), httpx.ConnectError("refused"), OK]
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
    ours = [r for r in caplog.records if r.name == "aioparticipant"]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.WARNING]
    first, second = (r.getMessage() for r in ours)
    assert first.startswith(
        "retrying POST /Accounts/YourProjectID/Conferences/CF1/Participants/CA1.json after HTTP 503 (attempt 1 of 4)"
    )
    assert "after APIConnectionError (attempt 2 of 4)" in second
    assert TOKEN not in caplog.text
    assert AUTH not in caplog.text
    assert AUTH.split()[1] not in caplog.text


# --- cancellation ----------------------------------------------------------------


async def test_cancellation_during_backoff_stops_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    # Full jitter waits anywhere from 0 to 30 s: take the longest, so the retry
    # cannot come within the test (a draw under 0.2 s made it flaky).
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).respond(503)
        async with make_client(backoff=Backoff(initial=30, maximum=30)) as client:
            with anyio.move_on_after(0.2) as scope:
                await client.conferences("CF1").participants("CA1").mute()
            assert scope.cancelled_caught
            await anyio.sleep(0.1)
    assert route.call_count == 1


async def test_cancellation_is_never_classified_as_retryable() -> None:
    import asyncio

    import trio

    for error in (asyncio.CancelledError(), trio.Cancelled._create(), KeyboardInterrupt()):  # type: ignore[attr-defined]
        assert not decide(error, announces=False, backoff=Backoff()).retry


async def test_bad_request_is_not_retried_even_with_retry_after() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(
            side_effect=[httpx.Response(400, headers={"Retry-After": "0"}), OK]
        )
        async with make_client() as client:
            with pytest.raises(BadRequestError):
                await client.conferences("CF1").participants("CA1").mute()
    assert route.call_count == 1


async def test_errors_say_how_many_attempts_were_made() -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(503)
        async with make_client(max_retries=2) as client:
            with pytest.raises(ServerError) as info:
                await client.conferences("CF1").participants("CA1").mute()
    assert info.value.attempts == 3


async def test_a_404_on_a_retried_delete_means_the_lost_first_answer_removed_them() -> None:
    from aioparticipant import NotFoundError

    with respx.mock() as mock:
        route = mock.delete(PARTICIPANT_URL).mock(
            side_effect=[httpx.ReadError("answer lost"), httpx.Response(404)]
        )
        async with make_client() as client:
            assert await client.conferences("CF1").participants("CA1").delete() is None
        assert route.call_count == 2
        mock.delete(PARTICIPANT_URL).mock(side_effect=[httpx.Response(404)])
        async with make_client() as client:
            with pytest.raises(NotFoundError) as info:
                await client.conferences("CF1").participants("CA1").delete()
        assert info.value.attempts == 1


async def test_stats_count_requests_attempts_and_retries_by_cause() -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(
            side_effect=[
                httpx.Response(429),
                httpx.Response(503),
                httpx.ConnectError("refused"),
                OK,
                OK,
            ]
        )
        async with make_client() as client:
            await client.conferences("CF1").participants("CA1").mute()
            await client.conferences("CF1").participants("CA1").mute()
    stats = client.stats
    assert (stats.requests, stats.attempts, stats.retries) == (2, 5, 3)
    assert (
        stats.retries_after_429,
        stats.retries_after_5xx,
        stats.retries_after_connection_error,
    ) == (1, 1, 1)
