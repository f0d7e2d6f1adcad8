"""``verify=``: a CA bundle, a directory, an ``ssl.SSLContext``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``.

Against the emulator served over TLS with a throw-away ``trustme`` CA, on
httpx (asyncio and trio) and aiohttp (asyncio). Verification cannot be
switched off: every way of trying is refused before anything is sent.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme

from aioparticipant import APIConnectionError, AsyncClient, InvalidParameterError, _tls

from .helpers import FAST
from .netservers import TlsEmulator

pytestmark = pytest.mark.usefixtures("clean_network_environment")


@pytest.fixture
def anyio_backend(flavour: tuple[str, str]) -> str:
    return flavour[0]


@pytest.fixture
def other_ca_file(tmp_path: Path) -> Path:
    """A CA that signed nothing the emulator serves."""
    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def hashed_ca_directory(tls_emulator: TlsEmulator, tmp_path: Path) -> Path:
    """A directory holding the CA under its OpenSSL subject hash (what ``openssl rehash`` makes)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to name a certificate by its hash")
    subject_hash = subprocess.run(  # noqa: S603 - a fixed program and arguments
        [openssl, "x509", "-subject_hash", "-noout", "-in", str(tls_emulator.ca_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(tls_emulator.ca_file, directory / f"{subject_hash}.0")
    return directory


def make_client(emulator: TlsEmulator, http_backend: str, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {
        "base_url": emulator.base_url,
        "http_backend": http_backend,
        "backoff": FAST,
        "max_retries": 0,
    }
    settings.update(options)
    return AsyncClient(emulator.emulator.project_id, emulator.emulator.token, **settings)


async def mute(client: AsyncClient) -> None:
    participant = await client.conferences("CF1").participants("CA1").mute()
    assert participant.muted is True


# --- what may be trusted ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("as_type", [str, Path], ids=["str", "Path"])
async def test_verify_takes_a_ca_bundle_file(
    tls_emulator: TlsEmulator, http_backend: str, as_type: Callable[[Path], Any]
) -> None:
    async with make_client(
        tls_emulator, http_backend, verify=as_type(tls_emulator.ca_file)
    ) as client:
        await mute(client)


@pytest.mark.anyio
async def test_verify_takes_a_directory_of_hashed_certificates(
    tls_emulator: TlsEmulator, http_backend: str, hashed_ca_directory: Path
) -> None:
    async with make_client(tls_emulator, http_backend, verify=str(hashed_ca_directory)) as client:
        await mute(client)


@pytest.mark.anyio
async def test_verify_takes_an_ssl_context_as_given(
    tls_emulator: TlsEmulator, http_backend: str
) -> None:
    context = ssl.create_default_context(cafile=str(tls_emulator.ca_file))
    async with make_client(tls_emulator, http_backend, verify=context) as client:
        await mute(client)


@pytest.mark.anyio
async def test_ssl_cert_file_from_the_environment_is_trusted(
    tls_emulator: TlsEmulator, http_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_emulator.ca_file))
    async with make_client(tls_emulator, http_backend) as client:
        await mute(client)


@pytest.mark.anyio
async def test_ssl_cert_dir_from_the_environment_is_trusted(
    tls_emulator: TlsEmulator,
    http_backend: str,
    hashed_ca_directory: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", f"/nonexistent/certs:{hashed_ca_directory}")
    async with make_client(tls_emulator, http_backend) as client:
        await mute(client)


@pytest.mark.anyio
async def test_trust_env_false_ignores_ssl_cert_file(
    tls_emulator: TlsEmulator, http_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_emulator.ca_file))
    async with make_client(tls_emulator, http_backend, trust_env=False) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await mute(client)


@pytest.mark.anyio
async def test_an_explicit_verify_wins_over_ssl_cert_file(
    tls_emulator: TlsEmulator,
    http_backend: str,
    other_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca_file))
    async with make_client(tls_emulator, http_backend, verify=str(tls_emulator.ca_file)) as client:
        await mute(client)


@pytest.mark.anyio
@pytest.mark.parametrize("source", ["verify", "SSL_CERT_FILE", "default"])
async def test_a_certificate_from_an_unknown_ca_is_a_connection_error(
    tls_emulator: TlsEmulator,
    http_backend: str,
    other_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    options: dict[str, Any] = {}
    if source == "verify":
        options["verify"] = str(other_ca_file)
    elif source == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(other_ca_file))
    async with make_client(tls_emulator, http_backend, **options) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await mute(client)
    assert caught.value.possibly_delivered is False


# --- one context per distinct verify -----------------------------------------------------


@pytest.fixture
def contexts_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every verifying context built from now on (by us, httpx or aiohttp), with fresh caches."""
    built: list[object] = []
    original = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = original(*args, **kwargs)
        built.append(context)
        return context

    _tls._context.cache_clear()
    _tls._default_context.cache_clear()
    monkeypatch.setattr(ssl, "create_default_context", counting)
    yield built
    _tls._context.cache_clear()
    _tls._default_context.cache_clear()


async def _burst(client: AsyncClient, in_flight: int) -> None:
    async with anyio.create_task_group() as group:
        for _ in range(in_flight):
            group.start_soon(mute, client)


@pytest.mark.anyio
async def test_the_tls_context_is_built_once_per_distinct_verify(
    tls_emulator: TlsEmulator,
    http_backend: str,
    other_ca_file: Path,
    contexts_built: list[object],
) -> None:
    ca = tls_emulator.ca_file
    same_file_spelled_differently = f"{ca.parent}/./{ca.name}"
    for verify in (str(ca), ca, same_file_spelled_differently):
        async with make_client(
            tls_emulator, http_backend, verify=verify, max_connections=8
        ) as client:
            await _burst(client, 16)  # eight connections, each its own pool under httpx
    assert len(contexts_built) == 1

    async with make_client(tls_emulator, http_backend, verify=str(other_ca_file)) as client:
        pass
    assert len(contexts_built) == 2

    given = ssl.create_default_context(cafile=str(ca))
    async with make_client(tls_emulator, http_backend, verify=given, max_connections=4) as client:
        await _burst(client, 8)
    assert len(contexts_built) == 3  # the one made just above, and no other


# --- verification cannot be switched off, and a wrong path is an error at once -----------


def _client(**options: Any) -> AsyncClient:
    return AsyncClient("PJ", "tok", space_url="example.signalwire.com", **options)


def _no_verification() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _no_host_names() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    return context


@pytest.mark.parametrize(
    ("verify", "message"),
    [
        (False, "verification cannot be switched off; pass a CA bundle"),
        (0, "verification cannot be switched off"),
        (None, "verification cannot be switched off"),
        ("", "verification cannot be switched off"),
        (b"/etc/ssl/ca.pem", "verification cannot be switched off"),
        ("/nonexistent/ca.pem", "no CA bundle file or directory at '/nonexistent/ca.pem'"),
        ("ca\x00.pem", "verification cannot be switched off"),
        (_no_verification(), "does not check certificates"),
        (_no_host_names(), "does not check certificates and host names"),
    ],
)
def test_bad_verify_values_are_refused_naming_verify(verify: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message) as caught:
        _client(verify=verify)
    assert caught.value.parameter == "verify"


def test_a_file_that_is_no_ca_bundle_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(InvalidParameterError, match="cannot load the CA certificates") as caught:
        _client(verify=junk)
    assert caught.value.parameter == "verify"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SSL_CERT_FILE", "/nonexistent/ca.pem", "SSL_CERT_FILE names no CA bundle file"),
        ("SSL_CERT_FILE", "/", "SSL_CERT_FILE names no CA bundle file"),
        ("SSL_CERT_DIR", "/nonexistent/certs", "SSL_CERT_DIR names no certificate directory"),
    ],
)
def test_a_wrong_environment_path_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidParameterError, match=message) as caught:
        _client()
    assert caught.value.parameter == variable
    _client(trust_env=False)  # not read at all
    _client(verify=ssl.create_default_context())  # an explicit verify wins


def test_the_default_context_verifies() -> None:
    context = _tls.resolve_verify(True, trust_env=False)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert _tls.resolve_verify(True, trust_env=False) is context
