"""The small argument checks every part of the library shares.

Each returns the checked value (normalised where that helps) or raises
``InvalidParameterError`` naming the parameter and saying what would do.
The client, the limiters, the emulator and the command line all use these,
so one rule reads the same everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Final

from ._exceptions import InvalidParameterError

__all__ = [
    "CONTROL_CHARACTERS",
    "check_bool",
    "check_fraction",
    "check_int",
    "check_positive_number",
    "check_seconds",
    "has_control_characters",
]

#: Control characters, and lone surrogates (which no header, URL or form can encode).
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character or a lone surrogate."""
    return CONTROL_CHARACTERS.search(text) is not None


def _number(value: object) -> float | None:
    """``value`` as a float if it is an int or float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def check_bool(parameter: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 1, not "true")."""
    if not isinstance(value, bool):
        raise InvalidParameterError(parameter, f"{parameter} must be True or False, got {value!r}")
    return value


def check_positive_number(parameter: str, value: object, *, what: str = "a number") -> float:
    """``value`` as a float if it is a finite number > 0; ``what`` says what it counts."""
    number = _number(value)
    if number is None or not 0 < number < math.inf:
        raise InvalidParameterError(
            parameter, f"{parameter} must be {what} > 0 (finite), got {value!r}"
        )
    return number


def check_seconds(parameter: str, value: object, *, allow_zero: bool = True) -> float:
    """``value`` as a float if it is a finite number of seconds (>= 0, or > 0)."""
    number = _number(value)
    if (
        number is None
        or not math.isfinite(number)
        or number < 0
        or (not allow_zero and number == 0)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameterError(
            parameter, f"{parameter} must be a finite number of seconds {bound}, got {value!r}"
        )
    return number


def check_int(parameter: str, value: object, *, minimum: int, hint: str = "") -> int:
    """``value`` if it is an ``int`` (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f" ({hint})" if hint else ""
        raise InvalidParameterError(
            parameter, f"{parameter} must be an int >= {minimum}{extra}, got {value!r}"
        )
    return value


def check_fraction(parameter: str, value: object) -> float:
    """``value`` as a float if it is a number between 0 and 1."""
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        raise InvalidParameterError(
            parameter, f"{parameter} must be a fraction between 0 and 1, got {value!r}"
        )
    return number
