"""The emulator on the wire, in process: what the real API does, status by status."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from aioparticipant import InvalidParameterError
from aioparticipant.emulator import ConnectionDropped, Emulator

pytestmark = pytest.mark.anyio

ACCOUNT = "emulator-project"
SIGNALWIRE = f"/api/laml/2010-04-01/Accounts/{ACCOUNT}/Conferences"
TWILIO = f"/2010-04-01/Accounts/{ACCOUNT}/Conferences"
#: The keys of the spec page's 200 responses.
SPEC_KEYS = {
    "account_sid",
    "call_sid",
    "conference_sid",
    "date_created",
    "date_updated",
    "end_conference_on_exit",
    "muted",
    "hold",
    "hold_url",
    "status",
    "start_conference_on_enter",
    "coaching",
    "call_sid_to_coach",
    "uri",
}
TWILIO_KEYS = {"label", "queue_time"}


def participant_path(
    conference: str = "CF1", call: str = "CA1", *, prefix: str = SIGNALWIRE
) -> str:
    return f"{prefix}/{conference}/Participants/{call}.json"


def seeded(**options: Any) -> Emulator:
    emulator = Emulator(**options)
    for call in ("CA1", "CA2", "CA3"):
        emulator.add_participant("CF1", call)
    emulator.add_participant("CF2", "CA9")
    return emulator


@pytest.fixture
def emu() -> Emulator:
    return seeded()


@pytest.fixture
async def wire(emu: Emulator, anyio_backend: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _wire_client(emu) as client:
        yield client


def _wire_client(emulator: Emulator, auth: tuple[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator),
        base_url="http://127.0.0.1",
        auth=auth or (emulator.project_id, emulator.token),
    )


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


# --- updates ------------------------------------------------------------------


async def test_update_persists_and_comes_back_in_the_response(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    before = emu.participant("CF1", "CA1")
    response = await wire.post(
        participant_path(),
        data={"Muted": "true", "Hold": "true", "HoldUrl": "http://www.your-application.com/hold"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["muted"], body["hold"]) == (True, True)
    assert body["hold_url"] == "http://www.your-application.com/hold"
    after = emu.participant("CF1", "CA1")
    assert (after.muted, after.hold, after.hold_url) == (True, True, body["hold_url"])
    assert after.date_updated is not None
    assert before.date_updated is not None
    assert after.date_updated >= before.date_updated
    fetched = (await wire.get(participant_path())).json()
    assert fetched == body


@pytest.mark.parametrize(("sent", "expected"), [("True", True), ("TRUE", True), ("False", False)])
async def test_booleans_are_read_case_insensitively(
    emu: Emulator, wire: httpx.AsyncClient, sent: str, expected: bool
) -> None:
    emu.add_participant("CF3", "CA1", muted=not expected)
    response = await wire.post(participant_path("CF3"), data={"Muted": sent})
    assert response.status_code == 200
    assert response.json()["muted"] is expected
    assert emu.participant("CF3", "CA1").muted is expected


@pytest.mark.parametrize("prefix", [SIGNALWIRE, TWILIO])
@pytest.mark.parametrize("suffix", [".json", ""])
async def test_both_prefixes_with_and_without_json_suffix(
    wire: httpx.AsyncClient, prefix: str, suffix: str
) -> None:
    participant = f"{prefix}/CF1/Participants/CA2{suffix}"
    response = await wire.post(participant, data={"Muted": "true"})
    assert response.status_code == 200
    # The uri names the same prefix the request used, always with .json.
    assert response.json()["uri"] == f"{prefix}/CF1/Participants/CA2.json"
    listing = await wire.get(f"{prefix}/CF1/Participants{suffix}")
    assert listing.status_code == 200
    assert [p["call_sid"] for p in listing.json()["participants"]] == ["CA1", "CA2", "CA3"]


async def test_participant_json_has_the_spec_page_keys_and_standard_dates(
    wire: httpx.AsyncClient,
) -> None:
    body = (await wire.get(participant_path())).json()
    assert set(body) >= SPEC_KEYS | TWILIO_KEYS
    assert body["uri"].endswith("/Participants/CA1.json")
    for name in ("date_created", "date_updated"):
        # The standard library parses it, so every SDK does: "Sep", never "Sept".
        parsed = email.utils.parsedate_to_datetime(body[name])
        assert parsed.tzinfo is not None
        assert abs(parsed.timestamp() - time.time()) < 60
        assert body[name].endswith("+0000")


async def test_seeded_dates_go_out_in_standard_rfc2822_in_gmt() -> None:
    emulator = Emulator()
    emulator.add_participants(
        [
            {
                "conference_sid": "CF1",
                "call_sid": "CA1",
                "date_created": "Mon, 24 Sept 2018 23:00:00 +0200",
            }
        ]
    )
    async with _wire_client(emulator) as wire:
        body = (await wire.get(participant_path())).json()
    assert body["date_created"] == "Mon, 24 Sep 2018 21:00:00 +0000"
    # Omitted dates are stamped now: created in 2018, last updated when seeded.
    updated = email.utils.parsedate_to_datetime(body["date_updated"])
    assert abs(time.time() - updated.timestamp()) < 60
    assert body["date_updated"].endswith(" +0000")


async def test_an_empty_hold_url_means_no_music_and_unhold_stops_it(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    await wire.post(participant_path(), data={"Hold": "true", "HoldUrl": "https://m.example/h"})
    assert emu.participant("CF1", "CA1").hold_url == "https://m.example/h"
    await wire.post(participant_path(), data={"Hold": "false"})
    assert (emu.participant("CF1", "CA1").hold, emu.participant("CF1", "CA1").hold_url) == (
        False,
        None,
    )
    response = await wire.post(participant_path(), data={"Hold": "true", "HoldUrl": ""})
    assert response.status_code == 200
    assert response.json()["hold_url"] is None


async def test_unknown_parameters_are_ignored_like_the_real_api(wire: httpx.AsyncClient) -> None:
    response = await wire.post(participant_path(), data={"Muted": "true", "Whatever": "x"})
    assert response.status_code == 200


# --- invalid values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"Muted": "yes"}, 20001),
        ({"Hold": ""}, 20001),
        ({"HoldMethod": "PUT"}, 20001),
        ({"HoldUrl": "/relative/music.xml"}, 21205),
        ({"AnnounceUrl": "ftp://example.com/a.mp3"}, 21205),
        ({"AnnounceUrl": ""}, 21205),
        ({"WaitUrl": "not a url"}, 21205),
        ({"EndConferenceOnExit": "1"}, 20001),
        ({"Muted": "true", "CallSidToCoach": "bad\x01sid"}, 20001),
    ],
)
async def test_invalid_values_are_400_with_a_twilio_body_and_change_nothing(
    emu: Emulator, wire: httpx.AsyncClient, form: dict[str, str], code: int
) -> None:
    before = emu.participant("CF1", "CA1")
    response = await wire.post(participant_path(), data={"Muted": "true", **form})
    assert_twilio_error(response, 400, code)
    assert emu.participant("CF1", "CA1") == before


async def test_a_body_that_is_not_utf8_is_400(wire: httpx.AsyncClient) -> None:
    response = await wire.post(
        participant_path(),
        content=b"Muted=\xff",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_twilio_error(response, 400, 20001)


# --- coaching -------------------------------------------------------------------


async def test_monitor_coach_barge_moves_the_supervisor_through_the_states(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    supervisor = participant_path(call="CA3")
    monitor = {"Muted": "True", "Coaching": "True", "Beep": "False", "CallSidToCoach": "CA1"}
    body = (await wire.post(supervisor, data=monitor)).json()
    assert (body["muted"], body["coaching"], body["call_sid_to_coach"]) == (True, True, "CA1")
    coach = {"Muted": "False", "Coaching": "True", "CallSidToCoach": "CA1"}
    body = (await wire.post(supervisor, data=coach)).json()
    assert (body["muted"], body["coaching"], body["call_sid_to_coach"]) == (False, True, "CA1")
    body = (await wire.post(supervisor, data={"Muted": "False", "Coaching": "False"})).json()
    assert (body["muted"], body["coaching"], body["call_sid_to_coach"]) == (False, False, None)
    state = emu.participant("CF1", "CA3")
    assert (state.coaching, state.call_sid_to_coach) == (False, None)


@pytest.mark.parametrize(
    ("form", "code", "fragment"),
    [
        ({"Coaching": "true"}, 20001, "required"),
        ({"Coaching": "true", "CallSidToCoach": ""}, 20001, "required"),
        ({"Coaching": "true", "CallSidToCoach": "CA3"}, 20001, "itself"),
        # Twilio's 16028: "Participant to be whispered is not present in the conference".
        ({"Coaching": "true", "CallSidToCoach": "CA9"}, 16028, "not present"),  # in CF2
        ({"CallSidToCoach": "CA404"}, 16028, "not present"),
    ],
)
async def test_coaching_needs_another_participant_of_the_same_conference(
    emu: Emulator, wire: httpx.AsyncClient, form: dict[str, str], code: int, fragment: str
) -> None:
    response = await wire.post(participant_path(call="CA3"), data=form)
    body = assert_twilio_error(response, 400, code)
    assert fragment in body["message"]
    assert emu.participant("CF1", "CA3").coaching is False


async def test_call_sid_to_coach_alone_starts_coaching_and_empty_stops_it(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    body = (await wire.post(participant_path(call="CA3"), data={"CallSidToCoach": "CA1"})).json()
    assert (body["coaching"], body["call_sid_to_coach"]) == (True, "CA1")
    body = (await wire.post(participant_path(call="CA3"), data={"CallSidToCoach": ""})).json()
    assert (body["coaching"], body["call_sid_to_coach"]) == (False, None)


# --- not found, auth, methods -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        participant_path("CF404", "CA1"),
        participant_path("CF1", "CA404"),
        participant_path("CF2", "CA1"),  # CA1 exists, but in CF1
        f"{SIGNALWIRE}/CF404/Participants.json",
        "/api/laml/2010-04-01/Accounts/someone-else/Conferences/CF1/Participants/CA1.json",
        "/api/laml/2010-04-01/Accounts/emulator-project/Calls.json",
        "/nothing/here",
    ],
)
async def test_unknown_resources_are_404_with_code_20404(
    wire: httpx.AsyncClient, path: str
) -> None:
    for method in ("GET", "POST") if "Participants/" in path else ("GET",):
        response = await wire.request(
            method, path, data={"Muted": "true"} if method == "POST" else None
        )
        assert_twilio_error(response, 404, 20404)


@pytest.mark.parametrize(
    "auth",
    [("emulator-project", "wrong-token"), ("someone", "emulator-token"), None],
)
async def test_bad_credentials_are_401_with_code_20003(
    emu: Emulator, auth: tuple[str, str] | None
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu), base_url="http://127.0.0.1", auth=auth
    ) as client:
        response = await client.post(participant_path(), data={"Muted": "true"})
    assert_twilio_error(response, 401, 20003)
    assert response.headers["www-authenticate"].startswith("Basic")
    assert emu.participant("CF1", "CA1").muted is False


async def test_a_method_the_resource_does_not_have_is_405(wire: httpx.AsyncClient) -> None:
    response = await wire.put(participant_path(), data={"Muted": "true"})
    assert_twilio_error(response, 405, 20004)
    assert "POST" in response.headers["allow"]


async def test_every_answer_carries_a_request_id(wire: httpx.AsyncClient) -> None:
    first = await wire.get(participant_path())
    second = await wire.get(participant_path("CF404"))
    ids = {first.headers["twilio-request-id"], second.headers["twilio-request-id"]}
    assert len(ids) == 2
    assert all(value.startswith("RQ") for value in ids)


async def test_sids_are_decoded_one_path_segment_at_a_time(emu: Emulator) -> None:
    emu.add_participant("CF 1", "a/b", label="a/b")
    emu.add_participant("CF 1", "agent smith")
    async with _wire_client(emu) as wire:
        slash = await wire.post(
            f"{SIGNALWIRE}/CF%201/Participants/a%2Fb.json", data={"Muted": "true"}
        )
        space = await wire.get(f"{SIGNALWIRE}/CF%201/Participants/agent%20smith.json")
    assert slash.status_code == 200
    assert slash.json()["uri"] == f"{SIGNALWIRE}/CF%201/Participants/a%2Fb.json"
    assert emu.participant("CF 1", "a/b").muted is True
    assert space.json()["call_sid"] == "agent smith"


# --- delete -----------------------------------------------------------------------


async def test_delete_is_204_and_later_calls_are_404(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    response = await wire.delete(participant_path(call="CA2"))
    assert response.status_code == 204
    assert response.content == b""
    with pytest.raises(KeyError):
        emu.participant("CF1", "CA2")
    assert_twilio_error(await wire.get(participant_path(call="CA2")), 404, 20404)
    assert_twilio_error(await wire.delete(participant_path(call="CA2")), 404, 20404)
    listing = (await wire.get(f"{SIGNALWIRE}/CF1/Participants.json")).json()
    assert [p["call_sid"] for p in listing["participants"]] == ["CA1", "CA3"]


async def test_a_conference_stays_listable_after_everyone_left(wire: httpx.AsyncClient) -> None:
    assert (await wire.delete(participant_path("CF2", "CA9"))).status_code == 204
    listing = await wire.get(f"{SIGNALWIRE}/CF2/Participants.json")
    assert listing.status_code == 200
    assert listing.json()["participants"] == []


# --- paging -----------------------------------------------------------------------


async def test_a_page_has_twilios_shape_plus_extra_keys(wire: httpx.AsyncClient) -> None:
    page = (await wire.get(f"{SIGNALWIRE}/CF1/Participants.json", params={"PageSize": 2})).json()
    assert len(page["participants"]) == 2
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["uri"] == f"{SIGNALWIRE}/CF1/Participants.json?PageSize=2&Page=0"
    assert page["first_page_uri"] == page["uri"]
    assert page["previous_page_uri"] is None
    assert "PageToken=PA" in page["next_page_uri"]
    # Extra top-level keys, as SignalWire's pages carry: clients must ignore them.
    assert (page["total"], page["num_pages"]) == (3, 2)
    assert set(page["participants"][0]) >= SPEC_KEYS


async def test_paging_neither_skips_nor_repeats_when_participants_leave(emu: Emulator) -> None:
    for number in range(10):
        emu.add_participant("CF7", f"CA{number:02}")
    seen: list[str] = []
    async with _wire_client(emu) as wire:
        uri: str | None = f"{SIGNALWIRE}/CF7/Participants.json?PageSize=3"
        for _ in range(10):  # at most 10 pages
            if uri is None:
                break
            page = (await wire.get(uri)).json()
            seen += [p["call_sid"] for p in page["participants"]]
            if page["page"] == 0:
                # Someone already listed leaves before the next page is fetched.
                assert (await wire.delete(participant_path("CF7", "CA01"))).status_code == 204
            uri = page["next_page_uri"]
        assert uri is None
    assert seen == [f"CA{number:02}" for number in range(10)]


async def test_previous_page_uri_leads_back(wire: httpx.AsyncClient, emu: Emulator) -> None:
    for number in range(5):
        emu.add_participant("CF8", f"CA{number}")
    first = (await wire.get(f"{SIGNALWIRE}/CF8/Participants.json?PageSize=2")).json()
    second = (await wire.get(first["next_page_uri"])).json()
    assert [p["call_sid"] for p in second["participants"]] == ["CA2", "CA3"]
    back = (await wire.get(second["previous_page_uri"])).json()
    assert [p["call_sid"] for p in back["participants"]] == ["CA0", "CA1"]


async def test_page_without_token_is_an_offset(wire: httpx.AsyncClient, emu: Emulator) -> None:
    for number in range(5):
        emu.add_participant("CF8", f"CA{number}")
    page = (await wire.get(f"{TWILIO}/CF8/Participants.json?PageSize=2&Page=2")).json()
    assert [p["call_sid"] for p in page["participants"]] == ["CA4"]
    assert page["next_page_uri"] is None
    assert page["start"] == 4


async def test_list_filters_are_case_insensitive_booleans(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    await wire.post(participant_path(call="CA2"), data={"Muted": "true"})
    await wire.post(participant_path(call="CA3"), data={"CallSidToCoach": "CA1"})
    muted = (await wire.get(f"{SIGNALWIRE}/CF1/Participants.json?Muted=TRUE")).json()
    assert [p["call_sid"] for p in muted["participants"]] == ["CA2"]
    assert "Muted=true" in muted["first_page_uri"]
    coaching = (await wire.get(f"{SIGNALWIRE}/CF1/Participants.json?Coaching=true")).json()
    assert [p["call_sid"] for p in coaching["participants"]] == ["CA3"]
    not_held = (await wire.get(f"{SIGNALWIRE}/CF1/Participants.json?Hold=false")).json()
    assert len(not_held["participants"]) == 3


@pytest.mark.parametrize(
    "query", ["PageSize=0", "PageSize=1001", "PageSize=ten", "Page=-1", "PageToken=xyz", "Muted=1"]
)
async def test_bad_list_parameters_are_400(wire: httpx.AsyncClient, query: str) -> None:
    assert_twilio_error(await wire.get(f"{SIGNALWIRE}/CF1/Participants.json?{query}"), 400, 20001)


# --- announcements ----------------------------------------------------------------


async def test_every_announcement_delivery_is_counted_per_participant(
    emu: Emulator, wire: httpx.AsyncClient
) -> None:
    url = "https://example.com/announce.xml"
    await wire.post(participant_path(), data={"AnnounceUrl": url, "AnnounceMethod": "get"})
    await wire.post(participant_path(), data={"AnnounceUrl": url + "?2"})
    await wire.post(participant_path(call="CA2"), data={"Muted": "true"})
    assert emu.announcements("CF1", "CA1") == [url, url + "?2"]
    assert emu.announcements("CF1", "CA2") == []
    assert emu.stats.announcements == 2
    # Kept after the participant leaves, so a test can still count them.
    await wire.delete(participant_path())
    assert emu.announcements("CF1", "CA1") == [url, url + "?2"]


# --- rate limit and faults ----------------------------------------------------------


async def test_past_the_rate_limit_the_answer_is_429_with_retry_after_and_20429(
    anyio_backend: Any,
) -> None:
    emulator = seeded(rate_limit=3)
    async with _wire_client(emulator) as wire:
        statuses = [(await wire.get(participant_path())).status_code for _ in range(3)]
        limited = await wire.post(participant_path(), data={"Muted": "true"})
    assert statuses == [200, 200, 200]
    assert_twilio_error(limited, 429, 20429)
    assert int(limited.headers["retry-after"]) >= 1
    assert emulator.participant("CF1", "CA1").muted is False  # a 429 was not processed
    assert emulator.stats.rate_limited == 1


async def test_after_a_burst_the_window_admits_again_when_its_first_request_is_a_window_old(
    anyio_backend: Any,
) -> None:
    # 4/s over half a second: two requests per window (the clock is real, so it is short).
    emulator = seeded(rate_limit=4, rate_window=0.5)
    async with _wire_client(emulator) as wire:
        started = time.monotonic()
        assert [(await wire.get(participant_path())).status_code for _ in range(2)] == [200, 200]
        refused = await wire.get(participant_path())
        assert_twilio_error(refused, 429, 20429)
        assert refused.headers["retry-after"] == "1"  # 0.5 s, rounded up to whole seconds
        assert "2 requests per 0.5 seconds" in refused.json()["message"]
        # Not a token bucket: an eighth of a second refills nothing.
        await anyio.sleep(0.125)
        assert (await wire.get(participant_path())).status_code == 429
        await anyio.sleep(max(0.0, started + 0.5 - time.monotonic()) + 0.02)
        assert (await wire.get(participant_path())).status_code == 200
    assert emulator.stats.rate_limited == 2


async def test_injected_errors_are_5xx_and_apply_nothing(anyio_backend: Any) -> None:
    emulator = seeded(error_rate=1.0, seed=1)
    async with _wire_client(emulator) as wire:
        responses = [
            await wire.post(participant_path(), data={"AnnounceUrl": "https://a.example/x"})
            for _ in range(20)
        ]
    assert {r.status_code for r in responses} == {500, 503}
    for response in responses:
        assert response.json()["code"] in (20500, 20503)
    assert emulator.announcements("CF1", "CA1") == []
    assert emulator.stats.errors_injected == 20


async def test_a_dropped_connection_is_a_transport_error_in_process_after_the_work(
    anyio_backend: Any,
) -> None:
    emulator = seeded(drop_rate=1.0)
    async with _wire_client(emulator) as wire:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await wire.post(participant_path(), data={"Muted": "true"})
    assert isinstance(caught.value, ConnectionDropped)
    # The update was done; only its answer was lost on the way back.
    assert emulator.participant("CF1", "CA1").muted is True
    assert emulator.stats.connections_dropped == 1


async def _statuses(emulator: Emulator, count: int) -> list[int | str]:
    seen: list[int | str] = []
    async with _wire_client(emulator) as wire:
        for _ in range(count):
            try:
                seen.append((await wire.get(participant_path())).status_code)
            except httpx.RemoteProtocolError:
                seen.append("dropped")
    return seen


async def test_faults_are_reproducible_with_a_seed(anyio_backend: Any) -> None:
    options = {"error_rate": 0.3, "drop_rate": 0.2}
    first = await _statuses(seeded(seed=7, **options), 60)
    again = await _statuses(seeded(seed=7, **options), 60)
    other = await _statuses(seeded(seed=8, **options), 60)
    assert first == again
    assert first != other
    assert {200, "dropped"} <= set(first)
    assert set(first) & {500, 503}


async def test_latency_is_added_to_every_answer(anyio_backend: Any) -> None:
    emulator = seeded(latency=0.2)
    async with _wire_client(emulator) as wire:
        started = time.monotonic()
        await wire.get(participant_path())
        await wire.get(participant_path("CF404"))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.4


async def test_stats_count_what_was_done(emu: Emulator, wire: httpx.AsyncClient) -> None:
    await wire.get(participant_path())
    await wire.post(participant_path(), data={"Muted": "true"})
    await wire.get(f"{SIGNALWIRE}/CF1/Participants.json")
    await wire.delete(participant_path(call="CA3"))
    await wire.get(participant_path("CF404"))
    stats = emu.stats
    assert (stats.requests, stats.fetches, stats.updates, stats.lists, stats.deletes) == (
        5,
        1,
        1,
        1,
        1,
    )
    assert stats.statuses == {200: 3, 204: 1, 404: 1}


# --- seeding (no HTTP) -------------------------------------------------------------


def test_add_participant_takes_participant_fields_and_refuses_the_rest() -> None:
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1", label="agent", muted=True, queue_time=120)
    seeded_participant = emulator.participant("CF1", "CA1")
    assert (seeded_participant.label, seeded_participant.muted) == ("agent", True)
    assert seeded_participant.queue_time == "120"
    assert seeded_participant.account_sid == emulator.project_id
    with pytest.raises(ValueError, match="already"):
        emulator.add_participant("CF1", "CA1")
    with pytest.raises(TypeError, match="unexpected field 'mutedd'"):
        emulator.add_participant("CF1", "CA2", mutedd=True)
    with pytest.raises(TypeError, match="muted must be bool"):
        emulator.add_participant("CF1", "CA2", muted="yes")
    with pytest.raises(TypeError, match="the emulator sets it"):
        emulator.add_participant("CF1", "CA2", uri="/x")
    with pytest.raises(KeyError):
        emulator.participant("CF1", "CA2")


def test_load_participants_reads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "participants.json"
    rows = [
        {"conference_sid": "CF1", "call_sid": "CA1", "label": "agent"},
        {"conference_sid": "CF1", "call_sid": "CA2", "hold": True, "hold_url": "https://h/x"},
        {"conference_sid": "CF2", "call_sid": "CA3", "date_created": "2024-01-02T03:04:05Z"},
    ]
    path.write_text(json.dumps(rows))
    emulator = Emulator()
    assert emulator.load_participants(path) == 3
    assert emulator.conference_sids() == ["CF1", "CF2"]
    assert emulator.participant("CF1", "CA2").hold is True
    created = emulator.participant("CF2", "CA3").date_created
    assert created is not None
    assert created.year == 2024
    path.write_text(json.dumps([{"conference_sid": "CF1"}]))
    with pytest.raises(ValueError, match="call_sid"):
        Emulator().load_participants(path)


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"project_id": ""}, "project_id"),
        ({"project_id": "a:b"}, "project_id"),
        ({"token": None}, "token"),
        ({"latency": -1}, "latency"),
        ({"latency": float("nan")}, "latency"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"drop_rate": True}, "drop_rate"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "drop_rate"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": 10, "rate_window": 0}, "rate_window"),
    ],
)
def test_a_bad_option_is_an_invalid_parameter_error_naming_it(
    options: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        Emulator(**options)
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


def test_the_emulator_refuses_nonsense_options() -> None:
    with pytest.raises(ValueError):
        Emulator(error_rate=1.5)
    with pytest.raises(ValueError):
        Emulator(error_rate=0.6, drop_rate=0.6)
    with pytest.raises(ValueError):
        Emulator(rate_limit=0)
    with pytest.raises(ValueError):
        Emulator(latency=-1)
    with pytest.raises(ValueError):
        Emulator(project_id="a:b")


def test_repr_shows_the_project_but_not_the_token() -> None:
    emulator = Emulator(project_id="PJ1", token="s3cret-token")
    assert "PJ1" in repr(emulator)
    assert "s3cret" not in repr(emulator)
