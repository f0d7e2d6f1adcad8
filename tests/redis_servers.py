"""Real redis-servers for the tests: one plain server, or a three-node Redis Cluster.

Each listens on 127.0.0.1 only, on a free port, keeps nothing on disk, and is
stopped by its PID. Set AIOPARTICIPANT_REQUIRE_REDIS=1 to fail, not skip,
when redis-server (or redis-cli, for the cluster) is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

PASSWORD = "redis-s3cret-pw"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_cluster_port() -> int:
    """A free port P <= 55535 whose cluster bus port P + 10000 is free as well."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        if all(_bindable(candidate) for candidate in (port, port + 10_000)):
            return port
    raise RuntimeError("no free pair of loopback ports for a Redis Cluster node")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not on PATH (apt-get install -y redis-server)"
        if os.environ.get("AIOPARTICIPANT_REQUIRE_REDIS"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class RedisServer:
    """One redis-server process that a test may stop, freeze and start again on its port."""

    def __init__(self, workdir: Path, *, password: str | None = PASSWORD, cluster: bool = False):
        self.workdir = workdir
        self.password = password
        self.cluster = cluster
        self.port = free_cluster_port() if cluster else free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        config = self.workdir / f"redis-{self.port}.conf"
        # The password comes through the config file, not argv, where `ps` would show it.
        lines = [f"requirepass {self.password}"] if self.password else []
        if self.cluster:
            lines += ["cluster-enabled yes", f"cluster-config-file nodes-{self.port}.conf"]
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
            [
                _program("redis-server"),
                str(config),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_it_answers()

    def wait_until_it_answers(self) -> None:
        assert self.process is not None
        probe = redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.5
        )
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis.exceptions.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.process.kill()
                        log = self.process.communicate()[0].decode(errors="replace")
                        pytest.fail(f"redis-server did not start on port {self.port}:\n{log}")
                    time.sleep(0.05)
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL), by its PID."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        self.process.terminate()
        try:
            self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: it still accepts connections (the kernel does) but never answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextmanager
def redis_server(workdir: Path, *, password: str | None = PASSWORD) -> Iterator[RedisServer]:
    """A password-protected redis-server of our own on a free loopback port."""
    server = RedisServer(workdir, password=password)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def redis_cluster(workdir: Path, *, nodes: int = 3) -> Iterator[list[RedisServer]]:
    """A Redis Cluster of ``nodes`` primaries (no replicas, no password) on loopback ports."""
    cli = _program("redis-cli")
    servers = [RedisServer(workdir, password=None, cluster=True) for _ in range(nodes)]
    try:
        for server in servers:
            server.start()
        addresses = [f"127.0.0.1:{server.port}" for server in servers]
        subprocess.run(  # noqa: S603 - a fixed program and arguments
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _wait_for_cluster_ok(servers)
        yield servers
    finally:
        for server in servers:
            server.stop()


def _wait_for_cluster_ok(servers: list[RedisServer]) -> None:
    deadline = time.monotonic() + 20
    clients = [redis.Redis(host="127.0.0.1", port=server.port) for server in servers]
    try:
        while True:
            states = [client.cluster("info").get("cluster_state") for client in clients]
            if all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the Redis Cluster did not reach cluster_state:ok: {states}")
            time.sleep(0.1)
    finally:
        for client in clients:
            client.close()
