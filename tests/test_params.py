from urllib.parse import unquote

import pytest

from aioparticipant import InvalidParameterError
from aioparticipant._params import (
    UPDATE_PARAMETERS,
    encode_list_filters,
    encode_path_segment,
    encode_update,
    validate_sid,
)

WIRE = {
    "muted": "Muted",
    "hold": "Hold",
    "hold_url": "HoldUrl",
    "hold_method": "HoldMethod",
    "announce_url": "AnnounceUrl",
    "announce_method": "AnnounceMethod",
    "coaching": "Coaching",
    "call_sid_to_coach": "CallSidToCoach",
    "beep": "Beep",
    "wait_url": "WaitUrl",
    "wait_method": "WaitMethod",
    "beep_on_exit": "BeepOnExit",
    "end_conference_on_exit": "EndConferenceOnExit",
}


def test_all_thirteen_keywords_have_their_wire_names() -> None:
    assert {k: p.wire_name for k, p in UPDATE_PARAMETERS.items()} == WIRE


@pytest.mark.parametrize(
    "keyword", [k for k, p in UPDATE_PARAMETERS.items() if p.kind.value == "bool"]
)
def test_booleans_are_sent_as_lowercase_words(keyword: str) -> None:
    extra = {"call_sid_to_coach": "CA9"} if keyword == "coaching" else {}
    assert encode_update({keyword: True, **extra})[WIRE[keyword]] == "true"
    assert encode_update({keyword: False}) == {WIRE[keyword]: "false"}


@pytest.mark.parametrize("value", [1, 0, "true", "True", None.__class__, 1.0])
def test_non_bool_where_bool_belongs_is_refused_with_the_fix(value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        encode_update({"muted": value})
    assert info.value.parameter == "muted"
    assert "muted=True" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_none_means_not_sent() -> None:
    assert encode_update({"muted": None, "hold": None, "hold_url": None}) == {}


def test_caller_order_is_kept_on_the_wire() -> None:
    form = encode_update(
        {"muted": False, "coaching": True, "beep": False, "call_sid_to_coach": "CA9"}
    )
    assert list(form.items()) == [
        ("Muted", "false"),
        ("Coaching", "true"),
        ("Beep", "false"),
        ("CallSidToCoach", "CA9"),
    ]


@pytest.mark.parametrize("keyword", ["hold_method", "announce_method", "wait_method"])
@pytest.mark.parametrize(("given", "sent"), [("get", "GET"), ("Post", "POST"), ("POST", "POST")])
def test_methods_in_any_case_are_sent_upper_case(keyword: str, given: str, sent: str) -> None:
    assert encode_update({keyword: given}) == {WIRE[keyword]: sent}


@pytest.mark.parametrize("value", ["PUT", "", "GETX", " GET", 1])
def test_other_methods_are_refused(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="hold_method"):
        encode_update({"hold_method": value})


@pytest.mark.parametrize("keyword", ["hold_url", "announce_url", "wait_url"])
@pytest.mark.parametrize(
    "url",
    [
        "http://www.your-application.com/hold",
        "https://example.com/a b?x=1&y=%20#frag",
        "HTTPS://EX.COM",
    ],
)
def test_urls_are_sent_as_given(keyword: str, url: str) -> None:
    assert encode_update({keyword: url}) == {WIRE[keyword]: url}


@pytest.mark.parametrize("keyword", ["hold_url", "announce_url", "wait_url"])
@pytest.mark.parametrize(
    "url",
    [
        "/hold.xml",
        "hold.xml",
        "ftp://example.com/x",
        "javascript:alert(1)",
        "https://",
        "http://[::1",
    ],
)
def test_relative_or_non_http_urls_are_refused(keyword: str, url: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        encode_update({keyword: url})
    assert info.value.parameter == keyword
    assert "absolute http(s) URL" in str(info.value)


@pytest.mark.parametrize(
    ("keyword", "wire"),
    [("wait_url", "WaitUrl"), ("hold_url", "HoldUrl"), ("call_sid_to_coach", "CallSidToCoach")],
)
def test_empty_string_is_a_value_where_it_means_something(keyword: str, wire: str) -> None:
    assert encode_update({keyword: ""}) == {wire: ""}


def test_empty_announce_url_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="announce_url cannot be empty"):
        encode_update({"announce_url": ""})


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x7f", "\x85", "\t"])
@pytest.mark.parametrize("keyword", ["hold_url", "hold_method", "call_sid_to_coach"])
def test_control_characters_are_refused_in_any_value(keyword: str, char: str) -> None:
    value = {
        "hold_url": f"https://e.com/{char}x",
        "hold_method": f"GET{char}",
        "call_sid_to_coach": f"CA{char}1",
    }
    with pytest.raises(InvalidParameterError) as info:
        encode_update({keyword: value[keyword]})
    assert info.value.parameter == keyword


def test_coaching_true_needs_a_call_to_coach() -> None:
    for params in ({"coaching": True}, {"coaching": True, "call_sid_to_coach": ""}):
        with pytest.raises(InvalidParameterError, match="coaching=True needs call_sid_to_coach"):
            encode_update(params)
    assert encode_update({"coaching": False}) == {"Coaching": "false"}


@pytest.mark.parametrize(
    ("given", "meant"),
    [("callSidToCoach", "call_sid_to_coach"), ("CallSidToCoach", "call_sid_to_coach"),
     ("holdUrl", "hold_url"), ("mute", "muted"), ("endConferenceOnExit", "end_conference_on_exit")],
)  # fmt: skip
def test_unknown_keywords_are_a_type_error_naming_the_meant_one(given: str, meant: str) -> None:
    with pytest.raises(TypeError, match=f"did you mean '{meant}'"):
        encode_update({given: True})


def test_unrelated_unknown_keyword_lists_the_known_ones() -> None:
    with pytest.raises(TypeError, match="expected one of: muted, hold"):
        encode_update({"zzz": True})


@pytest.mark.parametrize(
    "sid", ["", ".", "..", "CA/1", "..%2F", "a\\b", "CA?x", "CA#x", "CA\n", "CA\x00", "\x7f"]
)
def test_bad_sids_are_refused(sid: str) -> None:
    if sid == "..%2F":
        # Not refused: '%' is just a character, and it gets encoded so it stays one.
        assert encode_path_segment("call_sid", sid) == "..%252F"
        return
    with pytest.raises(InvalidParameterError) as info:
        validate_sid("call_sid", sid)
    assert info.value.parameter == "call_sid"


def test_non_string_sid_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="call_sid must be a str"):
        validate_sid("call_sid", 123)


@pytest.mark.parametrize(
    ("sid", "segment"),
    [("CA123", "CA123"), ("agent 7", "agent%207"), ("b3877c40-da60-4998-90ad-b792e98472pa", "b3877c40-da60-4998-90ad-b792e98472pa"),
     ("100%", "100%25"), ("é", "%C3%A9"), ("a+b&c=d;e", "a%2Bb%26c%3Dd%3Be"), ("...", "...")],
)  # fmt: skip
def test_sids_are_percent_encoded_into_one_segment(sid: str, segment: str) -> None:
    assert encode_path_segment("call_sid", sid) == segment
    assert unquote(segment) == sid


def test_list_filters() -> None:
    assert encode_list_filters(
        {"muted": True, "hold": False, "coaching": None, "page_size": 50}
    ) == {
        "Muted": "true",
        "Hold": "false",
        "PageSize": "50",
    }
    with pytest.raises(TypeError, match="did you mean 'page_size'"):
        encode_list_filters({"pageSize": 5})
    for bad in (0, 1001, True, "5"):
        with pytest.raises(InvalidParameterError, match="page_size"):
            encode_list_filters({"page_size": bad})
