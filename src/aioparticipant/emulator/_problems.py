"""Error answers, shaped as Twilio writes them (SignalWire's LaML API copies the shape).

A body looks like ``{"code": 20404, "message": "...", "more_info":
"https://www.twilio.com/docs/errors/20404", "status": 404}``; the official
SDKs read exactly these four keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ._asgi import Answer

__all__ = ["ApiProblem", "error_body", "invalid", "not_found"]

#: Error codes the emulator answers with (Twilio's numbering).
INVALID_PARAMETER = 20001
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
NOT_FOUND = 20404
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503
INVALID_URL = 21205
#: "Unexpected conference status": the conference is not in progress (it has ended).
CONFERENCE_NOT_IN_PROGRESS = 16099
#: "Participant to be whispered is not present in the conference" (CallSidToCoach).
COACHED_CALL_ABSENT = 16028

_MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class ApiProblem(Exception):
    """An error answer: raised anywhere in a request's handling, rendered by the app."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = tuple(headers)

    def body(self) -> bytes:
        return error_body(self.status, self.code, self.message)

    def answer(self) -> Answer:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers
        ]
        return Answer(self.status, self.body(), headers)


def error_body(status: int, code: int, message: str) -> bytes:
    """The JSON error body for ``status`` with Twilio error ``code``."""
    return msgspec.json.encode(
        {
            "code": code,
            "message": message,
            "more_info": _MORE_INFO.format(code=code),
            "status": status,
        }
    )


def invalid(message: str, *, code: int = INVALID_PARAMETER) -> ApiProblem:
    """A 400 for a parameter the API would refuse."""
    return ApiProblem(400, code, message)


def not_found(path: str) -> ApiProblem:
    """A 404 for a resource that does not exist (or no longer does)."""
    return ApiProblem(404, NOT_FOUND, f"The requested resource {path} was not found")


def conference_not_in_progress(conference_sid: str) -> ApiProblem:
    """A 400 for a participant request in a conference that has ended (Twilio's 16099)."""
    return ApiProblem(
        400,
        CONFERENCE_NOT_IN_PROGRESS,
        f"Unexpected conference status: conference {conference_sid} is completed, "
        "and participants can only be managed while it is in progress",
    )
