import pytest

from aioparticipant import (
    AioParticipantError,
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from aioparticipant._exceptions import error_from_response

TWILIO_404 = (
    b'{"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC1/Conferences/CF1/'
    b'Participants/CA1.json was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}'
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (422, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError),
     (404, NotFoundError), (429, RateLimitError), (500, ServerError), (502, ServerError), (503, ServerError),
     (504, ServerError), (418, APIError), (302, APIError)],
)  # fmt: skip
def test_each_status_maps_to_its_class(status: int, cls: type[APIError]) -> None:
    error = error_from_response(status, {}, b"")
    assert type(error) is cls
    assert isinstance(error, AioParticipantError)
    assert error.status == status


def test_twilio_style_body() -> None:
    error = error_from_response(
        404, {"Twilio-Request-Id": "RQ123", "Content-Type": "application/json"}, TWILIO_404
    )
    assert isinstance(error, NotFoundError)
    assert error.code == 20404
    assert error.message.startswith("The requested resource")
    assert error.more_info == "https://www.twilio.com/docs/errors/20404"
    assert error.request_id == "RQ123"
    assert error.headers["Twilio-Request-Id"] == "RQ123"
    assert "20404" in str(error)
    assert "RQ123" in str(error)


def test_signalwire_errors_list_body_with_string_code_and_detail() -> None:
    body = b'{"errors": [{"type": "validation_error", "code": "21218", "detail": "Invalid HoldUrl", "url": "https://developer.signalwire.com/x"}]}'
    error = error_from_response(422, {"X-Request-Id": "abc"}, body)
    assert isinstance(error, BadRequestError)
    assert error.code == 21218
    assert error.message == "Invalid HoldUrl"
    assert error.more_info == "https://developer.signalwire.com/x"
    assert error.request_id == "abc"


def test_detail_and_details_bodies() -> None:
    assert error_from_response(403, {}, b'{"detail": "Forbidden here"}').message == "Forbidden here"
    details = error_from_response(
        400, {}, b'{"message": "", "details": {"Muted": ["must be a boolean"]}}'
    )
    assert details.message == "Muted: must be a boolean"
    assert details.code is None


def test_html_gateway_page_gives_the_right_class_and_a_short_message() -> None:
    body = (
        b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>"
    )
    error = error_from_response(502, {"content-type": "text/html"}, body, reason="Bad Gateway")
    assert isinstance(error, ServerError)
    assert error.message == "Bad Gateway (non-JSON body, text/html)"
    assert error.code is None


def test_empty_body() -> None:
    error = error_from_response(503, {}, b"", reason="Service Unavailable")
    assert error.message == "Service Unavailable (empty body)"


def test_plain_text_body_is_used_shortened() -> None:
    error = error_from_response(500, {"content-type": "text/plain"}, b"upstream exploded " * 100)
    assert error.message.startswith("upstream exploded")
    assert len(error.message) <= 300


def test_rate_limit_error_carries_retry_after() -> None:
    body = b'{"code": 20429, "message": "Too Many Requests", "status": 429}'
    error = error_from_response(429, {"Retry-After": "7"}, body)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert error.code == 20429
    assert error_from_response(429, {}, body).retry_after is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00",
        b"[1,2,3]",
        b'"just a string"',
        b"null",
        b'{"code": true}',
        b"[" * 100000,
        b'{"errors": []}',
    ],
)
def test_odd_bodies_never_raise(body: bytes) -> None:
    error = error_from_response(500, {}, body)
    assert isinstance(error, ServerError)
    assert isinstance(error.message, str)
    assert error.message


def test_repr_is_short_and_informative() -> None:
    error = error_from_response(404, {}, TWILIO_404)
    assert repr(error).startswith("NotFoundError(status=404, code=20404")
