from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest

from aioparticipant import Participant
from aioparticipant._models import decode_participant, decode_participant_page

SPEC = Path(__file__).parent / "data" / "spec"
ACCOUNT = "b3877c40-da60-4998-90ad-b792e98472af"
CALL = "b3877c40-da60-4998-90ad-b792e98472ca"
CONFERENCE = "b3877c40-da60-4998-90ad-b792e98472pa"  # not a valid UUID: sids are opaque
URI = f"/api/laml/2010-04-01/Accounts/{ACCOUNT}/Conferences/{CONFERENCE}/Participants/{CALL}.json"
CREATED = datetime(2018, 9, 24, 21, 0, tzinfo=timezone.utc)
UPDATED = datetime(2018, 9, 25, 20, 0, tzinfo=timezone.utc)
COACHED = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"

COMMON = {
    "account_sid": ACCOUNT,
    "call_sid": CALL,
    "conference_sid": CONFERENCE,
    "label": None,
    "date_created": CREATED,
    "date_updated": UPDATED,
    "end_conference_on_exit": False,
    "status": "complete",
    "start_conference_on_enter": True,
    "queue_time": None,
    "uri": URI,
}

EXPECTED = {
    "coach": {"muted": False, "hold": False, "coaching": True, "call_sid_to_coach": COACHED, "hold_url": None},
    "monitor": {"muted": True, "hold": False, "coaching": True, "call_sid_to_coach": COACHED, "hold_url": None},
    # Barge's body has no call_sid_to_coach at all: fields come and go.
    "barge": {"muted": False, "hold": False, "coaching": False, "call_sid_to_coach": None, "hold_url": None},
    "mute": {"muted": True, "hold": False, "coaching": False, "call_sid_to_coach": COACHED, "hold_url": None},
    # Hold's body has hold_url but no coaching keys.
    "hold": {"muted": False, "hold": True, "coaching": None, "call_sid_to_coach": None,
             "hold_url": "http://www.your-application.com/hold"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_spec_response_decodes_field_by_field(name: str) -> None:
    participant = decode_participant((SPEC / f"{name}.json").read_bytes())
    expected = {**COMMON, **EXPECTED[name]}
    assert msgspec.structs.asdict(participant) == expected


def test_dates_keep_the_offset_sent() -> None:
    participant = decode_participant(b'{"date_created": "Mon, 24 Sept 2018 21:00:00 -0700"}')
    assert participant.date_created is not None
    assert participant.date_created.utcoffset() is not None
    assert participant.date_created.isoformat() == "2018-09-24T21:00:00-07:00"


def test_missing_null_and_unknown_fields_are_tolerated() -> None:
    participant = decode_participant(
        b'{"call_sid": "CA1", "muted": null, "brand_new_field": {"x": [1]}, "api_version": "2010-04-01"}'
    )
    assert participant == Participant(call_sid="CA1")


def test_status_is_an_open_string_and_queue_time_a_string() -> None:
    participant = decode_participant(b'{"status": "in-progress", "queue_time": 1250}')
    assert participant.status == "in-progress"
    assert participant.queue_time == "1250"
    assert decode_participant(b'{"queue_time": "0"}').queue_time == "0"


def test_a_garbled_date_becomes_none_not_a_failed_update() -> None:
    assert decode_participant(b'{"date_updated": "yesterday-ish", "muted": true}').muted is True


def test_string_booleans_are_read_leniently() -> None:
    assert decode_participant(b'{"muted": "true", "hold": "false"}').muted is True


def test_wrong_type_raises_a_decode_error() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_participant(b'{"muted": [1]}')
    with pytest.raises(msgspec.DecodeError):
        decode_participant(b"<html>502</html>")


def test_list_page_reads_participants_key_and_ignores_signalwire_extras() -> None:
    body = (
        b'{"participants": [{"call_sid": "CA1", "muted": true}, {"call_sid": "CA2"}],'
        b' "next_page_uri": "/api/laml/2010-04-01/Accounts/A/Conferences/C/Participants.json?Page=1",'
        b' "page": 0, "page_size": 2, "start": 0, "end": 1, "first_page_uri": "/x", "previous_page_uri": null}'
    )
    page = decode_participant_page(body)
    assert [p.call_sid for p in page.participants] == ["CA1", "CA2"]
    assert page.participants[0].muted is True
    assert page.next_page_uri is not None
    assert page.next_page_uri.endswith("Page=1")
    assert page.page_size == 2


def test_empty_page_and_empty_next_uri() -> None:
    page = decode_participant_page(b'{"participants": [], "next_page_uri": ""}')
    assert page.participants == []
    assert page.next_page_uri is None


def test_participant_is_frozen() -> None:
    participant = Participant(call_sid="CA1")
    with pytest.raises(AttributeError):
        participant.call_sid = "CA2"  # type: ignore[misc]
