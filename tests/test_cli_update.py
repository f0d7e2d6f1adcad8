"""`aioparticipant update CONFERENCE_SID CALL_SID [flags]`: one participant, printed as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from aioparticipant._params import UPDATE_PARAMETERS, Kind
from aioparticipant.cli import main
from aioparticipant.emulator import Emulator, serve_in_thread

PROJECT = "PJ-update"
TOKEN = "tok-update-s3cr3t"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, str]]:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", PROJECT)
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", TOKEN)
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL", raising=False)
    emulator = Emulator(project_id=PROJECT, token=TOKEN)
    emulator.add_participant("CF1", "CA1", muted=False, hold=False)
    with serve_in_thread(emulator) as server:
        yield emulator, server.base_url


def update(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["update", *argv])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    return code, out, err


def test_update_sends_the_flags_and_prints_the_participant_as_json(
    served: tuple[Emulator, str], capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, base_url = served
    code, out, err = update(
        capsys,
        "CF1",
        "CA1",
        "--muted",
        "--hold",
        "--hold-url",
        "https://example.com/hold.xml",
        "--hold-method",
        "get",
        "--base-url",
        base_url,
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["call_sid"] == "CA1"
    assert printed["muted"] is True
    assert printed["hold"] is True
    assert printed["date_updated"].endswith("Z")  # ISO 8601, as JSON tools read dates
    state = emulator.participant("CF1", "CA1")
    assert (state.muted, state.hold, state.hold_url) == (
        True,
        True,
        "https://example.com/hold.xml",
    )


def test_no_flag_sends_false(
    served: tuple[Emulator, str], capsys: pytest.CaptureFixture[str]
) -> None:
    emulator, base_url = served
    assert update(capsys, "CF1", "CA1", "--muted", "--base-url", base_url)[0] == 0
    assert emulator.participant("CF1", "CA1").muted is True
    code, out, _ = update(capsys, "CF1", "CA1", "--no-muted", "--base-url", base_url)
    assert code == 0
    assert json.loads(out)["muted"] is False
    assert emulator.participant("CF1", "CA1").muted is False


def test_an_api_error_exits_1_with_the_status_on_stderr(
    served: tuple[Emulator, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, base_url = served
    code, out, err = update(capsys, "CF1", "CA-gone", "--muted", "--base-url", base_url)
    assert code == 1
    assert out == ""
    assert "HTTP 404" in err


def test_bad_values_and_missing_credentials_are_usage_errors_and_send_nothing(
    served: tuple[Emulator, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, base_url = served
    code, _, err = update(capsys, "CF1", "CA1", "--hold-url", "music.xml", "--base-url", base_url)
    assert code == 2
    assert "hold_url" in err
    code, _, err = update(capsys, "CF1", "CA/1", "--muted", "--base-url", base_url)
    assert code == 2
    assert "call_sid" in err
    monkeypatch.delenv("SIGNALWIRE_PROJECT_ID")
    code, _, err = update(capsys, "CF1", "CA1", "--muted", "--base-url", base_url)
    assert code == 2
    assert "SIGNALWIRE_PROJECT_ID" in err
    assert emulator.stats.requests == 0


def test_every_update_parameter_has_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["update", "--help"])
    help_text = capsys.readouterr().out
    for keyword, parameter in UPDATE_PARAMETERS.items():
        flag = "--" + keyword.replace("_", "-")
        assert flag in help_text
        if parameter.kind is Kind.BOOL:
            assert f"--no-{keyword.replace('_', '-')}" in help_text
