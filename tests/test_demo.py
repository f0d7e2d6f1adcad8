"""``aioparticipant demo``: small runs end to end, and a check that catches what went wrong."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from aioparticipant import AsyncClient, Participant
from aioparticipant.cli import _demo_job, main
from aioparticipant.cli._demo_scenario import (
    ANNOUNCEMENT_URL,
    HOLD_MUSIC_URL,
    Wanted,
    build_plan,
    state_differences,
)

SMALL = ["--conferences", "8", "--per-conference", "20", "--latency", "0.005"]


def run_demo(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["demo", "--progress", "none", *flags])
    return code, capsys.readouterr().out


def figure(output: str, label: str) -> int:
    match = re.search(rf"{label}\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_a_small_demo_does_every_update_and_finds_the_state_exactly_as_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, output = run_demo(capsys, *SMALL, "--rate", "2000")
    assert code == 0, output
    # 8 rooms of an agent, a supervisor and 18 customers.
    assert "updates done      229 of 229 asked" in output
    assert "144 mutes, 40 holds, 24 supervisor steps, 20 announcements, 1 removals" in output
    assert "final state       exactly as asked: 159 participants" in output
    assert "20 of 20 people heard it exactly once" in output
    assert output.rstrip().endswith("Result: OK, nothing lost, nothing wrong")


def test_the_demo_absorbs_429s_when_the_service_limit_is_below_the_clients_pace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 64 requests in flight at once against a bucket of 30: the first burst overflows.
    code, output = run_demo(
        capsys, "--conferences", "3", "--per-conference", "10", "--rate", "30", "--latency", "0"
    )
    assert code == 0, output
    assert figure(output, "429s absorbed") > 0
    assert figure(output, "retries") >= figure(output, "429s absorbed")


def test_unconfirmed_announcements_are_settled_from_the_log_never_played_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One request at a time and no rate limit: the seeded faults land on the same
    # requests every run, so this run is the same every time.
    code, output = run_demo(
        capsys,
        *("--conferences", "1", "--per-conference", "30", "--concurrency", "1", "--seed", "3"),
        *("--rate", "100000", "--latency", "0", "--fault-rate", "0.25", "--max-retries", "20"),
    )
    assert code == 0, output
    assert (
        "30 of 30 people heard it exactly once; 29 confirmed by the API, "
        "1 unconfirmed but found played in the AnnounceUrl log, "
        "5 sent again after the log showed they had not played"
    ) in output


def test_the_demo_runs_on_trio(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_demo(
        capsys, "--conferences", "3", "--per-conference", "6", "--backend", "trio"
    )
    assert code == 0, output
    assert "httpx on trio" in output


def test_work_left_undone_fails_the_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def forget_to_remove(self: Any, client: AsyncClient) -> None:
        return None

    monkeypatch.setattr(_demo_job.DemoJob, "_remove", forget_to_remove)
    code, output = run_demo(capsys, *SMALL, "--fault-rate", "0")
    assert code == 1
    assert "Result: FAILED" in output
    assert "should have been removed" in output


def test_an_announcement_played_twice_fails_the_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    announce = _demo_job.DemoJob._announce

    async def announce_once_too_often(self: Any, client: AsyncClient) -> None:
        await announce(self, client)
        room = self.plan.announced
        await (
            client.conferences(room.conference_sid)
            .participants(room.agent)
            .announce(ANNOUNCEMENT_URL)
        )

    monkeypatch.setattr(_demo_job.DemoJob, "_announce", announce_once_too_often)
    code, output = run_demo(capsys, *SMALL, "--fault-rate", "0")
    assert code == 1
    assert "announcement played 2 times" in output


def test_the_console_script_shows_progress_and_the_summary() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aioparticipant.cli",
            "demo",
            "--conferences",
            "5",
            "--per-conference",
            "8",
            "--progress",
            "plain",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mute customers: 30/30" in done.stderr
    assert "list every room back: 5/5" in done.stderr
    assert "Result: OK" in done.stdout
    for label in ("updates done", "retries", "429s absorbed", "elapsed", "achieved rate"):
        assert label in done.stdout


# --- the plan and the check, without a server ----------------------------------------


def test_the_plan_is_reproducible_and_its_expected_state_follows_the_job() -> None:
    plan = build_plan(20, 10, seed=5)
    assert plan == build_plan(20, 10, seed=5)
    assert plan != build_plan(20, 10, seed=6)
    assert plan.participant_count == 200
    expected = plan.expected()
    assert len(expected) == 200 - 2  # rooms 0 and 10 each lose a customer
    room = plan.rooms[0]
    assert expected[(room.conference_sid, room.customers[0])].hold_url == HOLD_MUSIC_URL
    assert expected[(room.conference_sid, room.customers[1])].hold is False
    assert expected[(room.conference_sid, room.customers[1])].muted is True
    assert (room.conference_sid, room.customers[-1]) not in expected
    assert expected[(room.conference_sid, room.supervisor)].coaching is False


def test_state_differences_names_each_field_that_differs() -> None:
    plan = build_plan(1, 4, seed=1)
    room = plan.rooms[0]
    expected = plan.expected()

    def as_seen(call_sid: str, **changes: Any) -> Participant:
        wanted = expected.get((room.conference_sid, call_sid), Wanted())
        fields = {name: getattr(wanted, name) for name in ("muted", "hold", "hold_url")}
        return Participant(call_sid=call_sid, coaching=False, **{**fields, **changes})

    right = [as_seen(room.agent), as_seen(room.supervisor), as_seen(room.customers[0])]
    # customers[1] is the one removed (one room in ten, the last customer).
    assert state_differences(plan, {room.conference_sid: right}, where="API") == []
    wrong = [
        as_seen(room.agent, muted=True),
        as_seen(room.supervisor),
        Participant(call_sid="CAstranger"),
        as_seen(room.customers[0]),
        as_seen(room.customers[1]),
    ]
    problems = state_differences(plan, {room.conference_sid: wrong}, where="API")
    assert f"API: {room.agent} has muted=True, asked False" in problems
    assert any("unexpected participant CAstranger" in p for p in problems)
    assert f"API: {room.customers[1]} should have been removed" in problems
    assert state_differences(plan, {}, where="emulator")[0].endswith(
        "is missing from " + room.conference_sid
    )


def test_the_summary_splits_the_clients_retries_by_cause(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, output = run_demo(
        capsys,
        # 8 mutes at once against a bucket of 5: 429s are certain; a third of answers fail.
        *("--conferences", "2", "--per-conference", "6", "--rate", "5", "--latency", "0"),
        *("--fault-rate", "0.3", "--max-retries", "20"),
    )
    assert code == 0, output
    match = re.search(
        r"retries\s+(\d+): (\d+) after a 429, (\d+) after a 5xx, (\d+) after a dropped connection",
        output,
    )
    assert match, output
    total, after_429, after_5xx, after_drop = (int(group) for group in match.groups())
    assert total == after_429 + after_5xx + after_drop
    assert after_429 > 0
    assert after_5xx + after_drop > 0


def test_the_demo_learns_the_services_limit_and_shows_it_beside_the_real_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, output = run_demo(capsys, *SMALL, "--rate", "50", "--latency", "0")
    assert code == 0, output
    assert "client rate limit auto" in output
    match = re.search(r"learned limit\s+([\d,]+)/s; the service's limit is 50/s", output)
    assert match, output
    assert 40 <= int(match.group(1).replace(",", "")) <= 51
