"""ASGI plumbing: reading a request's body, sending an answer, hanging up, lifespan.

Nothing here knows the API; ``_app`` decides what to answer and these
functions put it on the wire (or take the connection off it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import msgspec

__all__ = [
    "CLOSE_CONNECTION_KEY",
    "MAX_BODY",
    "Answer",
    "ConnectionDropped",
    "Receive",
    "Scope",
    "Send",
    "drop_connection",
    "json_answer",
    "lifespan",
    "read_body",
    "send_answer",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSE_CONNECTION_KEY = "aioparticipant.close_connection"
"""Key of ``scope["state"]`` under which a server may offer a callable that closes the
request's connection at once (``aioparticipant.emulator``'s own uvicorn setup does).
Without it, a dropped request (``drop_rate``) raises ``ConnectionDropped``."""

#: The largest request body read; a larger one is answered 413.
MAX_BODY = 64 * 1024
_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


class ConnectionDropped(httpx.RemoteProtocolError):
    """The emulator dropped this request's connection (``drop_rate``).

    Raised out of the ASGI app where no server can close a socket for it, as
    under ``httpx.ASGITransport``. It is the error httpx raises when a server
    hangs up without answering, so a client sees the same transport failure in
    process as over a real socket.
    """


@dataclass
class Answer:
    """One HTTP answer: status, body (JSON or empty) and extra headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_answer(status: int, payload: object) -> Answer:
    return Answer(status, msgspec.json.encode(payload))


async def read_body(receive: Receive) -> bytes | None:
    """The request body, or ``None`` when it is larger than ``MAX_BODY``."""
    chunks: list[bytes] = []
    size = 0
    while True:  # ends at the last chunk, a disconnect, or the size cap
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_answer(send: Send, answer: Answer, request_id: bytes) -> None:
    headers = [*answer.headers, (b"twilio-request-id", request_id)]
    if answer.body:
        headers += _JSON_HEADERS
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def drop_connection(scope: Scope, receive: Receive) -> None:
    """Close the connection without answering, or raise ``ConnectionDropped`` where no server can."""
    close = scope.get("state", {}).get(CLOSE_CONNECTION_KEY)
    if close is None:
        raise ConnectionDropped("Server disconnected without sending a response.")
    close()
    # Wait for the server to notice, so that it does not answer on our behalf.
    with anyio.move_on_after(1.0):
        for _ in range(3):
            if (await receive())["type"] == "http.disconnect":
                break


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI server's startup and shutdown: the emulator needs neither."""
    while True:  # ends at shutdown, which every ASGI server sends last
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
