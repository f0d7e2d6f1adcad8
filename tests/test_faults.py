"""The fault matrix: what a misbehaving server does to the client, over real sockets.

Every fault is produced by ``rawserver`` on 127.0.0.1 and met by the default
httpx backend (asyncio and trio) and the aiohttp backend (asyncio). Each
test checks the documented outcome (error class, ``possibly_delivered``,
attempts the server saw, an announcement never sent twice where it may have
played) and that the client leaves no connection and no file descriptor
behind once closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
import httpx
import pytest

from aioparticipant import (
    AioParticipantError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    Participant,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

from .helpers import PARTICIPANT_JSON
from .rawserver import (
    MAX_RETRIES,
    OK,
    Action,
    Connection,
    Handler,
    RawServer,
    Request,
    closed_port,
    connects_hang,
    http_response,
    leak_checked_client,
    respond,
    send,
    serve,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(flavour: tuple[str, str]) -> str:
    """Every (event loop, HTTP backend) pair: ``flavour`` and ``http_backend`` are conftest's."""
    return flavour[0]


# --- what the server does ---------------------------------------------------------

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    + b"<!-- padding -->\r\n" * 40
    + b"</body>\r\n</html>\r\n"
)


def then(data: bytes, action: Action) -> Action:
    """Send ``data``, then end the connection with ``action``."""

    def act(conn: Connection) -> None:
        conn.send(data)
        action(conn)

    return act


def always(result: bytes | Action) -> Handler:
    return respond(lambda _request: result)


def reset_on_accept(conn: Connection) -> None:
    conn.reset()


def rate_limited(retry_after: str | None) -> bytes:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    body = b'{"code": 20429, "message": "Too Many Requests", "status": 429}'
    return http_response(429, body, headers=headers)


@dataclass(frozen=True)
class Fault:
    id: str
    handler: Handler
    error: type[AioParticipantError]
    #: ``possibly_delivered`` for connection errors (either, where timing decides);
    #: ``None`` for an answer with a status.
    delivered: bool | tuple[bool, bool] | None
    #: Whether an ordinary (repeatable) update is retried.
    retried: bool
    #: Whether an update carrying ``announce_url`` is retried.
    announce_retried: bool
    #: What counts as an attempt: a request read, or (when none is read) a connection.
    counted: str = "requests"


FAULTS = [
    # A reset that beats the client's connect() is a connect failure: nothing was
    # written, so even an announcement is retried. One that comes later is not.
    Fault("reset-before-the-request-is-read", reset_on_accept, APIConnectionError,
          delivered=(False, True), retried=True, announce_retried=False, counted="accepted"),
    Fault("reset-after-the-request-was-read", always(Connection.reset), APIConnectionError,
          delivered=True, retried=True, announce_retried=False),
    Fault("hang-up-after-the-request-was-read", always(Connection.hang_up), APIConnectionError,
          delivered=True, retried=True, announce_retried=False),
    Fault("slow-headers", always(Connection.stall), APITimeoutError,
          delivered=True, retried=True, announce_retried=False),
    Fault("slow-body", always(then(OK[:-20], Connection.stall)), APITimeoutError,
          delivered=True, retried=True, announce_retried=False),
    Fault("truncated-body", always(then(OK[:-20], Connection.hang_up)), APIConnectionError,
          delivered=True, retried=True, announce_retried=False),
    Fault("malformed-json", always(http_response(200, b'{"call_sid": "CA1", "muted": tr')),
          ResponseDecodeError, delivered=None, retried=False, announce_retried=False),
    Fault("html-502-page", always(http_response(502, HTML_502, content_type="text/html")),
          ServerError, delivered=None, retried=True, announce_retried=False),
    Fault("200-with-an-html-page", always(http_response(200, b"<html>OK</html>", content_type="text/html")),
          ResponseDecodeError, delivered=None, retried=False, announce_retried=False),
    Fault("200-with-plain-text", always(http_response(200, b"OK", content_type="text/plain")),
          ResponseDecodeError, delivered=None, retried=False, announce_retried=False),
    Fault("429-storm-without-retry-after", always(rate_limited(None)), RateLimitError,
          delivered=None, retried=True, announce_retried=True),
    Fault("429-storm-with-retry-after", always(rate_limited("0")), RateLimitError,
          delivered=None, retried=True, announce_retried=True),
]  # fmt: skip


def attempts(server: RawServer, fault: Fault) -> int:
    return server.accepted if fault.counted == "accepted" else len(server.requests)


@pytest.mark.parametrize("kind", ["update", "announce"])
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
async def test_each_fault_gives_the_documented_outcome_and_leaks_nothing(
    fault: Fault, kind: str, http_backend: str
) -> None:
    with serve(fault.handler) as server:
        async with leak_checked_client(server.origin, http_backend, server) as client:
            with pytest.raises(fault.error) as info:
                await send(client, kind)

    error = info.value
    assert type(error) is fault.error
    retried = fault.announce_retried if kind == "announce" else fault.retried
    if fault.delivered is not None:
        assert isinstance(error, APIConnectionError)
        allowed = fault.delivered if isinstance(fault.delivered, tuple) else (fault.delivered,)
        assert error.possibly_delivered in allowed
        assert error.__cause__ is not None  # raised from the backend's own error
        if not error.possibly_delivered:
            retried = True  # nothing was sent, so every attempt was safe to repeat
        elif len(allowed) == 2 and kind == "announce":
            # Earlier attempts may have failed to connect (and were retried);
            # the first that may have been delivered was the last.
            assert 1 <= attempts(server, fault) <= 1 + MAX_RETRIES
            assert error.attempts == attempts(server, fault)
            return
    assert attempts(server, fault) == (1 + MAX_RETRIES if retried else 1)
    assert error.attempts == attempts(server, fault)  # the client counts what the server saw


async def test_an_html_502_page_gives_a_short_message_without_the_markup(http_backend: str) -> None:
    with serve(always(http_response(502, HTML_502, content_type="text/html"))) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_retries=0
        ) as client:
            with pytest.raises(ServerError) as info:
                await send(client, "update")
    assert info.value.status == 502
    assert "<" not in str(info.value)
    assert len(str(info.value)) < 200


async def test_a_fault_once_then_an_answer_succeeds_on_a_fresh_connection(
    http_backend: str,
) -> None:
    def first_fails(request: Request) -> bytes | Action:
        return Connection.reset if request.index == 0 else OK

    with serve(respond(first_fails)) as server:
        async with leak_checked_client(server.origin, http_backend, server) as client:
            participant = await send(client, "update")
    assert participant.call_sid == "CA1"
    assert len(server.requests) == 2
    assert server.accepted == 2


async def test_a_participant_body_is_read_whatever_its_content_type(http_backend: str) -> None:
    # Servers and proxies mislabel JSON; the body decides, not the header.
    mislabelled = http_response(200, PARTICIPANT_JSON, content_type="text/html")
    with serve(always(mislabelled)) as server:
        async with leak_checked_client(server.origin, http_backend, server) as client:
            participant = await send(client, "update")
    assert participant.call_sid == "CA1"
    assert len(server.requests) == 1


# --- no server at all -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["update", "announce"])
async def test_connection_refused_is_retried_even_for_announce_and_never_delivered(
    kind: str, http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    origin = f"http://127.0.0.1:{closed_port()}"
    async with leak_checked_client(origin, http_backend) as client:
        with pytest.raises(APIConnectionError) as info:
            await send(client, kind)
    assert type(info.value) is APIConnectionError
    assert info.value.possibly_delivered is False
    assert info.value.attempts == 1 + MAX_RETRIES
    retries = [r for r in caplog.records if r.name == "aioparticipant" and "retrying" in r.message]
    assert len(retries) == MAX_RETRIES


@pytest.mark.parametrize("kind", ["update", "announce"])
async def test_connect_timeout_is_retried_even_for_announce_and_never_delivered(
    kind: str, http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aioparticipant")
    with serve(always(OK), accepting=False) as server, connects_hang(server):
        async with leak_checked_client(
            server.origin, http_backend, max_retries=1, timeout=httpx.Timeout(0.3, connect=0.1)
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await send(client, kind)
    assert server.requests == []
    assert info.value.possibly_delivered is False
    retries = [r for r in caplog.records if r.name == "aioparticipant" and "retrying" in r.message]
    assert len(retries) == 1


# --- Retry-After, whatever the server puts in it ----------------------------------

PAST_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.mark.parametrize(
    ("retry_after", "parsed"),
    [("soon", None), ("", None), ("-5", 0.0), ("inf", None), (PAST_DATE, 0.0), ("0.01", 0.01)],
)  # fmt: skip
async def test_a_retry_after_that_is_garbage_negative_or_past_still_retries_promptly(
    retry_after: str, parsed: float | None, http_backend: str
) -> None:
    with serve(always(rate_limited(retry_after))) as server:
        async with leak_checked_client(server.origin, http_backend, server) as client:
            with anyio.fail_after(10):
                with pytest.raises(RateLimitError) as info:
                    await send(client, "update")
    assert info.value.retry_after == parsed
    assert len(server.requests) == 1 + MAX_RETRIES


@pytest.mark.parametrize("retry_after", ["86400", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_huge_retry_after_raises_at_once_and_does_not_freeze_the_client(
    retry_after: str, http_backend: str
) -> None:
    def first_rate_limited(request: Request) -> bytes:
        return rate_limited(retry_after) if request.index == 0 else OK

    with serve(respond(first_rate_limited)) as server:
        async with leak_checked_client(server.origin, http_backend, server) as client:
            with anyio.fail_after(10):
                with pytest.raises(RateLimitError) as info:
                    await send(client, "announce")
                participant = await send(client, "update")  # no client-wide pause was taken
    assert info.value.retry_after is not None
    assert info.value.retry_after > 3600
    assert participant.call_sid == "CA1"
    assert len(server.requests) == 2


async def test_a_429_storm_under_concurrency_ends_with_every_update_done_exactly_once(
    http_backend: str,
) -> None:
    updates, storm = 20, 30

    def storm_then_ok(request: Request) -> bytes:
        return rate_limited("0.01") if request.index < storm else OK

    with serve(respond(storm_then_ok)) as server:
        async with leak_checked_client(
            server.origin, http_backend, server, max_retries=storm, max_connections=8
        ) as client:
            results: list[Participant] = []

            async def one(kind: str) -> None:
                results.append(await send(client, kind))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for number in range(updates):
                        tg.start_soon(one, "announce" if number % 2 else "update")

    assert len(results) == updates
    assert len(server.requests) == storm + updates  # each 429 cost exactly one retry
    announced = [r for r in server.requests if b"AnnounceUrl" in r.body]
    assert len(announced) - sum(1 for r in announced if r.index < storm) == updates // 2


# --- redirects are never followed -------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307])
async def test_a_redirect_is_never_followed_so_credentials_stay_home(
    status: int, http_backend: str
) -> None:
    with serve(always(OK)) as elsewhere:

        def redirect(request: Request) -> bytes:
            location = f"{elsewhere.origin}{request.target}"
            return http_response(status, b"", headers={"Location": location})

        with serve(respond(redirect)) as server:
            async with leak_checked_client(server.origin, http_backend, server) as client:
                with pytest.raises(APIError) as info:
                    await send(client, "announce")

    assert info.value.status == status
    assert len(server.requests) == 1  # a redirect is an answer: not retried
    assert server.requests[0].headers["authorization"].startswith("Basic ")
    assert elsewhere.accepted == 0
