"""Fidelity: the official twilio SDK, unchanged, against the emulator over a loopback socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from aioparticipant.emulator import Emulator, EmulatorServer, serve_in_thread

twilio_rest = pytest.importorskip("twilio.rest")
twilio_exceptions = pytest.importorskip("twilio.base.exceptions")

ACCOUNT = "AC00000000000000000000000000000001"
TOKEN = "sdk-test-token"
CREATED = datetime(2018, 9, 24, 21, 0, tzinfo=timezone.utc)


@pytest.fixture
def served() -> Iterator[tuple[Emulator, EmulatorServer]]:
    emulator = Emulator(project_id=ACCOUNT, token=TOKEN)
    for number in range(5):
        emulator.add_participant(
            "CF1", f"CA{number}", label=f"caller {number}", date_created=CREATED
        )
    emulator.add_participant("CF1", "CAsupervisor")
    with serve_in_thread(emulator) as server:
        yield emulator, server


def sdk_client(server: EmulatorServer) -> object:
    client = twilio_rest.Client(username=ACCOUNT, password=TOKEN)
    # The SDK joins this with "/2010-04-01/Accounts/..."; the emulator serves that prefix.
    client.api.base_url = server.origin
    return client


def test_the_twilio_sdk_updates_fetches_lists_and_deletes(
    served: tuple[Emulator, EmulatorServer],
) -> None:
    emulator, server = served
    client = sdk_client(server)
    room = client.conferences("CF1").participants  # type: ignore[attr-defined]

    updated = room("CA1").update(muted=True, hold=True, hold_url="http://example.com/hold")
    assert (updated.muted, updated.hold) == (True, True)
    assert updated.date_created == CREATED
    assert isinstance(updated.date_updated, datetime)
    assert updated.date_updated.tzinfo is not None
    assert emulator.participant("CF1", "CA1").hold_url == "http://example.com/hold"

    coached = room("CAsupervisor").update(coaching=True, call_sid_to_coach="CA2", muted=True)
    assert (coached.coaching, coached.call_sid_to_coach) == (True, "CA2")

    fetched = room("CA1").fetch()
    assert (fetched.call_sid, fetched.label, fetched.muted) == ("CA1", "caller 1", True)
    assert fetched.uri == f"/2010-04-01/Accounts/{ACCOUNT}/Conferences/CF1/Participants/CA1.json"

    # page_size=2 makes the SDK follow next_page_uri twice.
    assert [p.call_sid for p in room.list(page_size=2)] == [
        "CA0",
        "CA1",
        "CA2",
        "CA3",
        "CA4",
        "CAsupervisor",
    ]
    assert [p.call_sid for p in room.list(muted=True)] == ["CA1", "CAsupervisor"]
    assert emulator.stats.lists == 4

    assert room("CA3").delete() is True
    with pytest.raises(twilio_exceptions.TwilioRestException) as caught:
        room("CA3").fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_the_twilio_sdk_sees_the_emulators_errors_as_twilio_errors(
    served: tuple[Emulator, EmulatorServer],
) -> None:
    _, server = served
    room = sdk_client(server).conferences("CF1").participants  # type: ignore[attr-defined]
    with pytest.raises(twilio_exceptions.TwilioRestException) as invalid:
        room("CA1").update(coaching=True)
    assert (invalid.value.status, invalid.value.code) == (400, 20001)
    assert "CallSidToCoach" in invalid.value.msg

    wrong = twilio_rest.Client(username=ACCOUNT, password="wrong")
    wrong.api.base_url = server.origin
    with pytest.raises(twilio_exceptions.TwilioRestException) as denied:
        wrong.conferences("CF1").participants("CA1").fetch()
    assert (denied.value.status, denied.value.code) == (401, 20003)
