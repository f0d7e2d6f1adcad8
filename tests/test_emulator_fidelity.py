"""The emulator against the real API's description: labels, GMT dates, paging, error codes.

The schemas come from Twilio's own OpenAPI description (``twilio/twilio-oai``),
vendored in ``tests/data/twilio-oai/participant-schemas.json`` with its source.
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from aioparticipant import BadRequestError, NotFoundError
from aioparticipant._models import decode_participant_page
from aioparticipant.emulator import Emulator
from aioparticipant.testing import client_for

pytestmark = pytest.mark.anyio

SCHEMAS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "twilio-oai" / "participant-schemas.json").read_text()
)["schemas"]
PARTICIPANT_SCHEMA = "api.v2010.account.conference.participant"
PAGE_SCHEMA = "ListParticipantResponse"

# Twilio-shaped sids, so that the schema's patterns apply.
ACCOUNT = "AC" + "0" * 32
CONFERENCE = "CF" + "1" * 32
AGENT, CUSTOMER, SUPERVISOR = ("CA" + digit * 32 for digit in "abc")
SIGNALWIRE = f"/api/laml/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants"
TWILIO = f"/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants"


def contact_center() -> Emulator:
    emulator = Emulator(project_id=ACCOUNT)
    emulator.add_participant(CONFERENCE, AGENT, label="agent smith")
    emulator.add_participant(CONFERENCE, CUSTOMER, label="customer")
    emulator.add_participant(CONFERENCE, SUPERVISOR)
    return emulator


def wire_client(emulator: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url="http://127.0.0.1",
        auth=(emulator.project_id, emulator.token),
    )


def check(instance: Any, schema: dict[str, Any], where: str = "$") -> None:
    """Validate against the OpenAPI 3.0 subset these schemas use (a few lines, no dependency)."""
    if "$ref" in schema:
        check(instance, SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], where)
        return
    if instance is None:
        assert schema.get("nullable"), f"{where} is null"
        return
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
    kind = schema.get("type")
    if kind == "integer":
        assert not isinstance(instance, bool), where
    if kind is not None:
        assert isinstance(instance, kinds[kind]), f"{where}: {instance!r} is not {kind}"
    if "enum" in schema:
        assert instance in schema["enum"], f"{where}: {instance!r}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], instance), f"{where}: {instance!r}"
    if "minLength" in schema:
        assert schema["minLength"] <= len(instance) <= schema["maxLength"], where
    if schema.get("format") == "date-time-rfc-2822":
        # The standard parser (it refuses the spec page's "Sept"), and GMT as described.
        assert email.utils.parsedate_to_datetime(instance).utcoffset() == timedelta(0), where
        assert instance.endswith(" +0000"), where
    for name, subschema in schema.get("properties", {}).items():
        if name in instance:
            check(instance[name], subschema, f"{where}.{name}")
    for index, item in enumerate(instance if kind == "array" else ()):
        check(item, schema["items"], f"{where}[{index}]")


async def test_every_body_validates_against_twilios_own_schemas() -> None:
    emulator = contact_center()
    participants: list[Any] = []
    pages: list[Any] = []
    async with wire_client(emulator) as wire:
        for prefix in (SIGNALWIRE, TWILIO):
            participants.append((await wire.get(f"{prefix}/{AGENT}.json")).json())
            for form in (
                {"Muted": "true"},
                {"Hold": "true", "HoldUrl": "https://example.com/music.xml"},
                {"Coaching": "true", "CallSidToCoach": AGENT},
                {"Coaching": "false"},
            ):
                answer = await wire.post(f"{prefix}/{SUPERVISOR}.json", data=form)
                participants.append(answer.json())
            uri: str | None = f"{prefix}.json?PageSize=2"
            while uri is not None:
                page = (await wire.get(uri)).json()
                pages.append(page)
                uri = page["next_page_uri"]
            pages.append((await wire.get(f"{prefix}.json?Muted=true&Page=5")).json())
    assert len(participants) == 10
    assert len(pages) == 6
    for body in participants:
        check(body, SCHEMAS[PARTICIPANT_SCHEMA])
    for page in pages:
        check(page, SCHEMAS[PAGE_SCHEMA])


# --- a participant addressed by its label ---------------------------------------------


async def test_fetch_update_and_delete_by_label_on_both_prefixes() -> None:
    emulator = contact_center()
    async with wire_client(emulator) as wire:
        fetched = await wire.get(f"{TWILIO}/agent%20smith.json")
        assert (fetched.status_code, fetched.json()["call_sid"]) == (200, AGENT)
        # The resource's own uri names it by call sid, whichever way it was addressed.
        assert fetched.json()["uri"] == f"{TWILIO}/{AGENT}.json"
        updated = await wire.post(f"{SIGNALWIRE}/customer.json", data={"Muted": "true"})
        assert (updated.json()["call_sid"], updated.json()["muted"]) == (CUSTOMER, True)
        assert (await wire.delete(f"{SIGNALWIRE}/customer")).status_code == 204
        gone = await wire.get(f"{SIGNALWIRE}/customer.json")
        assert (gone.status_code, gone.json()["code"]) == (404, 20404)
    assert emulator.participant(CONFERENCE, "agent smith").call_sid == AGENT
    assert [p.call_sid for p in emulator.participants(CONFERENCE)] == [AGENT, SUPERVISOR]


async def test_the_client_reaches_a_participant_by_label(anyio_backend: str) -> None:
    emulator = contact_center()
    announcement = "https://example.com/closing.xml"
    async with client_for(emulator) as client:
        room = client.conferences(CONFERENCE).participants
        assert (await room("agent smith").mute()).call_sid == AGENT
        await room("agent smith").announce(announcement)
        await room("customer").delete()
        with pytest.raises(NotFoundError) as caught:
            await room("customer").fetch()
    assert caught.value.code == 20404
    assert emulator.participant(CONFERENCE, AGENT).muted is True
    # Announcements are kept by call sid, however the participant was addressed.
    assert emulator.announcements(CONFERENCE, AGENT) == [announcement]


def test_a_label_is_unique_within_a_conference() -> None:
    emulator = contact_center()
    with pytest.raises(ValueError, match=r"already taken.*16025"):
        emulator.add_participant(CONFERENCE, "CA" + "d" * 32, label="customer")
    # Nor may a label and a call sid name two different participants.
    with pytest.raises(ValueError, match="ambiguous"):
        emulator.add_participant(CONFERENCE, "CA" + "d" * 32, label=AGENT)
    with pytest.raises(ValueError, match="ambiguous"):
        emulator.add_participant(CONFERENCE, "customer")
    # Another conference is another namespace; a label may repeat its own call sid.
    emulator.add_participant("CF" + "2" * 32, "CA" + "d" * 32, label="customer")
    emulator.add_participant(CONFERENCE, "CAself", label="CAself")
    assert len(emulator.participants()) == 5


async def test_a_label_is_free_again_once_its_participant_left() -> None:
    emulator = contact_center()
    async with wire_client(emulator) as wire:
        assert (await wire.delete(f"{TWILIO}/customer.json")).status_code == 204
    emulator.add_participant(CONFERENCE, "CA" + "d" * 32, label="customer")
    assert emulator.participant(CONFERENCE, "customer").call_sid == "CA" + "d" * 32


# --- dates ----------------------------------------------------------------------------


async def test_dates_go_out_in_gmt_whatever_offset_they_were_seeded_with() -> None:
    emulator = Emulator(project_id=ACCOUNT)
    paris = timezone(timedelta(hours=2))
    emulator.add_participant(
        CONFERENCE,
        AGENT,
        date_created=datetime(2024, 6, 1, 12, 0, 0, tzinfo=paris),
        date_updated=datetime(2024, 6, 1, 12, 30, 0, tzinfo=paris),
    )
    async with wire_client(emulator) as wire:
        body = (await wire.get(f"{TWILIO}/{AGENT}.json")).json()
    assert body["date_created"] == "Sat, 01 Jun 2024 10:00:00 +0000"
    assert body["date_updated"] == "Sat, 01 Jun 2024 10:30:00 +0000"
    seeded = emulator.participant(CONFERENCE, AGENT)
    assert seeded.date_created == datetime(2024, 6, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert seeded.date_created is not None
    assert seeded.date_created.utcoffset() == timedelta(0)


def test_a_seeded_creation_date_alone_leaves_the_update_stamped_now() -> None:
    emulator = Emulator()
    long_ago = datetime(2018, 9, 24, 21, 0, tzinfo=timezone.utc)
    emulator.add_participant("CF1", "CA1", date_created=long_ago)
    participant = emulator.participant("CF1", "CA1")
    assert participant.date_created == long_ago
    assert participant.date_updated is not None
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=1) < participant.date_updated <= now
    # Never updated before it was created, though.
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    emulator.add_participant("CF1", "CA2", date_created=later)
    assert emulator.participant("CF1", "CA2").date_updated == later


# --- list pages -----------------------------------------------------------------------


async def test_a_page_names_itself_with_its_filters_page_size_and_page() -> None:
    emulator = contact_center()
    async with wire_client(emulator) as wire:
        bare = (await wire.get(f"{TWILIO}.json")).json()
        filtered = (await wire.get(f"{SIGNALWIRE}.json?Muted=false&PageSize=1")).json()
        following = (await wire.get(filtered["next_page_uri"])).json()
    assert bare["uri"] == f"{TWILIO}.json?PageSize=50&Page=0"
    assert bare["first_page_uri"] == bare["uri"]
    assert filtered["uri"] == f"{SIGNALWIRE}.json?Muted=false&PageSize=1&Page=0"
    # A page reached by its token names the token too: its uri is the link that led there.
    assert following["uri"] == filtered["next_page_uri"]
    assert following["uri"].startswith(f"{SIGNALWIRE}.json?Muted=false&PageSize=1&Page=1&")
    assert following["previous_page_uri"] is not None


async def test_participant_page_carries_every_paging_field_of_the_spec() -> None:
    emulator = contact_center()
    async with wire_client(emulator) as wire:
        first = await wire.get(f"{TWILIO}.json?PageSize=2")
        second = await wire.get(first.json()["next_page_uri"])
    spec_fields = set(SCHEMAS[PAGE_SCHEMA]["properties"])
    for answer in (first, second):
        page = decode_participant_page(answer.content)
        body = answer.json()
        for name in spec_fields - {"participants"}:
            assert getattr(page, name) == body[name], name
    page = decode_participant_page(second.content)
    assert (page.page, page.page_size, page.start, page.end) == (1, 2, 2, 2)
    assert [p.call_sid for p in page.participants] == [SUPERVISOR]
    assert page.next_page_uri is None
    assert page.previous_page_uri is not None
    assert page.first_page_uri == f"{TWILIO}.json?PageSize=2&Page=0"


# --- error codes ----------------------------------------------------------------------


async def test_a_participant_who_left_is_a_not_found_error_with_code_20404(
    anyio_backend: str,
) -> None:
    emulator = contact_center()
    async with client_for(emulator) as client:
        customer = client.conferences(CONFERENCE).participants(CUSTOMER)
        await customer.delete()
        for attempt in (customer.fetch, customer.mute, customer.delete):
            with pytest.raises(NotFoundError) as caught:
                await attempt()
            error = caught.value
            assert (error.status, error.code) == (404, 20404)
            assert error.more_info == "https://www.twilio.com/docs/errors/20404"


async def test_an_ended_conference_answers_16099_and_lists_nobody(anyio_backend: str) -> None:
    emulator = contact_center()
    emulator.end_conference(CONFERENCE)
    async with client_for(emulator) as client:
        room = client.conferences(CONFERENCE).participants
        for attempt in (room(AGENT).fetch, room(AGENT).mute, room("customer").delete):
            with pytest.raises(BadRequestError) as caught:
                await attempt()
            assert (caught.value.status, caught.value.code) == (400, 16099)
        assert await room.list() == []
    assert emulator.participants(CONFERENCE) == []
    with pytest.raises(ValueError, match="ended"):
        emulator.add_participant(CONFERENCE, "CA" + "d" * 32)
    with pytest.raises(KeyError):
        emulator.end_conference("CFunknown")


async def test_removing_a_participant_with_end_conference_on_exit_ends_the_conference() -> None:
    emulator = contact_center()
    async with wire_client(emulator) as wire:
        await wire.post(f"{TWILIO}/{AGENT}.json", data={"EndConferenceOnExit": "true"})
        assert (await wire.delete(f"{TWILIO}/{CUSTOMER}.json")).status_code == 204
        assert len(emulator.participants(CONFERENCE)) == 2  # an ordinary exit
        assert (await wire.delete(f"{TWILIO}/{AGENT}.json")).status_code == 204
        after = await wire.post(f"{TWILIO}/{SUPERVISOR}.json", data={"Muted": "true"})
    assert (after.status_code, after.json()["code"]) == (400, 16099)
    assert emulator.participants(CONFERENCE) == []


async def test_coaching_a_call_not_in_the_conference_is_16028(anyio_backend: str) -> None:
    emulator = contact_center()
    async with client_for(emulator) as client:
        with pytest.raises(BadRequestError) as caught:
            await client.conferences(CONFERENCE).participants(SUPERVISOR).coach("CA" + "f" * 32)
    assert (caught.value.status, caught.value.code) == (400, 16028)
    assert "not present in the conference" in caught.value.message
    assert emulator.participant(CONFERENCE, SUPERVISOR).coaching is False
