"""One update of a bulk run: which participant, and what to change, checked once when built."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from ._params import Unpack, UpdateParameters, encode_update, validate_sid

__all__ = ["ParticipantUpdate"]


class ParticipantUpdate:
    """One update to send in a bulk run: which participant, and what to change.

    ``ParticipantUpdate(conference_sid, call_sid, **params)`` takes the same
    keywords as ``participant.update()`` and checks them the same way, at
    construction: a bad value raises ``InvalidParameterError`` (a ``ValueError``),
    an unknown keyword ``TypeError``. The wire form is computed once, here, so a
    run does not validate anything again. Instances are immutable and hashable.
    """

    __slots__ = ("_form", "_params", "call_sid", "conference_sid")

    conference_sid: str
    call_sid: str
    _params: dict[str, object]
    _form: dict[str, str]

    def __init__(
        self, conference_sid: str, call_sid: str, **params: Unpack[UpdateParameters]
    ) -> None:
        form = encode_update(params, caller="ParticipantUpdate")
        set_attribute = object.__setattr__
        set_attribute(self, "conference_sid", validate_sid("conference_sid", conference_sid))
        set_attribute(self, "call_sid", validate_sid("call_sid", call_sid))
        set_attribute(self, "_params", {k: v for k, v in params.items() if v is not None})
        set_attribute(self, "_form", form)

    @property
    def params(self) -> Mapping[str, object]:
        """The keywords that are set (``None`` ones dropped), as given."""
        return MappingProxyType(self._params)

    @property
    def form(self) -> Mapping[str, str]:
        """The form fields that will be sent, by wire name (``{"Muted": "true"}``)."""
        return MappingProxyType(self._form)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"ParticipantUpdate is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"ParticipantUpdate is immutable; cannot delete {name!r}")

    def _key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.conference_sid, self.call_sid, tuple(sorted(self._form.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParticipantUpdate):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        keywords = "".join(f", {name}={value!r}" for name, value in self._params.items())
        return f"ParticipantUpdate({self.conference_sid!r}, {self.call_sid!r}{keywords})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Positional sids plus keywords do not fit pickle's default protocol for slots.
        return (_rebuild_update, (self.conference_sid, self.call_sid, self._params))


def _rebuild_update(
    conference_sid: str, call_sid: str, params: dict[str, Any]
) -> ParticipantUpdate:
    return ParticipantUpdate(conference_sid, call_sid, **params)
