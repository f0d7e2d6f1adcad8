"""client.with_options(...): per-call timeout, retries, lane and hooks over shared machinery."""

from __future__ import annotations

import anyio
import httpx
import pytest
import respx

from aioparticipant import APITimeoutError, ServerError, TokenBucket

from .helpers import PARTICIPANT_JSON, PARTICIPANT_URL, make_client

pytestmark = pytest.mark.anyio

OK = httpx.Response(200, content=PARTICIPANT_JSON)


async def test_a_view_shares_connections_limiter_pause_and_stats() -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with make_client(rate_limit=100) as client:
            view = client.with_options(max_retries=0, priority="bulk")
            await view.conferences("CF1").participants("CA1").mute()
            await client.conferences("CF1").participants("CA1").mute()
            assert view.stats is client.stats
            assert client.stats.requests == 2
            assert view.limiter is client.limiter
            assert view._pipeline is client._pipeline  # one pool, one pause
            assert "bulk" in repr(view)


async def test_options_left_out_are_inherited_and_given_ones_win() -> None:
    with respx.mock() as mock:
        route = mock.post(PARTICIPANT_URL).mock(side_effect=[httpx.Response(503)] * 3 + [OK])
        async with make_client(max_retries=3) as client:
            no_retries = client.with_options(max_retries=0)
            with pytest.raises(ServerError):
                await no_retries.conferences("CF1").participants("CA1").mute()
            assert route.call_count == 1
            # the view of a view keeps max_retries=0 unless told otherwise
            still_none = no_retries.with_options(priority="bulk")
            with pytest.raises(ServerError):
                await still_none.conferences("CF1").participants("CA1").mute()
            assert route.call_count == 2
            await client.conferences("CF1").participants("CA1").mute()  # the original retries
            assert route.call_count == 4


async def test_a_per_call_timeout_applies_to_that_view_only() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.3)
        return OK

    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).mock(side_effect=slow)
        async with make_client(timeout=5) as client:
            hurried = client.with_options(timeout=0.05, max_retries=0)
            assert hurried._api.options.timeout == httpx.Timeout(0.05)
            assert client._api.options.timeout == httpx.Timeout(5.0)
            # respx does not enforce timeouts: check that the request carries them.
            captured: list[dict[str, float | None]] = []

            def record(request: httpx.Request) -> httpx.Response:
                captured.append(request.extensions["timeout"])
                return OK

            mock.post(PARTICIPANT_URL).mock(side_effect=record)
            await hurried.conferences("CF1").participants("CA1").mute()
            await client.conferences("CF1").participants("CA1").mute()
    assert captured[0]["read"] == 0.05
    assert captured[1]["read"] == 5.0


async def test_a_per_call_timeout_is_enforced_over_a_socket(emulator_server: object) -> None:
    from aioparticipant import AsyncClient
    from aioparticipant.emulator import Emulator, serve_in_thread

    emulator = Emulator(latency=0.5)
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        async with AsyncClient(
            emulator.project_id, emulator.token, base_url=server.base_url
        ) as client:
            hurried = client.with_options(timeout=0.1, max_retries=0)
            started = anyio.current_time()
            with pytest.raises(APITimeoutError):
                await hurried.conferences("CF1").participants("CA1").mute()
            assert anyio.current_time() - started < 0.45
            assert (await client.conferences("CF1").participants("CA1").fetch()).muted


async def test_closing_the_original_closes_its_views_but_not_the_reverse() -> None:
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        client = make_client()
        view = client.with_options(priority="bulk")
        await view.aclose()
        assert view.is_closed
        assert not client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await view.conferences("CF1").participants("CA1").mute()
        await client.conferences("CF1").participants("CA1").mute()  # still works
        other = client.with_options(max_retries=1)
        await client.aclose()
        assert other.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            await other.conferences("CF1").participants("CA1").mute()


async def test_bad_options_are_refused_naming_them() -> None:
    from aioparticipant import InvalidParameterError

    async with make_client() as client:
        with pytest.raises(TypeError, match="retries"):
            client.with_options(retries=2)  # type: ignore[call-arg]
        for options, name in (
            ({"timeout": -1}, "timeout"),
            ({"max_retries": -1}, "max_retries"),
            ({"max_retries": 1.5}, "max_retries"),
            ({"priority": "now"}, "priority"),
            ({"event_hooks": {"sent": []}}, "event_hooks"),
            ({"event_hooks": {"request": [42]}}, "event_hooks"),
            ({"event_hooks": {"request": print}}, "event_hooks"),
        ):
            with pytest.raises(InvalidParameterError) as caught:
                client.with_options(**options)  # type: ignore[arg-type]
            assert caught.value.parameter == name


async def test_a_bulk_view_is_still_limited_by_the_shared_bucket() -> None:
    bucket = TokenBucket(rate=50, burst=2, reserve=1)
    with respx.mock() as mock:
        mock.post(PARTICIPANT_URL).respond(200, content=PARTICIPANT_JSON)
        async with make_client(limiter=bucket) as client:
            batch = client.with_options(priority="bulk")
            started = anyio.current_time()
            for _ in range(6):
                await batch.conferences("CF1").participants("CA1").mute()
            # one token at once (the other is kept for interactive), then one per 20 ms
            assert anyio.current_time() - started >= 5 / 50 - 0.005
