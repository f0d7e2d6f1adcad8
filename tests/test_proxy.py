"""Through a real HTTP proxy: tinyproxy in front of the emulator served over TLS.

Every test runs on httpx (asyncio and trio) and aiohttp (asyncio). tinyproxy's
log proves a request went through it: it writes ``Request (...): CONNECT
127.0.0.1:PORT`` before it opens the tunnel. Unreachable proxies (a closed
port) prove the opposite: a request that succeeds did not use them.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aioparticipant import APIConnectionError, AsyncClient
from aioparticipant.emulator import Emulator, serve_in_thread

from .helpers import FAST
from .netservers import PROXY_PASSWORD, PROXY_USER, Tinyproxy, TlsEmulator
from .rawserver import Connection, closed_port, serve

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clean_network_environment")]

LOGGERS = ("", "aioparticipant", "httpx", "httpcore", "h11", "aiohttp", "asyncio", "trio")


@pytest.fixture
def anyio_backend(flavour: tuple[str, str]) -> str:
    return flavour[0]


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(message)s")
        return "\n".join(
            formatter.format(record)
            + (formatter.formatException(record.exc_info) if record.exc_info else "")
            for record in self.records
        )


@pytest.fixture
def debug_logs() -> Iterator[Keep]:
    """Every logger at DEBUG, every record kept; the logging setup restored afterwards."""
    keep = Keep()
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(keep)
    try:
        yield keep
    finally:
        logging.getLogger().removeHandler(keep)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def make_client(emulator: TlsEmulator, http_backend: str, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {
        "base_url": emulator.base_url,
        "http_backend": http_backend,
        "backoff": FAST,
        "verify": str(emulator.ca_file),
        "timeout": 10.0,
    }
    settings.update(options)
    return AsyncClient(emulator.emulator.project_id, emulator.emulator.token, **settings)


async def mute(client: AsyncClient) -> None:
    participant = await client.conferences("CF1").participants("CA1").mute()
    assert participant.muted is True


def connects(proxy: Tinyproxy, emulator: TlsEmulator) -> int:
    return proxy.requests_for(f"CONNECT 127.0.0.1:{emulator.port} ")


def unreachable_proxy() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def everything_said(error: BaseException, logs: Keep) -> str:
    """The error's message, repr, traceback and chain, and every log line."""
    parts = [logs.text()]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen)]
        parts.append("".join(traceback.format_exception(type(seen), seen, seen.__traceback__)))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# --- through the proxy -----------------------------------------------------------------


async def test_proxy_argument_sends_requests_through_a_connect_tunnel(
    tls_emulator: TlsEmulator, tinyproxy: Tinyproxy, http_backend: str
) -> None:
    before = connects(tinyproxy, tls_emulator)
    async with make_client(tls_emulator, http_backend, proxy=tinyproxy.url) as client:
        for _ in range(3):
            await mute(client)
        fetched = await client.conferences("CF1").participants("CA1").fetch()
    assert fetched.call_sid == "CA1"
    assert connects(tinyproxy, tls_emulator) == before + 1  # one tunnel, kept alive


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
async def test_https_proxy_from_the_environment_is_used(
    tls_emulator: TlsEmulator,
    tinyproxy: Tinyproxy,
    http_backend: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, tinyproxy.url)
    monkeypatch.setenv("HTTP_PROXY", unreachable_proxy())  # for http URLs only: not this one
    before = connects(tinyproxy, tls_emulator)
    async with make_client(tls_emulator, http_backend) as client:
        await mute(client)
    assert connects(tinyproxy, tls_emulator) == before + 1


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "localhost,127.0.0.1:{port}", "[::1],127.0.0.1"]
)
async def test_no_proxy_bypasses_the_environment_proxy(
    tls_emulator: TlsEmulator, http_backend: str, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    # Were the proxy used, the request would fail: nothing listens there.
    monkeypatch.setenv("HTTPS_PROXY", unreachable_proxy())
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=tls_emulator.port))
    async with make_client(tls_emulator, http_backend, max_retries=0) as client:
        await mute(client)


async def test_no_proxy_for_another_port_does_not_bypass(
    tls_emulator: TlsEmulator,
    tinyproxy: Tinyproxy,
    http_backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    monkeypatch.setenv("no_proxy", f"127.0.0.1:{closed_port()}")
    before = connects(tinyproxy, tls_emulator)
    async with make_client(tls_emulator, http_backend) as client:
        await mute(client)
    assert connects(tinyproxy, tls_emulator) == before + 1


async def test_trust_env_false_ignores_the_proxy_variables(
    tls_emulator: TlsEmulator, http_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", unreachable_proxy())
    monkeypatch.setenv("ALL_PROXY", unreachable_proxy())
    async with make_client(tls_emulator, http_backend, trust_env=False, max_retries=0) as client:
        await mute(client)


async def test_an_explicit_proxy_wins_over_the_environment(
    tls_emulator: TlsEmulator,
    tinyproxy: Tinyproxy,
    http_backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", unreachable_proxy())
    monkeypatch.setenv("NO_PROXY", "*")
    before = connects(tinyproxy, tls_emulator)
    async with make_client(tls_emulator, http_backend, proxy=tinyproxy.url) as client:
        await mute(client)
    assert connects(tinyproxy, tls_emulator) == before + 1


async def test_plain_http_goes_through_the_proxy_as_a_forwarded_request(
    tinyproxy: Tinyproxy, http_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
        monkeypatch.setenv("HTTPS_PROXY", unreachable_proxy())  # for https URLs only
        async with AsyncClient(
            emulator.project_id, emulator.token, base_url=server.base_url, http_backend=http_backend
        ) as client:
            await client.conferences("CF1").participants("CA1").mute()
        assert tinyproxy.requests_for(f" {server.origin}/") == 1
    assert emulator.participant("CF1", "CA1").muted


# --- proxy credentials ---------------------------------------------------------------


async def test_proxy_credentials_in_the_url_open_the_tunnel_and_stay_secret(
    tls_emulator: TlsEmulator, auth_tinyproxy: Tinyproxy, http_backend: str, debug_logs: Keep
) -> None:
    before = connects(auth_tinyproxy, tls_emulator)
    proxy = auth_tinyproxy.url_with(PROXY_USER, PROXY_PASSWORD)
    async with make_client(tls_emulator, http_backend, proxy=proxy) as client:
        await mute(client)
        shown = repr(client) + repr(client.__dict__) + repr(vars(client._pipeline))
    assert connects(auth_tinyproxy, tls_emulator) == before + 1
    encoded = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    for secret in (PROXY_PASSWORD, encoded):
        assert secret not in shown
        assert secret not in debug_logs.text()


@pytest.mark.parametrize("password", ["wrong-Pa55word", "p@ss:w/rd%"])
async def test_wrong_proxy_credentials_fail_as_a_proxy_error_without_the_password(
    tls_emulator: TlsEmulator,
    auth_tinyproxy: Tinyproxy,
    http_backend: str,
    debug_logs: Keep,
    password: str,
) -> None:
    from urllib.parse import quote

    proxy = auth_tinyproxy.url_with(PROXY_USER, quote(password, safe=""))
    async with make_client(tls_emulator, http_backend, proxy=proxy, max_retries=1) as client:
        with pytest.raises(APIConnectionError) as caught:
            await mute(client)
    error = caught.value
    assert "proxy" in str(error)
    assert "refused to open a tunnel" in str(error)
    assert "refused the user name and password" in str(error)
    assert f"{PROXY_USER}:***@" in str(error)
    assert error.possibly_delivered is False
    said = everything_said(error, debug_logs)
    encoded = base64.b64encode(f"{PROXY_USER}:{password}".encode()).decode()
    for secret in (password, quote(password, safe=""), encoded):
        assert secret not in said


async def test_a_proxy_asking_for_credentials_says_the_url_has_none(
    tls_emulator: TlsEmulator, auth_tinyproxy: Tinyproxy, http_backend: str
) -> None:
    async with make_client(
        tls_emulator, http_backend, proxy=auth_tinyproxy.url, max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError, match="407") as caught:
            await mute(client)
    assert "the proxy URL has none" in str(caught.value)


async def test_a_forwarding_proxy_asking_for_credentials_is_a_proxy_error(
    auth_tinyproxy: Tinyproxy, http_backend: str
) -> None:
    emulator = Emulator()
    emulator.add_participant("CF1", "CA1")
    with serve_in_thread(emulator) as server:
        async with AsyncClient(
            emulator.project_id,
            emulator.token,
            base_url=server.base_url,
            http_backend=http_backend,
            proxy=auth_tinyproxy.url,
            max_retries=0,
        ) as client:
            # A GET: tinyproxy answers a POST's headers at once and resets the connection
            # while the body is still coming, which httpx reports as a read error.
            with pytest.raises(APIConnectionError, match=r"407.*the proxy URL has none"):
                await client.conferences("CF1").participants("CA1").fetch()


# --- a proxy that fails --------------------------------------------------------------


async def test_a_proxy_refusing_the_tunnel_is_a_connection_error(
    tls_emulator: TlsEmulator, tinyproxy: Tinyproxy, http_backend: str
) -> None:
    # tinyproxy allows CONNECT to the emulator's port only: any other is refused (403).
    async with AsyncClient(
        "PJ",
        "tok",
        base_url=f"https://127.0.0.1:{closed_port()}/api",
        http_backend=http_backend,
        proxy=tinyproxy.url,
        max_retries=3,
    ) as client:
        with pytest.raises(APIConnectionError, match=r"refused to open a tunnel.*403") as caught:
            await mute(client)
        assert client.stats.attempts == 1  # another attempt cannot change the proxy's mind
    assert caught.value.possibly_delivered is False
    assert caught.value.transient is False


async def test_a_proxy_dropping_the_connect_is_a_connection_error(
    tls_emulator: TlsEmulator, http_backend: str
) -> None:
    def hang_up_on_connect(conn: Connection) -> None:
        request = conn.read_request()
        assert request is not None
        assert request.method == "CONNECT"
        conn.hang_up()

    with serve(hang_up_on_connect) as proxy:
        origin = proxy.origin
        async with make_client(tls_emulator, http_backend, proxy=origin, max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await mute(client)
    message = str(caught.value)
    assert f"the proxy {origin} failed before opening a tunnel" in message
    assert caught.value.possibly_delivered is False


async def test_an_unreachable_proxy_is_a_connection_error_naming_it(
    tls_emulator: TlsEmulator, http_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = unreachable_proxy()
    monkeypatch.setenv(
        "HTTPS_PROXY", proxy.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
    )
    async with make_client(tls_emulator, http_backend, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await mute(client)
    message = str(caught.value)
    assert "cannot connect to the proxy" in message
    assert "(from HTTPS_PROXY)" in message
    assert PROXY_PASSWORD not in message
    assert caught.value.possibly_delivered is False


async def test_a_server_certificate_from_an_unknown_ca_fails_through_the_proxy(
    tls_emulator: TlsEmulator, tinyproxy: Tinyproxy, http_backend: str, tmp_path: Path
) -> None:
    async with make_client(
        tls_emulator, http_backend, proxy=tinyproxy.url, verify=True, max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await mute(client)
    assert "through the proxy" in str(caught.value)
    assert caught.value.possibly_delivered is False
