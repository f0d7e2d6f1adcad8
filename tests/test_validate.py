"""The shared argument checks: each names the parameter and refuses look-alikes."""

from __future__ import annotations

import math

import pytest

from aioparticipant import InvalidParameterError
from aioparticipant._lanes import check_priority
from aioparticipant._validate import (
    callback_method,
    check_basic_auth_user,
    check_bool,
    check_fraction,
    check_int,
    check_positive_number,
    check_rate,
    check_seconds,
    check_text,
    describe_character,
    has_control_characters,
    is_absolute_http_url,
)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: check_bool("flag", v), 1),
        (lambda v: check_bool("flag", v), "true"),
        (lambda v: check_positive_number("flag", v), 0),
        (lambda v: check_positive_number("flag", v), -1.5),
        (lambda v: check_positive_number("flag", v), math.inf),
        (lambda v: check_positive_number("flag", v), math.nan),
        (lambda v: check_positive_number("flag", v), True),
        (lambda v: check_positive_number("flag", v), "5"),
        (lambda v: check_seconds("flag", v), -0.1),
        (lambda v: check_seconds("flag", v), math.nan),
        (lambda v: check_seconds("flag", v, allow_zero=False), 0),
        (lambda v: check_int("flag", v, minimum=1), 0),
        (lambda v: check_int("flag", v, minimum=0), 1.0),
        (lambda v: check_int("flag", v, minimum=0), False),
        (lambda v: check_int("flag", v, minimum=1, maximum=10), 11),
        (lambda v: check_rate("flag", v), 0),
        (lambda v: check_text("flag", v), ""),
        (lambda v: check_text("flag", v), None),
        (lambda v: check_fraction("flag", v), 1.01),
        (lambda v: check_fraction("flag", v), None),
        (lambda v: check_priority(v, "flag"), "urgent"),
        (lambda v: check_priority(v, "flag"), None),
    ],
)
def test_refusals_name_the_parameter(check: object, value: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check(value)  # type: ignore[operator]
    assert caught.value.parameter == "flag"
    assert str(caught.value).startswith("flag must be")
    assert isinstance(caught.value, ValueError)


def test_accepted_values_come_back_normalised() -> None:
    assert check_bool("flag", False) is False
    assert check_positive_number("rate", 5) == 5.0
    assert isinstance(check_positive_number("rate", 5), float)
    assert check_seconds("wait", 0) == 0.0
    assert check_seconds("wait", 2, allow_zero=False) == 2.0
    assert check_int("burst", 3, minimum=1) == 3
    assert check_int("page_size", 1000, minimum=1, maximum=1000) == 1000
    assert check_rate("rate", 2) == 2.0
    assert check_text("key", "k") == "k"
    assert check_basic_auth_user("project_id", "PJ1") == "PJ1"
    assert check_fraction("error_rate", 0) == 0.0
    assert check_priority("bulk") == "bulk"
    assert check_priority("interactive") == "interactive"


def test_control_characters_and_lone_surrogates_are_found() -> None:
    assert has_control_characters("a\nb")
    assert has_control_characters("\x7f")
    assert has_control_characters("\ud800")
    assert not has_control_characters("CA 1 é")


def test_control_characters_are_unicodes_cc_including_c1() -> None:
    assert has_control_characters("\x85")  # NEL, a C1 control
    assert has_control_characters("\x9f")
    assert not has_control_characters("\xa0")  # NO-BREAK SPACE is not a control


def test_a_refusal_shows_the_value_short_and_its_type() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check_int("burst", "x" * 500, minimum=1)
    message = str(caught.value)
    assert message.endswith("... (str)")
    assert len(message) < 120
    with pytest.raises(InvalidParameterError, match=r"\(or an httpx.Timeout\), got 0 \(int\)"):
        check_seconds("timeout", 0, allow_zero=False, hint="or an httpx.Timeout")


def test_a_text_refusal_never_echoes_the_value() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check_text("token", "", what="a non-empty token")
    assert str(caught.value) == "token must be a non-empty token"
    with pytest.raises(InvalidParameterError, match="Basic-auth user name") as caught:
        check_basic_auth_user("project_id", "user:secret")
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("char", "described"),
    [
        ("\n", "the control character U+000A"),
        ("\x85", "the control character U+0085"),
        ("\ud800", "the lone surrogate U+D800"),
        ("/", "'/'"),
    ],
)
def test_characters_are_named_by_code_point(char: str, described: str) -> None:
    assert describe_character(char) == described


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("https://example.com/music.xml", True),
        ("HTTP://example.com", True),
        ("/music.xml", False),
        ("ftp://example.com/x", False),
        ("https://", False),
        ("http://[::1", False),
    ],
)
def test_callback_urls_must_be_absolute_http(url: str, absolute: bool) -> None:
    assert is_absolute_http_url(url) is absolute


def test_callback_methods_are_get_or_post_in_any_case() -> None:
    assert callback_method("post") == "POST"
    assert callback_method("Get") == "GET"
    assert callback_method("PUT") is None
