"""An in-memory SignalWire/Twilio conference-participant API, for tests and demos.

``Emulator`` is an ASGI app: use it in process through
``httpx.ASGITransport``, or serve it on a loopback port with
``serve_in_thread`` / ``aioparticipant emulator`` (extra
``aioparticipant[emulator]``, which brings uvicorn).
"""

from ._app import Emulator
from ._asgi import CLOSE_CONNECTION_KEY, ConnectionDropped
from ._serve import EmulatorServer, serve, serve_in_thread
from ._stats import EmulatorStats

__all__ = [
    "CLOSE_CONNECTION_KEY",
    "ConnectionDropped",
    "Emulator",
    "EmulatorServer",
    "EmulatorStats",
    "serve",
    "serve_in_thread",
]
