"""Our client against the emulator, in process: every intent, retries, and the fixtures."""

from __future__ import annotations

import httpx
import pytest

from aioparticipant import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from aioparticipant.emulator import Emulator
from aioparticipant.testing import client_for

pytestmark = pytest.mark.anyio

MUSIC = "https://example.com/hold-music.xml"
ANNOUNCEMENT = "https://example.com/closing-in-5.xml"


async def test_every_intent_round_trips_through_the_fixtures(
    emulator: Emulator, emulator_client: AsyncClient
) -> None:
    for call in ("CAagent", "CAcustomer", "CAsupervisor"):
        emulator.add_participant("CF1", call)
    room = emulator_client.conferences("CF1").participants

    assert (await room("CAcustomer").mute()).muted is True
    assert (await room("CAcustomer").unmute()).muted is False
    held = await room("CAcustomer").hold(hold_url=MUSIC, hold_method="get")
    assert (held.hold, held.hold_url) == (True, MUSIC)
    assert (await room("CAcustomer").unhold()).hold is False

    monitoring = await room("CAsupervisor").monitor("CAagent")
    assert (monitoring.coaching, monitoring.muted, monitoring.call_sid_to_coach) == (
        True,
        True,
        "CAagent",
    )
    coaching = await room("CAsupervisor").coach("CAagent")
    assert (coaching.coaching, coaching.muted) == (True, False)
    barged = await room("CAsupervisor").barge()
    assert (barged.coaching, barged.muted, barged.call_sid_to_coach) == (False, False, None)

    await room("CAagent").announce(ANNOUNCEMENT)
    assert emulator.announcements("CF1", "CAagent") == [ANNOUNCEMENT]

    fetched = await room("CAagent").fetch()
    assert fetched == emulator.participant("CF1", "CAagent")

    await room("CAcustomer").delete()
    with pytest.raises(NotFoundError) as caught:
        await room("CAcustomer").fetch()
    assert caught.value.code == 20404
    assert [p.call_sid for p in await room.list()] == ["CAagent", "CAsupervisor"]


async def test_list_and_stream_follow_every_page(
    emulator: Emulator, emulator_client: AsyncClient
) -> None:
    calls = [f"CA{number:03}" for number in range(45)]
    for number, call in enumerate(calls):
        emulator.add_participant("CF1", call, muted=number % 3 == 0)
    room = emulator_client.conferences("CF1").participants
    assert [p.call_sid for p in await room.list(page_size=7)] == calls
    streamed = [p.call_sid async for p in room.stream(muted=True, page_size=4)]
    assert streamed == calls[::3]
    assert emulator.stats.lists == 7 + 4  # ceil(45/7) pages, then ceil(15/4)


async def test_the_client_maps_emulator_errors_to_its_exception_tree(
    emulator: Emulator, emulator_client: AsyncClient
) -> None:
    emulator.add_participant("CF1", "CA1")
    emulator.add_participant("CF1", "CA2")
    with pytest.raises(BadRequestError) as bad:
        # The client lets this through (it cannot know who is in the conference).
        await emulator_client.conferences("CF1").participants("CA1").coach("CA404")
    assert (bad.value.status, bad.value.code) == (400, 16028)
    assert bad.value.request_id is not None
    async with AsyncClient(
        emulator.project_id,
        "not-the-token",
        base_url=emulator.base_url(),
        transport=httpx.ASGITransport(app=emulator),
    ) as wrong_token:
        with pytest.raises(AuthenticationError) as denied:
            await wrong_token.conferences("CF1").participants("CA1").fetch()
    assert denied.value.code == 20003


async def test_the_client_absorbs_429s_5xx_and_drops_and_ends_in_the_asked_state() -> None:
    emulator = Emulator(rate_limit=200, error_rate=0.1, drop_rate=0.05, seed=3)
    calls = [f"CA{number}" for number in range(60)]
    for call in calls:
        emulator.add_participant("CF1", call)
    async with client_for(emulator, max_retries=8) as client:
        room = client.conferences("CF1").participants
        for call in calls:
            await room(call).mute()
    assert all(emulator.participant("CF1", call).muted for call in calls)
    stats = emulator.stats
    assert stats.errors_injected > 0
    assert stats.connections_dropped > 0


async def test_an_announcement_is_never_replayed_after_an_ambiguous_failure() -> None:
    dropping = Emulator(drop_rate=1.0)
    dropping.add_participant("CF1", "CA1")
    async with client_for(dropping, max_retries=5) as client:
        with pytest.raises(APIConnectionError):
            await client.conferences("CF1").participants("CA1").announce(ANNOUNCEMENT)
    # Played once (the answer was lost), and the client did not try again.
    assert dropping.announcements("CF1", "CA1") == [ANNOUNCEMENT]
    assert dropping.stats.requests == 1

    failing = Emulator(error_rate=1.0, seed=1)
    failing.add_participant("CF1", "CA1")
    async with client_for(failing, max_retries=5) as client:
        with pytest.raises(ServerError):
            await client.conferences("CF1").participants("CA1").announce(ANNOUNCEMENT)
    assert failing.announcements("CF1", "CA1") == []
    assert failing.stats.requests == 1


async def test_an_announcement_is_retried_after_a_429_which_was_not_processed() -> None:
    emulator = Emulator(rate_limit=1)
    emulator.add_participant("CF1", "CA1")
    async with client_for(emulator, max_retries=2) as client:
        await client.conferences("CF1").participants("CA1").fetch()  # empties the bucket
        await client.conferences("CF1").participants("CA1").announce(ANNOUNCEMENT)
    assert emulator.announcements("CF1", "CA1") == [ANNOUNCEMENT]
    assert emulator.stats.rate_limited >= 1


async def test_without_retries_a_429_reaches_the_caller_with_retry_after() -> None:
    emulator = Emulator(rate_limit=1)
    emulator.add_participant("CF1", "CA1")
    async with client_for(emulator, max_retries=0) as client:
        await client.conferences("CF1").participants("CA1").fetch()
        with pytest.raises(RateLimitError) as caught:
            await client.conferences("CF1").participants("CA1").fetch()
    assert caught.value.code == 20429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
