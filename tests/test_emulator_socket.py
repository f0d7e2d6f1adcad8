"""The emulator served on a real loopback socket (uvicorn in a thread)."""

from __future__ import annotations

import base64
import socket
import statistics

import anyio
import httpx
import pytest

from aioparticipant import APIConnectionError, AsyncClient
from aioparticipant.emulator import Emulator, EmulatorServer, serve_in_thread

from .rawserver import FLAVOUR_IDS, FLAVOURS


def raw_exchange(server: EmulatorServer, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes; read one whole answer, or until the server closes the connection."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received:
                    head, _, body = received.partition(b"\r\n\r\n")
                    length = [
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ]
                    if length and len(body) >= length[0]:
                        break
        except TimeoutError:
            pass
    return received


def http_request(method: str, path: str, emulator: Emulator, body: bytes = b"") -> bytes:
    credentials = base64.b64encode(f"{emulator.project_id}:{emulator.token}".encode())
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + b"Authorization: Basic "
        + credentials
        + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


PARTICIPANT = "/api/laml/2010-04-01/Accounts/emulator-project/Conferences/CF1/Participants/CA1.json"


@pytest.mark.anyio
async def test_our_client_works_over_loopback_on_both_prefixes(anyio_backend: str) -> None:
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    emulator.add_participant("CF1", "CA2")
    with serve_in_thread(emulator) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/laml/2010-04-01"
        for base_url in (server.base_url, server.twilio_base_url):
            async with AsyncClient(
                emulator.project_id, emulator.token, base_url=base_url
            ) as client:
                room = client.conferences("CF1").participants
                updated = await room("CA1").hold(hold_url="https://example.com/music")
                assert (updated.hold, updated.hold_url) == (True, "https://example.com/music")
                assert [p.call_sid for p in await room.list(page_size=1)] == ["CA1", "CA2"]
                await room("CA1").unhold()
    assert emulator.stats.lists == 4


@pytest.mark.parametrize(("anyio_backend", "http_backend"), FLAVOURS, ids=FLAVOUR_IDS)
@pytest.mark.anyio
async def test_sequential_keep_alive_updates_take_milliseconds_not_a_delayed_ack(
    anyio_backend: str, http_backend: str
) -> None:
    # Without TCP_NODELAY on the accepted socket each answer waited for the
    # client's delayed ACK: about 44 ms apiece. Now about 1-2 ms; the bound
    # leaves room for a loaded CI machine while still catching the stall.
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        async with AsyncClient(
            emulator.project_id, emulator.token, base_url=server.base_url, http_backend=http_backend
        ) as client:
            participant = client.conferences("CF1").participants("CA1")
            await participant.unmute()  # the connection is open from here on
            samples = []
            for number in range(50):
                started = anyio.current_time()
                await participant.update(muted=number % 2 == 0)
                samples.append(anyio.current_time() - started)
    assert emulator.stats.updates == 51
    assert statistics.median(samples) < 0.015


def test_a_drop_closes_the_connection_without_a_single_byte() -> None:
    emulator = Emulator(drop_rate=1.0)
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        received = raw_exchange(server, http_request("POST", PARTICIPANT, emulator, b"Muted=true"))
    assert received == b""
    # The work was done before the answer was lost.
    assert emulator.participant("CF1", "CA1").muted is True
    assert emulator.stats.connections_dropped == 1


@pytest.mark.anyio
async def test_a_drop_reaches_the_client_as_a_connection_error(anyio_backend: str) -> None:
    emulator = Emulator(drop_rate=1.0)
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        async with AsyncClient(
            emulator.project_id, emulator.token, base_url=server.base_url, max_retries=0
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.conferences("CF1").participants("CA1").fetch()
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert caught.value.possibly_delivered is True


def test_429_over_the_socket_carries_retry_after() -> None:
    emulator = Emulator(rate_limit=1)
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        first = raw_exchange(server, http_request("GET", PARTICIPANT, emulator))
        second = raw_exchange(server, http_request("GET", PARTICIPANT, emulator))
    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 429")
    assert b"\r\nretry-after: 1\r\n" in second.lower()
    assert b'"code":20429' in second


@pytest.mark.anyio
async def test_latency_holds_the_answer_back_over_the_socket(anyio_backend: str) -> None:
    emulator = Emulator(latency=0.3)
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        async with httpx.AsyncClient(auth=(emulator.project_id, emulator.token)) as client:
            started = anyio.current_time()
            response = await client.get(f"http://127.0.0.1:{server.port}{PARTICIPANT}")
            elapsed = anyio.current_time() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


def test_the_server_stops_when_the_block_ends() -> None:
    with serve_in_thread(Emulator()) as server:
        port = server.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_only_loopback_addresses_are_served(host: str) -> None:
    with (
        pytest.raises(ValueError, match=r"loopback|IP address"),
        serve_in_thread(Emulator(), host=host),
    ):
        pass  # pragma: no cover


def test_the_emulator_server_fixture_serves_the_emulator_fixture(
    emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    emulator.add_participant("CF1", "CA1", label="agent")
    response = httpx.get(
        emulator_server.origin + PARTICIPANT.replace("/api/laml", ""),
        auth=(emulator.project_id, emulator.token),
    )
    assert response.json()["label"] == "agent"
