"""Test your own code against the emulator: the fixtures come with aioparticipant.

    pytest examples/test_with_emulator.py

``emulator`` is a fresh in-memory service per test; ``emulator_client`` an
``AsyncClient`` wired to it in process; ``emulator_server`` serves it on a
loopback port for code that needs a real URL (here, the twilio SDK).
"""

from __future__ import annotations

import pytest

from aioparticipant import AsyncClient
from aioparticipant.emulator import Emulator, EmulatorServer
from aioparticipant.testing import client_for


async def quiet_the_room(client: AsyncClient, conference_sid: str, moderator: str) -> int:
    """The code under test: mute everyone except the moderator; returns how many it muted."""
    room = client.conferences(conference_sid).participants
    muted = 0
    async for participant in room.stream(muted=False):
        if participant.call_sid and participant.call_sid != moderator:
            await room(participant.call_sid).mute()
            muted += 1
    return muted


@pytest.mark.anyio
async def test_quiet_the_room(emulator: Emulator, emulator_client: AsyncClient) -> None:
    for call_sid in ("CAmoderator", "CAcaller1", "CAcaller2"):
        emulator.add_participant("CFroom", call_sid)
    emulator.add_participant("CFroom", "CAcaller3", muted=True)

    assert await quiet_the_room(emulator_client, "CFroom", "CAmoderator") == 2

    assert emulator.participant("CFroom", "CAmoderator").muted is False
    assert all(emulator.participant("CFroom", call).muted for call in ("CAcaller1", "CAcaller2"))


@pytest.mark.anyio
async def test_quiet_the_room_on_a_flaky_service() -> None:
    # One answer in three fails (500/503); the client's retries absorb it.
    emulator = Emulator(error_rate=0.3, seed=7)
    for number in range(20):
        emulator.add_participant("CFroom", f"CAcaller{number}")
    async with client_for(emulator, max_retries=10) as client:
        assert await quiet_the_room(client, "CFroom", "CAnobody") == 20
    assert emulator.stats.errors_injected > 0


def test_the_twilio_sdk_against_the_emulator(
    emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    twilio_rest = pytest.importorskip("twilio.rest")
    emulator.add_participant("CFroom", "CAcaller1")
    client = twilio_rest.Client(username=emulator.project_id, password=emulator.token)
    client.api.base_url = emulator_server.origin  # http://127.0.0.1:PORT
    client.conferences("CFroom").participants("CAcaller1").update(hold=True)
    assert emulator.participant("CFroom", "CAcaller1").hold is True
