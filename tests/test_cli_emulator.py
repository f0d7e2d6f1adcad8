"""``aioparticipant emulator`` as a user runs it: a subprocess, a real port, Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aioparticipant.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")

STARTUP_TIMEOUT = 30.0


class Running:
    """A running ``aioparticipant emulator`` whose output is read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "aioparticipant.cli", "emulator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_until(self, marker: str, timeout: float = STARTUP_TIMEOUT) -> str:
        while True:  # ends at the marker, or when the queue stays empty past the timeout
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {marker!r} in output: {self.seen}") from None
            self.seen.append(line)
            if marker in line:
                return "\n".join(self.seen)

    def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=15)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return code, "\n".join(self.seen + rest)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def launch() -> Iterator[type[Running]]:
    started: list[Running] = []

    class Tracked(Running):
        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Tracked
    for running in started:
        running.kill()


def environment(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWIRE_")}
    env.update(variables)
    return env


def base_url(output: str) -> str:
    match = re.search(r"SignalWire base URL\s+(\S+)", output)
    assert match, output
    return match.group(1)


def test_serves_the_participants_file_until_ctrl_c_and_never_prints_the_token(
    launch: type[Running], tmp_path: Path
) -> None:
    participants = tmp_path / "participants.json"
    participants.write_text(
        json.dumps(
            [
                {"conference_sid": "CF1", "call_sid": "CA1", "label": "agent"},
                {"conference_sid": "CF1", "call_sid": "CA2", "muted": True},
            ]
        )
    )
    token = "do-not-print-me-0123456789"
    running = launch(
        ["--port", "0", "--participants", str(participants), "--rate-limit", "50"],
        environment(SIGNALWIRE_PROJECT_ID="PJtest", SIGNALWIRE_API_TOKEN=token),
    )
    output = running.read_until("Ctrl-C")
    url = base_url(output)
    assert url.startswith("http://127.0.0.1:")
    assert "2 in 1 conference" in output
    participant = f"{url}/Accounts/PJtest/Conferences/CF1/Participants/CA1.json"
    answer = httpx.post(participant, data={"Muted": "True"}, auth=("PJtest", token), timeout=10)
    assert answer.status_code == 200
    assert answer.json()["muted"] is True
    twilio_style = (
        url.replace("/api/laml", "") + "/Accounts/PJtest/Conferences/CF1/Participants.json"
    )
    listing = httpx.get(twilio_style, auth=("PJtest", token), timeout=10)
    assert [p["call_sid"] for p in listing.json()["participants"]] == ["CA1", "CA2"]
    assert httpx.get(participant, auth=("PJtest", "wrong"), timeout=10).status_code == 401

    code, output = running.interrupt()
    assert code == 0
    assert "stopped after 3 requests" in output
    assert token not in output


def test_without_credentials_it_makes_and_prints_throwaway_ones(launch: type[Running]) -> None:
    running = launch(["--port", "0"], environment())
    output = running.read_until("Ctrl-C")
    project = re.search(r"export SIGNALWIRE_PROJECT_ID=(\S+)", output)
    token = re.search(r"export SIGNALWIRE_API_TOKEN=(\S+)", output)
    assert project
    assert token
    url = f"{base_url(output)}/Accounts/{project.group(1)}/Conferences/CF1/Participants.json"
    # Unknown conference, but authenticated: the printed credentials are the ones served.
    answer = httpx.get(url, auth=(project.group(1), token.group(1)), timeout=10)
    assert answer.status_code == 404
    assert answer.json()["code"] == 20404
    code, _ = running.interrupt()
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "loopback"),
        (["--error-rate", "0.7", "--drop-rate", "0.7"], "must not exceed 1"),
        (["--participants", "/nonexistent/participants.json"], "--participants"),
        (["--rate-limit", "5", "--rate-window", "inf"], "rate_window"),
    ],
)
def test_bad_options_are_refused_with_exit_code_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before anything listens, so this runs in process.
    assert main(["emulator", "--port", "0", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("window", ["0", "-10", "ten"])
def test_a_rate_window_that_is_not_positive_seconds_is_a_usage_error(
    window: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulator", "--port", "0", "--rate-limit", "5", "--rate-window", window])
    assert exited.value.code == 2
    assert "--rate-window" in capsys.readouterr().err


def test_rate_window_counts_the_limit_over_that_many_seconds(launch: type[Running]) -> None:
    running = launch(
        ["--port", "0", "--rate-limit", "1", "--rate-window", "3"],
        environment(SIGNALWIRE_PROJECT_ID="PJtest", SIGNALWIRE_API_TOKEN="t0ken-t0ken"),
    )
    output = running.read_until("Ctrl-C")
    assert "rate limit 3 per 3s" in output
    url = f"{base_url(output)}/Accounts/PJtest/Conferences/CF1/Participants.json"
    answers = [httpx.get(url, auth=("PJtest", "t0ken-t0ken"), timeout=10) for _ in range(4)]
    # Three requests in three seconds pass (404: no such conference, but admitted) ...
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429]
    # ... and the fourth may come when the first is three seconds old: within 3 s from now.
    assert answers[3].headers["retry-after"] in ("1", "2", "3")
    assert answers[3].json()["code"] == 20429
    code, _ = running.interrupt()
    assert code == 0
