"""Real network pieces for the proxy and TLS tests: the emulator over TLS, and tinyproxy.

- ``TlsEmulator``: ``aioparticipant.emulator.Emulator`` served by uvicorn over
  TLS on 127.0.0.1, with a certificate from a throw-away ``trustme`` CA.
- ``Tinyproxy``: Debian's tinyproxy on a free loopback port, from a generated
  config, in the foreground, logging every request to a file the tests read
  to prove a request went through it. Stopped by its PID.

Set AIOPARTICIPANT_REQUIRE_TINYPROXY=1 to fail, not skip, when tinyproxy is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
import uvicorn

from aioparticipant.emulator import Emulator

__all__ = [
    "NETWORK_VARIABLES",
    "PROXY_PASSWORD",
    "PROXY_USER",
    "Tinyproxy",
    "TlsEmulator",
    "free_port",
    "serve_tls_emulator",
    "start_tinyproxy",
]

#: Everything in the environment that changes where requests go or whom they trust.
NETWORK_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUEST_METHOD",
)
PROXY_USER = "proxyuser"
PROXY_PASSWORD = "Pr0xy-s3cret-pw"
_API_PATH = "/api/laml/2010-04-01"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TlsEmulator:
    emulator: Emulator
    port: int
    ca_file: Path  # the throw-away CA that signed the server's certificate, PEM
    ca: trustme.CA

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + _API_PATH


@contextlib.contextmanager
def serve_tls_emulator(workdir: Path) -> Iterator[TlsEmulator]:
    """The emulator over TLS on a free 127.0.0.1 port, for the ``with`` block."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    key_file, chain_file = workdir / "server.key", workdir / "server.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(chain_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(chain_file), append=True)

    emulator = Emulator()
    config = uvicorn.Config(
        emulator,
        ssl_keyfile=str(key_file),
        ssl_certfile=str(chain_file),
        ws="none",
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    # Our own listening socket (asyncio sets TCP_NODELAY on every connection it accepts).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the TLS emulator did not start")
            time.sleep(0.01)
        yield TlsEmulator(emulator, int(sock.getsockname()[1]), ca_file, ca)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Tinyproxy:
    port: int
    log_file: Path
    process: subprocess.Popen[bytes]
    user: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def requests_for(self, target: str) -> int:
        """Requests the proxy logged whose line names ``target`` (``CONNECT 127.0.0.1:PORT``)."""
        return sum(1 for line in self.log().splitlines() if "Request (" in line and target in line)


@contextlib.contextmanager
def start_tinyproxy(
    workdir: Path, *, connect_ports: list[int], user: str | None = None, password: str | None = None
) -> Iterator[Tinyproxy]:
    """tinyproxy on a free 127.0.0.1 port, allowing CONNECT to ``connect_ports`` only."""
    program = shutil.which("tinyproxy")
    if program is None:
        reason = "tinyproxy is not on PATH (apt-get install -y tinyproxy)"
        if os.environ.get("AIOPARTICIPANT_REQUIRE_TINYPROXY"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    log_file = workdir / "tinyproxy.log"
    log_file.touch()
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "Allow 127.0.0.1",
        *(f"ConnectPort {allowed}" for allowed in connect_ports),
        f'LogFile "{log_file}"',
        "LogLevel Connect",
        "MaxClients 256",
        "DisableViaHeader Yes",
    ]
    if user is not None:
        # In the config file, not on the command line, where `ps` would show it.
        lines.append(f"BasicAuth {user} {password}")
    config = workdir / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    output = (workdir / "tinyproxy.out").open("wb")
    process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
        [program, "-d", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
    )
    try:
        _wait_listening(port, process, workdir)
        yield Tinyproxy(port, log_file, process, user, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = (workdir / "tinyproxy.out").read_text(errors="replace")
            pytest.fail(f"tinyproxy did not start on port {port}:\n{output}")
        time.sleep(0.02)


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context trusting only ``ca_file``."""
    return ssl.create_default_context(cafile=str(ca_file))
