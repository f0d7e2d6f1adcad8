"""A tiny HTTP/1.1 server on raw sockets, for faults no well-behaved server can produce.

It runs in threads with blocking sockets, so it misbehaves exactly as told
(reset, hang up, stall, truncate) whatever the client's event loop is, asyncio
or trio. Every server listens on 127.0.0.1 only.

A *handler* gets each accepted connection and decides what happens on it;
``respond(fn)`` builds the common handler that reads requests one by one
(keep-alive) and answers each with ``fn(request)``: bytes to send, or an
action (``reset``, ``hang_up``, ``stall``, ...) that ends the connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from aioparticipant import AsyncClient, Participant

from .helpers import FAST, PARTICIPANT_JSON, PROJECT, TOKEN

__all__ = [
    "ANNOUNCE_URL",
    "API_PATH",
    "FLAVOURS",
    "FLAVOUR_IDS",
    "MAX_RETRIES",
    "OK",
    "TIMEOUT",
    "Action",
    "Connection",
    "Handler",
    "RawServer",
    "Request",
    "assert_no_leaks",
    "closed_port",
    "connects_hang",
    "eventually",
    "http_response",
    "leak_checked_client",
    "make_client",
    "open_fds",
    "respond",
    "send",
    "serve",
]

#: How long any blocking socket call of the server may wait: nothing hangs a test run.
_IO_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    """One request as the server read it."""

    index: int  # 0-based, across all connections of the server
    method: str
    target: str  # the raw request target, percent-encoding untouched
    headers: dict[str, str]  # lower-case names
    body: bytes


class Connection:
    """One accepted connection, seen from the server."""

    def __init__(self, server: RawServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self._buffer = b""

    def read_request(self) -> Request | None:
        """The next whole request, or ``None`` when the client closed the connection."""
        try:
            while b"\r\n\r\n" not in self._buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self._buffer += chunk
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                rest += chunk
            self._buffer = rest[length:]
        except OSError:
            return None
        return self.server.record(method, target, headers, rest[:length])

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def hang_up(self) -> None:
        """Close politely (FIN): the client reads end-of-file."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def stall(self) -> None:
        """Send nothing more; return once the client closes its end (or the server stops)."""
        with contextlib.suppress(OSError):
            while self.sock.recv(65536):
                pass
        self.sock.close()


Handler = Callable[[Connection], None]
Action = Callable[[Connection], None]


@dataclass(repr=False)
class RawServer:
    handler: Handler
    sock: socket.socket = field(init=False)
    #: Connections accepted so far.
    accepted: int = 0
    #: Requests read so far, in order of arrival.
    requests: list[Request] = field(default_factory=list)
    _open: set[socket.socket] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    def __repr__(self) -> str:
        return (
            f"RawServer(accepted={self.accepted}, requests={len(self.requests)}, "
            f"open_connections={self.open_connections})"
        )

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Accepted connections the server has not closed yet (it closes on the client's FIN)."""
        with self._lock:
            return len(self._open)

    def record(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        with self._lock:
            request = Request(len(self.requests), method, target, headers, body)
            self.requests.append(request)
        return request

    def start(self, *, accepting: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        if accepting:
            self.start_accepting()
        else:
            self.sock.listen(0)

    def start_accepting(self) -> None:
        self.sock.listen(128)
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self._lock:
            still_open = list(self._open)
        for conn in still_open:  # wake threads blocked in recv()
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=_IO_TIMEOUT)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(_IO_TIMEOUT)
            with self._lock:
                self.accepted += 1
                self._open.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(Connection(self, conn))
        finally:
            conn.close()  # idempotent: the handler may have closed it already
            with self._lock:
                self._open.discard(conn)


@contextlib.contextmanager
def serve(handler: Handler, *, accepting: bool = True) -> Iterator[RawServer]:
    """Run a raw server on 127.0.0.1 for the ``with`` block.

    ``accepting=False`` listens with a backlog of zero and accepts nothing
    until ``start_accepting()``: see ``connects_hang``.
    """
    server = RawServer(handler)
    server.start(accepting=accepting)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def connects_hang(server: RawServer) -> Iterator[None]:
    """While inside, connecting to a not-yet-accepting ``server`` hangs (its queue is full).

    Leaving starts the server accepting, so the hung connects complete.
    """
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            filler = socket.socket()
            fillers.append(filler)
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", server.port))
            except TimeoutError:
                break  # the queue is full: the next connect hangs too
        else:  # pragma: no cover - depends on the kernel
            raise RuntimeError("this kernel accepts connections past a full backlog")
        yield
    finally:
        for filler in fillers:
            filler.close()
        server.start_accepting()


def respond(answer: Callable[[Request], bytes | Action]) -> Handler:
    """A keep-alive handler: each request gets ``answer(request)``, bytes or a final action."""

    def handler(conn: Connection) -> None:
        while (request := conn.read_request()) is not None:
            result = answer(request)
            if callable(result):
                result(conn)
                return
            conn.send(result)
        conn.hang_up()

    return handler


def http_response(
    status: int,
    body: bytes = b"",
    *,
    reason: str = "",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    """The bytes of an HTTP/1.1 response (slice them to truncate it)."""
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Status')}"]
    all_headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released (connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_fds() -> int:
    """File descriptors this process holds (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> bool:
    """Whether ``condition()`` becomes true within ``within`` seconds (polled).

    For facts another thread or the kernel settles (a socket closed, a request
    read): there is no event to wait on.
    """
    with anyio.move_on_after(within):
        while not condition():  # noqa: ASYNC110 - polling another thread's state
            await anyio.sleep(0.005)
    return condition()


# --- the client side: a client aimed at a raw server, and the leak check --------------

#: (event loop, http_backend) pairs every socket-level test runs on.
FLAVOURS = [("asyncio", "httpx"), ("trio", "httpx"), ("asyncio", "aiohttp")]
FLAVOUR_IDS = [f"{http}-{loop}" for loop, http in FLAVOURS]
MAX_RETRIES = 2
TIMEOUT = httpx.Timeout(0.3)
ANNOUNCE_URL = "https://example.com/announce.xml"
API_PATH = "/api/laml/2010-04-01"
OK = http_response(200, PARTICIPANT_JSON)


def make_client(origin: str, http_backend: str, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {
        "base_url": origin + API_PATH,
        "max_retries": MAX_RETRIES,
        "timeout": TIMEOUT,
        "backoff": FAST,
        "http_backend": http_backend,
    }
    settings.update(options)
    return AsyncClient(PROJECT, TOKEN, **settings)


@contextlib.asynccontextmanager
async def leak_checked_client(
    origin: str, http_backend: str, server: RawServer | None = None, **options: Any
) -> AsyncIterator[AsyncClient]:
    """A client that, once closed, must have closed every socket it opened."""
    baseline = open_fds()
    client = make_client(origin, http_backend, **options)
    try:
        yield client
    finally:
        await client.aclose()
    await assert_no_leaks(baseline, server)


async def assert_no_leaks(baseline_fds: int, server: RawServer | None = None) -> None:
    # Sockets close a loop iteration or two after aclose() (aiohttp), and the
    # server notices the client's FIN in its own thread: poll, within bounds.
    await eventually(
        lambda: open_fds() <= baseline_fds and (server is None or server.open_connections == 0)
    )
    assert server is None or server.open_connections == 0, "the client left connections open"
    assert open_fds() <= baseline_fds, "the client left file descriptors open"


async def send(client: AsyncClient, kind: str) -> Participant:
    handle = client.conferences("CF1").participants("CA1")
    if kind == "announce":
        return await handle.announce(ANNOUNCE_URL)
    return await handle.mute()
