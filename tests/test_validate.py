"""The shared argument checks: each names the parameter and refuses look-alikes."""

from __future__ import annotations

import math

import pytest

from aioparticipant import InvalidParameterError
from aioparticipant._lanes import check_priority
from aioparticipant._validate import (
    check_bool,
    check_fraction,
    check_int,
    check_positive_number,
    check_seconds,
    has_control_characters,
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
    assert check_fraction("error_rate", 0) == 0.0
    assert check_priority("bulk") == "bulk"
    assert check_priority("interactive") == "interactive"


def test_control_characters_and_lone_surrogates_are_found() -> None:
    assert has_control_characters("a\nb")
    assert has_control_characters("\x7f")
    assert has_control_characters("\ud800")
    assert not has_control_characters("CA 1 é")
