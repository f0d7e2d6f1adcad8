"""The console script's frame: commands, help, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aioparticipant import __version__
from aioparticipant.cli import COMMANDS, build_parser, main


def test_every_command_is_offered() -> None:
    help_text = build_parser().format_help()
    for name in ("demo", "emulator"):
        assert name in COMMANDS
        assert name in help_text


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_a_bad_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--conferences", "0"])
    assert exit_.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_main() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aioparticipant.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert __version__ in done.stdout
