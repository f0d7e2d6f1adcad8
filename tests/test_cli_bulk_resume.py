"""`aioparticipant bulk` as a real process: killed mid-job, interrupted with Ctrl-C, resumed.

Every input row must end up in the results exactly once across the runs, and
an update may be sent twice only if it was in flight when the process died.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aioparticipant.emulator import Emulator, serve_in_thread

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PROJECT = "PJ-resume"
TOKEN = "tok-resume-s3cr3t"
CONFERENCE = "CF-resume"
ROWS = 200
CONCURRENCY = 8
CLI = [sys.executable, "-c", "import sys; from aioparticipant.cli import main; sys.exit(main())"]
ENV = {**os.environ, "SIGNALWIRE_PROJECT_ID": PROJECT, "SIGNALWIRE_API_TOKEN": TOKEN}


def call(index: int) -> str:
    return f"CA-{index:04d}"


@contextmanager
def slow_emulator() -> Iterator[tuple[Emulator, str]]:
    # 8 in flight at 50 ms each: about 160 updates a second, slow enough to stop mid-job.
    emulator = Emulator(project_id=PROJECT, token=TOKEN, latency=0.05)
    for index in range(ROWS):
        emulator.add_participant(CONFERENCE, call(index), muted=False)
    with serve_in_thread(emulator) as server:
        yield emulator, server.base_url


def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    lines = ["conference_sid,call_sid,muted"] + [
        f"{CONFERENCE},{call(i)},true" for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_bulk(source: Path, out: Path, base_url: str, *extra: str) -> subprocess.Popen[str]:
    arguments = ["--out", str(out), "--base-url", base_url, "--concurrency", str(CONCURRENCY)]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [*CLI, "bulk", str(source), *arguments, *extra],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(out: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    pytest.fail(f"{out} did not reach {count} lines")


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert TOKEN not in err
    return process.returncode, err


def recorded(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_a_job_killed_mid_run_resumes_and_records_every_row_exactly_once(tmp_path: Path) -> None:
    source, out = input_file(tmp_path), tmp_path / "results.jsonl"
    with slow_emulator() as (emulator, base_url):
        process = start_bulk(source, out, base_url)
        wait_for_lines(out, 30, process)
        process.send_signal(signal.SIGKILL)
        assert finish(process)[0] == -signal.SIGKILL
        first_run = out.read_bytes().count(b"\n")
        assert 30 <= first_run < ROWS, "the kill did not land mid-job"

        code, err = finish(start_bulk(source, out, base_url, "--resume"))
        assert code == 0, err
        updates = emulator.stats.updates
        assert all(emulator.participant(CONFERENCE, call(i)).muted for i in range(ROWS))

    rows = [record["row"] for record in recorded(out)]
    assert sorted(rows) == list(range(1, ROWS + 1)), "each row exactly once across both runs"
    # Only updates in flight at the kill (sent, never recorded) may have been sent twice.
    assert ROWS <= updates <= ROWS + CONCURRENCY
    assert f"skipped {first_run} rows already recorded" in err


def test_ctrl_c_finishes_the_updates_in_flight_records_them_and_exits_130(tmp_path: Path) -> None:
    source, out = input_file(tmp_path), tmp_path / "results.jsonl"
    with slow_emulator() as (emulator, base_url):
        process = start_bulk(source, out, base_url)
        wait_for_lines(out, 30, process)
        process.send_signal(signal.SIGINT)
        code, err = finish(process)
        assert code == 130, err
        assert "stopping" in err
        assert "--resume" in err
        first_run = recorded(out)  # every line whole: the file parses
        assert len(first_run) < ROWS, "Ctrl-C did not land mid-job"
        # Nothing in flight was abandoned: every update sent so far is recorded.
        assert emulator.stats.updates == len(first_run)

        code, err = finish(start_bulk(source, out, base_url, "--resume"))
        assert code == 0, err
        assert emulator.stats.updates == ROWS, "no update was sent twice"

    assert sorted(record["row"] for record in recorded(out)) == list(range(1, ROWS + 1))


def test_end_to_end_against_the_emulator_command(tmp_path: Path) -> None:
    seed = tmp_path / "participants.json"
    participants = [{"conference_sid": CONFERENCE, "call_sid": call(i)} for i in range(20)]
    seed.write_text(json.dumps(participants), encoding="utf-8")
    emulator = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [*CLI, "emulator", "--port", "0", "--participants", str(seed)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        base_url = ""
        for line in emulator.stdout:
            if "SignalWire base URL" in line:
                base_url = line.split()[-1]
                break
        assert base_url.startswith("http://127.0.0.1:")
        source = tmp_path / "in.jsonl"
        source.write_text(
            "".join(
                json.dumps({"conference_sid": CONFERENCE, "call_sid": call(i)}) + "\n"
                for i in range(20)
            ),
            encoding="utf-8",
        )
        out = tmp_path / "results.jsonl"
        code, err = finish(start_bulk(source, out, base_url, "--hold", "--hold-url", ""))
        assert code == 0, err
        assert "20 ok" in err
        assert all(record["participant"]["hold"] for record in recorded(out))
    finally:
        emulator.send_signal(signal.SIGINT)
        output, _ = emulator.communicate(timeout=15)
    assert "(20 updates)" in output
