"""The small argument checks every part of the library shares.

Each returns the checked value (normalised where that helps) or raises
``InvalidParameterError`` naming the parameter and saying what would do.
The client, the limiters, the emulator and the command line all use these,
so one rule reads the same everywhere. The predicates (control characters,
callback URLs and methods) are shared with the emulator, which words its own
refusals as the API does.
"""

from __future__ import annotations

import math
import re
from typing import Final, NoReturn
from urllib.parse import urlsplit

from ._exceptions import InvalidParameterError

__all__ = [
    "CALLBACK_METHODS",
    "CONTROL_CHARACTERS",
    "callback_method",
    "check_basic_auth_user",
    "check_bool",
    "check_fraction",
    "check_int",
    "check_positive_number",
    "check_rate",
    "check_seconds",
    "check_text",
    "describe_character",
    "has_control_characters",
    "is_absolute_http_url",
    "shown",
]

#: Control characters (Unicode's ``Cc``: C0, DEL and C1) and lone surrogates, which
#: a Python str may hold but no header, URL or form can encode.
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

#: The methods the API accepts for its callbacks (``HoldMethod``, ``AnnounceMethod``, ...).
CALLBACK_METHODS: Final = frozenset({"GET", "POST"})

_LONGEST_SHOWN = 60


# --- predicates ----------------------------------------------------------------


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character or a lone surrogate."""
    return CONTROL_CHARACTERS.search(text) is not None


def is_absolute_http_url(value: str) -> bool:
    """Whether ``value`` is an absolute ``http``/``https`` URL with a host (the API's callback rule)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def callback_method(value: str) -> str | None:
    """``value`` upper-cased if it names a callback method (in any case), else ``None``."""
    method = value.upper()
    return method if method in CALLBACK_METHODS else None


# --- how a refused value is shown ------------------------------------------------


def shown(value: object) -> str:
    """``value`` as a refusal shows it: its repr (cut short if long) and its type."""
    text = repr(value)
    if len(text) > _LONGEST_SHOWN:
        text = text[: _LONGEST_SHOWN - 3] + "..."
    return f"{text} ({type(value).__name__})"


def describe_character(char: str) -> str:
    """``char`` as an error message names it: control characters and surrogates by code point."""
    if "\ud800" <= char <= "\udfff":
        return f"the lone surrogate U+{ord(char):04X}"
    if CONTROL_CHARACTERS.match(char):
        return f"the control character U+{ord(char):04X}"
    return repr(char)


# --- checks ----------------------------------------------------------------------


def check_bool(parameter: str, value: object, *, hint: str = "") -> bool:
    """``value`` if it is ``True`` or ``False`` (not 1, not "true")."""
    if not isinstance(value, bool):
        _refuse(parameter, "True or False", hint, value)
    return value


def check_text(parameter: str, value: object, *, what: str = "a non-empty str") -> str:
    """``value`` if it is a non-empty str; ``what`` says what it should be. Never echoes it."""
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(parameter, f"{parameter} must be {what}")
    return value


def check_basic_auth_user(parameter: str, value: str) -> str:
    """``value`` if it can be the user name of HTTP Basic auth, which ends at the first ``:``."""
    if ":" in value:
        raise InvalidParameterError(
            parameter, f"{parameter} must not contain ':' (it is the Basic-auth user name)"
        )
    return value


def check_positive_number(parameter: str, value: object, *, what: str = "a number") -> float:
    """``value`` as a float if it is a finite number > 0; ``what`` says what it counts."""
    number = _number(value)
    if number is None or not 0 < number < math.inf:
        _refuse(parameter, f"{what} > 0 (finite)", "", value)
    return number


def check_rate(parameter: str, value: object) -> float:
    """``value`` as a float if it is a finite number of requests per second > 0."""
    return check_positive_number(parameter, value, what="a number of requests per second")


def check_seconds(
    parameter: str, value: object, *, allow_zero: bool = True, hint: str = ""
) -> float:
    """``value`` as a float if it is a finite number of seconds (>= 0, or > 0)."""
    number = _number(value)
    if (
        number is None
        or not math.isfinite(number)
        or number < 0
        or (number == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        _refuse(parameter, f"a finite number of seconds {bound}", hint, value)
    return number


def check_int(
    parameter: str, value: object, *, minimum: int, maximum: int | None = None, hint: str = ""
) -> int:
    """``value`` if it is an ``int`` (not a bool) of at least ``minimum`` (and at most ``maximum``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        _refuse(parameter, f"an int {bounds}", hint, value)
    return value


def check_fraction(parameter: str, value: object) -> float:
    """``value`` as a float if it is a number between 0 and 1."""
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        _refuse(parameter, "a fraction between 0 and 1", "", value)
    return number


def _number(value: object) -> float | None:
    """``value`` as a float if it is an int or float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _refuse(parameter: str, expected: str, hint: str, value: object) -> NoReturn:
    aside = f" ({hint})" if hint else ""
    raise InvalidParameterError(
        parameter, f"{parameter} must be {expected}{aside}, got {shown(value)}"
    )
