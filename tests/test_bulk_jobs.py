"""The common bulk jobs: mute/unmute/hold/unhold a room (but a few), or a list of participants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aioparticipant import (
    AsyncClient,
    Backoff,
    BulkOutcome,
    BulkSummary,
    InvalidParameterError,
    ServerError,
    hold_all,
    mute_all,
    unhold_all,
    unmute_all,
    update_all,
)
from aioparticipant.emulator import Emulator

pytestmark = pytest.mark.anyio

ROOM = "CF-room"
MODERATOR = "CA-moderator"
AGENT = "CA-agent"
CALLERS = [f"CA-caller-{index:03d}" for index in range(40)]


def room(**options: Any) -> Emulator:
    emulator = Emulator(**options)
    for call_sid in (MODERATOR, AGENT, *CALLERS):
        emulator.add_participant(ROOM, call_sid, muted=False, hold=False)
    emulator.add_participant("CF-other", "CA-elsewhere", muted=False)
    return emulator


def client_for(emulator: Emulator, **options: Any) -> AsyncClient:
    return AsyncClient(
        emulator.project_id,
        emulator.token,
        base_url=emulator.base_url(),
        transport=httpx.ASGITransport(app=emulator),
        backoff=Backoff(initial=0.001, maximum=0.002),
        **options,
    )


async def test_mute_all_mutes_the_room_except_the_given_call_sids() -> None:
    emulator = room()
    async with client_for(emulator) as client:
        summary = await mute_all(client, ROOM, except_call_sids={MODERATOR, AGENT})
    assert summary == BulkSummary(succeeded=40, skipped=2)
    assert summary.ok
    assert summary.total == 42
    assert not emulator.participant(ROOM, MODERATOR).muted
    assert not emulator.participant(ROOM, AGENT).muted
    assert all(emulator.participant(ROOM, call_sid).muted for call_sid in CALLERS)
    assert not emulator.participant("CF-other", "CA-elsewhere").muted


async def test_unmute_all_takes_a_single_call_sid_to_spare_as_a_string() -> None:
    emulator = room()
    async with client_for(emulator) as client:
        await mute_all(client, ROOM)
        summary = await unmute_all(client, ROOM, except_call_sids=AGENT)
    assert summary.succeeded == 41
    assert summary.skipped == 1
    assert emulator.participant(ROOM, AGENT).muted
    assert not any(emulator.participant(ROOM, call_sid).muted for call_sid in CALLERS)


async def test_hold_all_and_unhold_all_work_on_a_list_of_pairs() -> None:
    emulator = room()
    pairs = [(ROOM, call_sid) for call_sid in CALLERS[:5]] + [(ROOM, "CA-left-already")]
    async with client_for(emulator) as client:
        held = await hold_all(client, pairs, hold_url="https://example.com/hold.xml")
        assert all(emulator.participant(ROOM, call_sid).hold for call_sid in CALLERS[:5])
        assert emulator.participant(ROOM, CALLERS[0]).hold_url == "https://example.com/hold.xml"
        assert not emulator.participant(ROOM, CALLERS[5]).hold
        released = await unhold_all(client, pairs)
    assert held == BulkSummary(succeeded=5, not_found=1)
    assert held.ok, "a participant who already left is not a failure"
    assert released.succeeded == 5
    assert not any(emulator.participant(ROOM, call_sid).hold for call_sid in CALLERS[:5])


async def test_update_all_refuses_bad_parameters_before_sending_anything() -> None:
    emulator = room()
    async with client_for(emulator) as client:
        with pytest.raises(InvalidParameterError, match="hold_url"):
            await hold_all(client, ROOM, hold_url="not-a-url")
        with pytest.raises(TypeError, match="muted"):
            await update_all(client, ROOM, mute=True)  # type: ignore[call-arg]
    assert emulator.stats.requests == 0


async def test_update_all_collects_failures_and_keeps_going() -> None:
    emulator = room(error_rate=1.0, seed=1)
    pairs = [(ROOM, call_sid) for call_sid in CALLERS[:3]]
    async with client_for(emulator, max_retries=0) as client:
        summary = await update_all(client, pairs, coaching=False)
    assert summary.failed == 3
    assert not summary.ok
    assert [result.outcome for result in summary.failures] == [BulkOutcome.FAILED] * 3
    assert all(isinstance(result.error, ServerError) for result in summary.failures)
