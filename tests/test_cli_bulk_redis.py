"""`aioparticipant bulk --redis-url URL --redis-key KEY --rate R`: runs under one shared limit.

Against the emulator on a loopback port and a real redis-server with a password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from aioparticipant.cli import main
from aioparticipant.redis._scripts import limit_keys

from .redis_servers import PASSWORD, free_port, redis_server
from .test_cli_bulk import CONFERENCE, PROJECT, TOKEN, bulk, by_row, call, serving, write_csv


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", PROJECT)
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", TOKEN)
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL", raising=False)
    monkeypatch.delenv("AIOPARTICIPANT_REDIS_URL", raising=False)


@pytest.fixture
def key() -> str:
    return f"aioparticipant-test:{uuid.uuid4().hex}"


def rows_file(tmp_path: Path, count: int, start: int = 0) -> Path:
    rows = [f"{CONFERENCE},{call(i)},true" for i in range(start, start + count)]
    return write_csv(tmp_path / f"in-{start}.csv", "conference_sid,call_sid,muted", rows)


def test_a_run_goes_at_the_shared_rate_and_never_shows_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str, key: str
) -> None:
    out = tmp_path / "results.jsonl"
    with serving(12) as (emulator, base_url):
        started = time.monotonic()
        code, stdout, err = bulk(
            capsys,
            rows_file(tmp_path, 12),
            *("--out", out, "--base-url", base_url),
            *("--redis-url", redis_url, "--redis-key", key, "--rate", "40", "--burst", "2"),
        )
        elapsed = time.monotonic() - started
    assert code == 0, err
    assert sorted(by_row(out)) == list(range(1, 13))
    assert emulator.stats.updates == 12
    # 12 bulk updates, a burst of 2 with 1 in reserve: at least 11 intervals of 25 ms.
    assert elapsed >= 11 / 40 - 0.01
    assert PASSWORD not in stdout + err


def test_two_runs_on_one_key_share_the_rate(tmp_path: Path, redis_url: str, key: str) -> None:
    # Two separate processes, as two machines would run them.
    count, rate = 15, 30
    with serving(2 * count) as (emulator, base_url):
        commands = [
            [
                sys.executable,
                *("-m", "aioparticipant.cli", "bulk", str(rows_file(tmp_path, count, start))),
                *("--out", str(tmp_path / f"out-{start}.jsonl"), "--base-url", base_url),
                *("--redis-key", key, "--rate", str(rate), "--burst", "1", "-q"),
            ]
            for start in (0, count)
        ]
        # The URL (and its password) through the environment: not visible in `ps`.
        environment = {**os.environ, "AIOPARTICIPANT_REDIS_URL": redis_url}
        started = time.monotonic()
        runs = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for command in commands
        ]
        outputs = [run.communicate(timeout=60) for run in runs]
        elapsed = time.monotonic() - started
    for run, (stdout, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert PASSWORD not in stdout + err
    assert emulator.stats.updates == 2 * count
    # 30 updates through one limit of 30/s: at least 29 intervals (start-up adds to it).
    assert elapsed >= (2 * count - 1) / rate - 0.05


def test_an_unreachable_redis_stops_the_run_and_leaves_its_rows_for_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"  # nobody listens there
    out = tmp_path / "results.jsonl"
    with serving(5) as (emulator, base_url):
        code, stdout, err = bulk(
            capsys,
            rows_file(tmp_path, 5),
            *("--out", out, "--base-url", base_url),
            *("--redis-url", url, "--redis-key", key, "--rate", "10"),
        )
    assert code == 2
    assert "Redis" in err
    assert "redis://:***@127.0.0.1" in err
    assert PASSWORD not in stdout + err
    assert emulator.stats.updates == 0
    assert out.read_text(encoding="utf-8") == ""  # nothing recorded: --resume sends them all


def test_with_a_fallback_rate_a_run_finishes_while_redis_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    out = tmp_path / "results.jsonl"
    with serving(6) as (emulator, base_url):
        code, stdout, err = bulk(
            capsys,
            rows_file(tmp_path, 6),
            *("--out", out, "--base-url", base_url),
            *("--redis-url", url, "--redis-key", key, "--rate", "10"),
            *("--redis-fallback-rate", "100"),
        )
    assert code == 0, err
    assert emulator.stats.updates == 6
    assert "warning:" in err
    assert "fallback_rate=100" in err
    assert PASSWORD not in stdout + err


def test_the_run_takes_its_tokens_in_the_bulk_lane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str, key: str
) -> None:
    # A burst of 4 with 2 in reserve at 2/s: bulk gets 2 at once, the third 0.5 s
    # later. In the interactive lane all three would go at once.
    out = tmp_path / "results.jsonl"
    with serving(3) as (_, base_url):
        started = time.monotonic()
        code, _, err = bulk(
            capsys,
            rows_file(tmp_path, 3),
            *("--out", out, "--base-url", base_url, "--concurrency", "3"),
            *("--redis-url", redis_url, "--redis-key", key, "--rate", "2", "--burst", "4"),
            *("--redis-reserve", "2"),
        )
        elapsed = time.monotonic() - started
    assert code == 0, err
    assert elapsed >= 0.5 - 0.02
    inspector = redis.Redis.from_url(redis_url)
    try:
        assert inspector.exists(limit_keys(key)[0]) == 1  # the run went through Redis
    finally:
        inspector.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--redis-url", "redis://localhost"], "--redis-url needs --redis-key"),
        (["--redis-fallback-rate", "5", "--rate", "5"], "--redis-fallback-rate needs --redis-key"),
        (["--redis-key", "k", "--rate", "5"], "--redis-key needs --redis-url"),
        (["--redis-key", "k", "--redis-url", "redis://localhost"], "--redis-key needs --rate"),
        (
            ["--redis-key", "k", "--redis-url", f"redis://:{PASSWORD}@h:nope/0", "--rate", "5"],
            "--redis-url: url must be a Redis URL",
        ),
        (
            ["--redis-key", "k", "--redis-url", "http://localhost", "--rate", "5"],
            "--redis-url: url must be a Redis URL",
        ),
        (
            [
                *("--redis-key", "k", "--redis-url", "redis://localhost", "--rate", "5"),
                *("--burst", "2", "--redis-reserve", "2"),
            ],
            "--redis-reserve: reserve must be smaller than burst",
        ),
        (
            [
                *("--redis-key", "k", "--redis-url", "redis://localhost", "--rate", "5"),
                *("--redis-fallback-rate", "inf"),
            ],
            "--redis-fallback-rate: fallback_rate must be",
        ),
    ],
)
def test_redis_flags_that_do_not_fit_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, stdout, err = bulk(
        capsys,
        rows_file(tmp_path, 1),
        "--out",
        tmp_path / "out.jsonl",
        "--base-url",
        "http://127.0.0.1:9/api/laml/2010-04-01",
        *flags,
    )
    assert code == 2
    assert message in err
    assert PASSWORD not in stdout + err


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_a_bad_fallback_rate_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["bulk", "in.csv", "--redis-fallback-rate", value])
    assert caught.value.code == 2
    assert "--redis-fallback-rate" in capsys.readouterr().err


def test_help_shows_the_redis_flags_and_no_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bulk", "--help"])
    text = capsys.readouterr().out
    for flag in ("--redis-url", "--redis-key", "--redis-fallback-rate", "AIOPARTICIPANT_REDIS_URL"):
        assert flag in text
    assert "@" not in text.split("shared rate limit (Redis)")[1].split("\n\n")[0]


def test_results_lines_are_the_usual_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str, key: str
) -> None:
    out = tmp_path / "results.jsonl"
    with serving(2) as (_, base_url):
        code, _, err = bulk(
            capsys,
            rows_file(tmp_path, 2),
            *("--out", out, "--base-url", base_url),
            *("--redis-url", redis_url, "--redis-key", key, "--rate", "100"),
        )
    assert code == 0, err
    record = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert record["ok"] is True
    assert record["participant"]["muted"] is True
