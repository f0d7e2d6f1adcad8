"""Nothing reveals the credentials: a full fault run with every logger at DEBUG.

The token, the Base64 ``project:token`` and the whole ``Authorization`` value
must appear in no log line (httpx's and httpcore's included, tracebacks
included), no exception message, repr or traceback, and no repr of the
client's objects, whatever the server does, even when it echoes the
request's ``Authorization`` header back in an error page.
"""

from __future__ import annotations

import base64
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from aioparticipant import AioParticipantError, AsyncClient, ParticipantUpdate

from .helpers import FAST, PARTICIPANT_JSON, KeptLogs
from .rawserver import (
    API_PATH,
    TIMEOUT,
    Action,
    Connection,
    Request,
    closed_port,
    http_response,
    respond,
    serve,
)

pytestmark = pytest.mark.anyio

PROJECT = "PJ-secrets-test"
TOKEN = "tk-0123456789abcdefSECRET"
CREDENTIALS = base64.b64encode(f"{PROJECT}:{TOKEN}".encode()).decode()
AUTHORIZATION = f"Basic {CREDENTIALS}"
SECRETS = (TOKEN, CREDENTIALS, AUTHORIZATION)


@pytest.fixture
def anyio_backend(flavour: tuple[str, str]) -> str:
    """Every (event loop, HTTP backend) pair: ``flavour`` and ``http_backend`` are conftest's."""
    return flavour[0]


def described(error: BaseException) -> Iterator[str]:
    yield str(error)
    yield repr(error)
    yield "".join(traceback.format_exception(type(error), error, error.__traceback__))


def echo_authorization(request: Request) -> bytes:
    """A misconfigured proxy that quotes the request's credentials back in its error page."""
    header = request.headers.get("authorization", "")
    body = f"Bad credentials in header Authorization: {header}".encode()
    return http_response(400, body, content_type="text/plain")


def echo_authorization_json(request: Request) -> bytes:
    header = request.headers.get("authorization", "")
    body = f'{{"code": 20003, "message": "Authenticate: got {header}"}}'.encode()
    return http_response(401, body)


def half_answer(conn: Connection) -> None:
    conn.send(http_response(200, PARTICIPANT_JSON)[:-20])
    conn.hang_up()


#: What the server does to successive requests, round and round.
BEHAVIOURS: list[Any] = [
    lambda request: Connection.reset,
    lambda request: Connection.hang_up,
    lambda request: half_answer,
    lambda request: Connection.stall,
    lambda request: http_response(200, b'{"call_sid": "CA1", "muted": tr'),
    lambda request: http_response(502, b"<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"),
    lambda request: http_response(429, b"{}", headers={"Retry-After": "0"}),
    lambda request: http_response(429, b"{}", headers={"Retry-After": "garbage"}),
    lambda request: http_response(302, b"", headers={"Location": f"http://127.0.0.1:1{request.target}"}),
    lambda request: http_response(200, b"<html>OK</html>", content_type="text/html"),
    echo_authorization,
    echo_authorization_json,
    lambda request: http_response(200, PARTICIPANT_JSON),
]  # fmt: skip


def fault_run(request: Request) -> bytes | Action:
    return BEHAVIOURS[request.index % len(BEHAVIOURS)](request)  # type: ignore[no-any-return]


def client_for(origin: str, http_backend: str) -> AsyncClient:
    return AsyncClient(
        PROJECT,
        TOKEN,
        base_url=origin + API_PATH,
        timeout=TIMEOUT,
        backoff=FAST,
        max_retries=2,
        http_backend=http_backend,
        rate_limit=1000,
    )


async def test_a_full_fault_run_at_debug_reveals_no_secret_anywhere(
    http_backend: str, debug_logs: KeptLogs
) -> None:
    errors: list[BaseException] = []
    texts: list[str] = []
    with serve(respond(fault_run)) as server:
        async with client_for(server.origin, http_backend) as client:
            texts += [repr(client), str(client), repr(client.limiter)]
            for number in range(2 * len(BEHAVIOURS)):
                handle = client.conferences("CF1").participants(f"CA{number}")
                texts.append(repr(handle))
                try:
                    if number % 3 == 0:
                        await handle.announce("https://example.com/a.xml")
                    else:
                        await handle.mute()
                except AioParticipantError as error:
                    errors.append(error)

            updates = [ParticipantUpdate("CF1", f"CA{n}", muted=True) for n in range(20)]
            async with client.bulk(updates, concurrency=5) as results:
                async for result in results:
                    texts += [repr(result), str(result)]
                    if result.error is not None:
                        errors.append(result.error)

        # No server at all, for the connect failures.
        async with client_for(f"http://127.0.0.1:{closed_port()}", http_backend) as client:
            with pytest.raises(AioParticipantError) as refused:
                await client.conferences("CF1").participants("CA1").mute()
            errors.append(refused.value)

    # The credentials were on the wire, so there was something to leak...
    assert all(r.headers["authorization"] == AUTHORIZATION for r in server.requests)
    assert len(errors) > len(BEHAVIOURS)
    assert any("Authorization" in str(e) for e in errors)  # the echo came back
    # ...and DEBUG logging was really on.
    names = {record.name.split(".")[0] for record in debug_logs.records}
    assert "aioparticipant" in names
    if http_backend == "httpx":
        assert "httpcore" in names  # the transport's own DEBUG trace

    texts += debug_logs.lines()
    for raised in errors:
        texts += described(raised)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into: {text[:300]!r}"


async def test_a_timeout_cancelled_run_reveals_no_secret_in_its_traceback(
    http_backend: str, debug_logs: KeptLogs
) -> None:
    with serve(respond(lambda request: Connection.stall)) as server:
        async with client_for(server.origin, http_backend) as client:
            with pytest.raises(TimeoutError) as info:
                with anyio.fail_after(0.2):
                    await client.conferences("CF1").participants("CA1").mute()
    texts = [*described(info.value), *debug_logs.lines()]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
