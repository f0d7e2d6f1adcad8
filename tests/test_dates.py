from datetime import datetime, timedelta, timezone

import pytest

from aioparticipant._dates import format_rfc2822, parse_rfc2822


def test_spec_page_sept_spelling_parses_with_utc_offset() -> None:
    parsed = parse_rfc2822("Mon, 24 Sept 2018 21:00:00 +0000")
    assert parsed == datetime(2018, 9, 24, 21, 0, tzinfo=timezone.utc)
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("Tue, 25 Sep 2018 20:00:00 -0500", timedelta(hours=-5)),
        ("Tue, 25 Sep 2018 20:00:00 +0530", timedelta(hours=5, minutes=30)),
        ("25 Sep 2018 20:00:00 GMT", timedelta(0)),
        ("Tue, 25 Sep 2018 20:00 EDT", timedelta(hours=-4)),
    ],
)
def test_offset_is_kept_as_sent(text: str, offset: timedelta) -> None:
    parsed = parse_rfc2822(text)
    assert parsed is not None
    assert parsed.utcoffset() == offset
    assert (parsed.year, parsed.month, parsed.day, parsed.hour) == (2018, 9, 25, 20)


@pytest.mark.parametrize(
    "text",
    [
        "24 September 2018 21:00:00 +0000",
        "Mon, 24 Sep. 2018 21:00:00 +0000",
        "mon, 24 SEPT 2018 21:00:00 +0000",
    ],
)
def test_long_dotted_and_cased_months(text: str) -> None:
    assert parse_rfc2822(text) == datetime(2018, 9, 24, 21, tzinfo=timezone.utc)


def test_iso_8601_is_accepted_as_a_fallback() -> None:
    assert parse_rfc2822("2018-09-24T21:00:00Z") == datetime(2018, 9, 24, 21, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "Mon, 31 Feb 2018 21:00:00 +0000",
        "Mon, 24 Foo 2018 21:00:00 +0000",
        "Mon, 24 Sep 2018 25:00:00 +0000",
        "Mon, 24 Sep 2018 21:00:00 +0099",
        "Mon, 24 Sep 2018 21:00:00 XYZ",
        "\x00",
        "24 Sep 99999 21:00:00",
    ],
)
def test_garbage_gives_none_instead_of_raising(text: str) -> None:
    assert parse_rfc2822(text) is None


def test_format_uses_standard_sep_and_round_trips() -> None:
    value = datetime(2018, 9, 24, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    text = format_rfc2822(value)
    assert text == "Mon, 24 Sep 2018 21:00:00 -0500"
    assert parse_rfc2822(text) == value


def test_format_treats_naive_as_utc() -> None:
    assert format_rfc2822(datetime(2018, 9, 24, 21, 0)).endswith("+0000")
