"""A fast loopback HTTP/1.1 keep-alive stub for the benchmarks.

It answers every request with the same realistic participant JSON (the 200 body
of SignalWire's "Update a Participant" page), as cheaply as Python allows, so
that the client is what gets measured. It is a plain asyncio ``Protocol`` (on
uvloop when that is installed): no framework, no routing, responses prebuilt.

    python bench/stub_server.py [--port 0] [--lifetime 600] [--rate-limit R]

It prints ``PORT <n>`` on its first line of stdout once it listens, and exits
by itself after ``--lifetime`` seconds whatever happens (the runner also stops
it by PID). ``GET /__stats`` answers ``{"connections": ..., "requests": ...,
"rate_limited": ...}``: TCP connections accepted (not counting the ones that
asked for stats), requests answered, and 429s sent since start.

A connection that opens with the HTTP/2 preface is served as HTTP/2 (h2c,
prior knowledge) when the ``h2`` package is installed: that is the HTTP/2
comparison's server.

``--rate-limit R`` makes it answer 429 with ``Retry-After: 1`` once more than R
requests per second arrive (a token bucket holding one second's worth, as the
project's emulator does); that is the limiter-accuracy check's server when
``aioparticipant.emulator`` is not available.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import cast

BODY = json.dumps(
    {
        "account_sid": "b3877c40-da60-4998-90ad-b792e98472af",
        "call_sid": "b3877c40-da60-4998-90ad-b792e98472ca",
        "conference_sid": "b3877c40-da60-4998-90ad-b792e98472pa",
        "label": None,
        "date_created": "Mon, 24 Sep 2018 21:00:00 +0000",
        "date_updated": "Tue, 25 Sep 2018 20:00:00 +0000",
        "end_conference_on_exit": False,
        "muted": True,
        "hold": False,
        "hold_url": None,
        "status": "in-progress",
        "start_conference_on_enter": True,
        "coaching": False,
        "call_sid_to_coach": None,
        "queue_time": "0",
        "uri": "/api/laml/2010-04-01/Accounts/b3877c40-da60-4998-90ad-b792e98472af/"
        "Conferences/b3877c40-da60-4998-90ad-b792e98472pa/Participants/"
        "b3877c40-da60-4998-90ad-b792e98472ca.json",
    },
    separators=(", ", ": "),
).encode()

RATE_LIMITED_BODY = json.dumps(
    {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
).encode()

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


def _response(status: bytes, body: bytes, extra: bytes = b"", *, close: bool = False) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nTwilio-Request-Id: RQ00000000000000000000000000000000\r\n"
        + extra
        + (b"Connection: close\r\n" if close else b"")
        + b"\r\n"
        + body
    )


OK = _response(b"200 OK", BODY)
OK_CLOSE = _response(b"200 OK", BODY, close=True)
TOO_MANY = _response(b"429 Too Many Requests", RATE_LIMITED_BODY, b"Retry-After: 1\r\n")
BAD = _response(b"400 Bad Request", b'{"message": "bad request", "status": 400}', close=True)


class Stats:
    def __init__(self, rate_limit: float | None) -> None:
        self.connections = 0
        self.requests = 0
        self.rate_limited = 0
        self.rate_limit = rate_limit
        self._tokens = rate_limit or 0.0
        self._updated = time.monotonic()

    def allow(self) -> bool:
        """One token from a bucket that holds one second's worth of requests."""
        if self.rate_limit is None:
            return True
        now = time.monotonic()
        self._tokens = min(self.rate_limit, self._tokens + (now - self._updated) * self.rate_limit)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.rate_limited += 1
        return False

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "connections": self.connections,
                "requests": self.requests,
                "rate_limited": self.rate_limited,
            }
        ).encode()


class StubProtocol(asyncio.Protocol):
    """One keep-alive connection: parse heads, skip bodies, answer in order (pipelining too)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)  # counted by DispatchProtocol

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        out: list[bytes] = []
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    out.append(BAD)
                    close = True
                break
            head = bytes(buffer[:end]).lower()
            length = 0
            chunked = False
            keep_alive = not head.startswith(b"get /__stats") and b"http/1.0" not in head[:200]
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value.strip() or b"0")
                elif name == b"transfer-encoding" and b"chunked" in value:
                    chunked = True
                elif name == b"connection":
                    keep_alive = b"close" not in value
            start = end + 4
            if chunked:
                consumed = _chunked_length(buffer, start)
                if consumed is None:
                    break
                finish = start + consumed
            else:
                if length > MAX_BODY:
                    out.append(BAD)
                    close = True
                    break
                finish = start + length
                if len(buffer) < finish:
                    break
            del buffer[:finish]
            if head.startswith(b"get /__stats"):
                self.stats.connections -= 1  # the asker's own connection is not a client's
                out.append(_response(b"200 OK", self.stats.as_json(), close=True))
                close = True
                break
            self.stats.requests += 1
            if not self.stats.allow():
                out.append(TOO_MANY)
            else:
                out.append(OK if keep_alive else OK_CLOSE)
            if not keep_alive:
                close = True
                break
        transport = self.transport
        if transport is None:
            return
        if out:
            transport.write(b"".join(out) if len(out) > 1 else out[0])
        if close:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _chunked_length(buffer: bytearray, start: int) -> int | None:
    """Bytes taken by a complete chunked body starting at ``start``, or ``None`` if incomplete."""
    position = start
    for _ in range(100_000):
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0] or b"0", 16)
        position = line_end + 2 + size + 2
        if len(buffer) < position:
            return None
        if size == 0:
            return position - start
    return None


class H2StubProtocol(asyncio.Protocol):
    """HTTP/2 with prior knowledge (h2c), for the HTTP/2 comparison; needs the ``h2`` package."""

    def __init__(self, stats: Stats, transport: asyncio.Transport) -> None:
        import h2.config
        import h2.connection

        self.stats = stats
        self.transport: asyncio.Transport | None = transport
        self.connection = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.connection.initiate_connection()
        transport.write(self.connection.data_to_send())

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        connection = self.connection
        try:
            events = connection.receive_data(data)
        except h2.exceptions.ProtocolError:
            if self.transport is not None:
                self.transport.write(connection.data_to_send())
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.stats.requests += 1
                allowed = self.stats.allow()
                body = BODY if allowed else RATE_LIMITED_BODY
                headers = [
                    (b":status", b"200" if allowed else b"429"),
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ]
                if not allowed:
                    headers.append((b"retry-after", b"1"))
                connection.send_headers(event.stream_id, headers)
                connection.send_data(event.stream_id, body, end_stream=True)
        if self.transport is not None:
            self.transport.write(connection.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


H2_PREFACE = b"PRI * HTTP/2.0"


class DispatchProtocol(asyncio.Protocol):
    """HTTP/1.1, or HTTP/2 when the first bytes are the h2 preface (and h2 is installed)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            self.pending += data
            if len(self.pending) < len(H2_PREFACE) and H2_PREFACE.startswith(self.pending):
                return
            assert self.transport is not None
            if self.pending.startswith(H2_PREFACE) and HAVE_H2:
                self.inner = H2StubProtocol(self.stats, self.transport)
            else:
                self.inner = StubProtocol(self.stats)
                self.inner.connection_made(self.transport)
            data, self.pending = self.pending, b""
        self.inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)


try:
    import h2  # noqa: F401

    HAVE_H2 = True
except ImportError:
    HAVE_H2 = False


async def serve(host: str, port: int, lifetime: float, rate_limit: float | None) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats(rate_limit)
    server = await loop.create_server(
        lambda: DispatchProtocol(stats), host, port, backlog=1024, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=lifetime)
    except asyncio.TimeoutError:
        sys.stderr.write(f"stub_server: lifetime of {lifetime:g}s reached, exiting\n")
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=600.0, help="exit after this many s")
    parser.add_argument("--rate-limit", type=float, default=None, help="429 past R requests/s")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the stub serves loopback only")
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    # A hard stop even if the loop wedges: the kernel delivers SIGALRM.
    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.alarm(int(args.lifetime) + 5)
    runner(serve(args.host, args.port, args.lifetime, args.rate_limit))


if __name__ == "__main__":
    main()
