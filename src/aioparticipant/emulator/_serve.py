"""Serving the emulator on a loopback port, with uvicorn (extra ``aioparticipant[emulator]``).

Only loopback addresses are served: the emulator speaks plain HTTP, and
Basic-auth credentials must not cross a network in clear text.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._constants import SIGNALWIRE_API_PATH
from ._asgi import CLOSE_CONNECTION_KEY
from ._routing import TWILIO_API_PATH

if TYPE_CHECKING:
    import uvicorn

__all__ = ["EmulatorServer", "check_loopback", "serve", "serve_in_thread"]

#: Seconds a stopping server gives requests in flight before closing their connections.
_GRACEFUL_SHUTDOWN = 2.0


@dataclass(frozen=True)
class EmulatorServer:
    """Where a running emulator listens."""

    host: str
    port: int

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: what the twilio SDK takes as ``client.api.base_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """SignalWire-style base URL, for ``AsyncClient(base_url=...)``."""
        return self.origin + SIGNALWIRE_API_PATH

    @property
    def twilio_base_url(self) -> str:
        """Twilio-style base URL (``.../2010-04-01``)."""
        return self.origin + TWILIO_API_PATH


def check_loopback(host: str) -> str:
    """The address to bind for ``host``; ``ValueError`` unless it is a loopback address."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; use 127.0.0.1") from None
    if not address.is_loopback:
        raise ValueError(
            f"refusing to serve on {host}: the emulator speaks plain HTTP, so it listens on "
            "loopback addresses only (127.0.0.1 or ::1)"
        )
    return str(address)


@contextmanager
def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0
) -> Iterator[EmulatorServer]:
    """Serve ``app`` (an ``Emulator``) in a background thread for the ``with`` block.

    ``port=0`` picks a free port; the yielded ``EmulatorServer`` says which.
    The server stops, and the thread ends, when the block exits.
    """
    sock = _bind(host, port)
    server = _uvicorn_server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aioparticipant-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        yield _where(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=_GRACEFUL_SHUTDOWN + 5.0)
        sock.close()


def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[EmulatorServer], None] | None = None,
) -> None:
    """Serve ``app`` in this thread until Ctrl-C (which then raises ``KeyboardInterrupt``).

    ``on_ready`` is called once the port is bound and listening, before the
    first request is read.
    """
    sock = _bind(host, port)
    try:
        if on_ready is not None:
            on_ready(_where(sock))
        _uvicorn_server(app).run(sockets=[sock])
    finally:
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    address = check_loopback(host)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # Named TCP (not the default protocol 0), as getaddrinfo would give it:
    # asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        # Listening now, not when uvicorn starts: connections made in between wait
        # in the backlog instead of being refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _where(sock: socket.socket) -> EmulatorServer:
    host, port = sock.getsockname()[:2]
    return EmulatorServer(host=host, port=port)


def _uvicorn_server(app: Any) -> uvicorn.Server:
    try:
        import uvicorn
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'serving the emulator needs uvicorn: pip install "aioparticipant[emulator]"'
        ) from error
    config = uvicorn.Config(
        app,
        http=_protocol_class(),
        ws="none",
        lifespan="off",
        access_log=False,
        log_config=None,  # leave the host program's logging alone
        log_level="warning",
        timeout_graceful_shutdown=int(_GRACEFUL_SHUTDOWN),
    )
    return uvicorn.Server(config)


_PROTOCOL: type[asyncio.Protocol] | None = None


def _protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, offering the app a way to hang up (for ``drop_rate``).

    ASGI has no message for "close without answering": an app that raises or
    returns without a response gets a 500 from the server. So each connection
    puts its transport's ``close`` in ``scope["state"]``, where the emulator
    looks for it.

    Each connection also gets ``TCP_NODELAY``, whatever made its socket: with
    Nagle's algorithm on, every keep-alive answer waits for the client's
    delayed ACK (about 40 ms on Linux) before it leaves.
    """
    global _PROTOCOL
    if _PROTOCOL is None:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        class _HangUpCapableProtocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                _no_delay(transport)
                # A per-connection copy: the server's app_state is shared by all connections.
                self.app_state = {**self.app_state, CLOSE_CONNECTION_KEY: transport.close}

        _PROTOCOL = _HangUpCapableProtocol
    return _PROTOCOL


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
