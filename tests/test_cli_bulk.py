"""`aioparticipant bulk`, in process against the emulator on a loopback port.

The subprocess tests (a kill mid-job, Ctrl-C, the `aioparticipant emulator`
command) are in test_cli_bulk_resume.py.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aioparticipant.cli import main
from aioparticipant.emulator import Emulator, serve_in_thread

PROJECT = "PJ-cli-tests"
TOKEN = "tok-cli-s3cr3t-value"
CONFERENCE = "CF-cli"


def call(index: int) -> str:
    return f"CA-{index:04d}"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", PROJECT)
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", TOKEN)
    monkeypatch.delenv("SIGNALWIRE_SPACE_URL", raising=False)


@contextmanager
def serving(count: int, **options: Any) -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(project_id=PROJECT, token=TOKEN, **options)
    for index in range(count):
        emulator.add_participant(CONFERENCE, call(index), muted=False, hold=False)
    with serve_in_thread(emulator) as server:
        yield emulator, server.base_url


def bulk(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["bulk", *map(str, argv)])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    return code, out, err


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_row(path: Path) -> dict[int, dict[str, Any]]:
    lines = records(path)
    rows = {record["row"]: record for record in lines}
    assert len(rows) == len(lines), "a row was recorded twice"
    return rows


def test_csv_rows_are_sent_and_each_recorded_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{CONFERENCE},{call(i)},{'true' if i % 2 else 'No'}" for i in range(40)]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted", rows)
    out = tmp_path / "results.jsonl"
    with serving(40) as (emulator, base_url):
        code, _, err = bulk(capsys, source, "--out", out, "--base-url", base_url)
    assert code == 0, err
    results = by_row(out)
    assert sorted(results) == list(range(1, 41))
    first, second = results[1], results[2]
    assert first["conference_sid"] == CONFERENCE
    assert first["call_sid"] == call(0)
    assert first["ok"] is True
    assert first["outcome"] == "ok"
    assert first["participant"]["muted"] is False
    assert second["participant"]["muted"] is True
    assert "T" in first["participant"]["date_updated"]  # ISO 8601
    assert all(emulator.participant(CONFERENCE, call(i)).muted == bool(i % 2) for i in range(40))
    assert emulator.stats.updates == 40
    assert "40 rows recorded" in err
    assert "40 ok" in err


def test_jsonl_rows_take_flag_defaults_and_override_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"conference_sid": CONFERENCE, "call_sid": call(0)})
        + "\n\n"  # a blank line is not a row
        + json.dumps({"conference_sid": CONFERENCE, "call_sid": call(1), "hold": False})
        + "\n"
        + json.dumps({"conference_sid": CONFERENCE, "call_sid": call(2), "muted": None})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.jsonl"
    with serving(3) as (emulator, base_url):
        code, _, err = bulk(
            capsys,
            source,
            "--out",
            out,
            "--base-url",
            base_url,
            "--hold",
            "--hold-url",
            "https://example.com/hold.xml",
            "--muted",
            "--http-backend",
            "httpx",
        )
        states = [emulator.participant(CONFERENCE, call(i)) for i in range(3)]
    assert code == 0, err
    assert sorted(by_row(out)) == [1, 2, 3]
    assert [(p.muted, p.hold) for p in states] == [(True, True), (True, False), (True, True)]
    assert states[0].hold_url == "https://example.com/hold.xml"


def test_standard_input_is_read_with_a_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = "conference_sid,call_sid,hold\n" + "".join(
        f"{CONFERENCE},{call(i)},yes\n" for i in range(5)
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
    out = tmp_path / "results.jsonl"
    with serving(5) as (emulator, base_url):
        code, _, err = bulk(capsys, "-", "--out", out, "--base-url", base_url)
        assert all(emulator.participant(CONFERENCE, call(i)).hold for i in range(5))
    assert code == 0, err
    assert sorted(by_row(out)) == [1, 2, 3, 4, 5]


def test_bad_rows_become_failed_results_with_the_reason_and_are_not_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        f"{CONFERENCE},{call(0)},true,",  # fine
        f"{CONFERENCE},{call(1)},maybe,",  # not a boolean
        f"{CONFERENCE},,true,",  # no call sid
        f"{CONFERENCE},{call(2)},true,/relative",  # not an absolute URL
        f"{CONFERENCE},{call(3)},true",  # a cell short
        f"{CONFERENCE},CA/../other,true,",  # a sid that would change the path
        f"{CONFERENCE},CA-left-already,true,",  # sent: 404
    ]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted,hold_url", rows)
    out = tmp_path / "results.jsonl"
    with serving(4) as (emulator, base_url):
        code, _, err = bulk(capsys, source, "--out", out, "--base-url", base_url)
        requests = emulator.stats.requests
    assert code == 1
    results = by_row(out)
    assert sorted(results) == list(range(1, 8))
    assert results[1]["ok"] is True
    for row, fragment in [
        (2, "'maybe' is not a boolean"),
        (3, "call_sid is missing"),
        (4, "hold_url must be an absolute http(s) URL"),
        (5, "the row has 3 cells but the header has 4 columns"),
        (6, "call_sid must not contain '/'"),
    ]:
        record = results[row]
        assert record["ok"] is False
        assert record["outcome"] == "invalid"
        assert record["error"]["status"] is None
        assert record["error"]["code"] is None
        assert fragment in record["error"]["message"], record
    assert results[3]["call_sid"] is None
    assert results[4]["call_sid"] == call(2)
    gone = results[7]
    assert (gone["outcome"], gone["error"]["status"]) == ("not_found", 404)
    assert requests == 2, "only the valid rows were sent"
    assert "5 invalid" in err
    assert "1 not found" in err


def test_an_unknown_csv_column_fails_every_row_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(
        tmp_path / "in.csv", "conference_sid,call_sid,Muted", [f"{CONFERENCE},{call(0)},true"]
    )
    out = tmp_path / "results.jsonl"
    with serving(1) as (emulator, base_url):
        code, _, _ = bulk(capsys, source, "--out", out, "--base-url", base_url)
        assert emulator.stats.requests == 0
    assert code == 1
    (record,) = records(out)
    assert record["outcome"] == "invalid"
    assert "unknown column 'Muted'" in record["error"]["message"]
    assert "did you mean 'muted'" in record["error"]["message"]


def test_bad_json_lines_are_recorded_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(
            [
                "{not json",
                "[1, 2]",
                json.dumps({"conference_sid": CONFERENCE, "call_sid": call(0), "mute": True}),
                json.dumps({"conference_sid": CONFERENCE, "call_sid": call(0), "muted": "true"}),
                json.dumps({"conference_sid": CONFERENCE, "call_sid": call(0), "muted": True}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.jsonl"
    with serving(1) as (_, base_url):
        code, _, _ = bulk(capsys, source, "--out", out, "--base-url", base_url)
    assert code == 1
    results = by_row(out)
    assert sorted(results) == [1, 2, 3, 4, 5]
    assert "not valid JSON" in results[1]["error"]["message"]
    assert "expected a JSON object" in results[2]["error"]["message"]
    assert "unknown key 'mute'" in results[3]["error"]["message"]
    assert "muted must be True or False" in results[4]["error"]["message"]
    assert results[5]["ok"] is True


def test_dry_run_prints_what_would_be_sent_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"conference_sid": CONFERENCE, "call_sid": call(0), "hold_url": ""})
        + "\n"
        + json.dumps({"conference_sid": CONFERENCE, "call_sid": call(1), "hold_method": "put"})
        + "\n",
        encoding="utf-8",
    )
    with serving(2) as (emulator, base_url):
        code, out, err = bulk(capsys, source, "--dry-run", "--hold", "--base-url", base_url)
        assert emulator.stats.requests == 0
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["form"] == {"Hold": "true", "HoldUrl": ""}
    assert second["outcome"] == "invalid"
    assert "1 rows would be sent, 1 invalid" in err


def test_an_existing_results_file_is_not_overwritten_without_being_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid", [f"{CONFERENCE},{call(0)}"])
    out = tmp_path / "results.jsonl"
    out.write_text('{"row": 1, "ok": false}\n', encoding="utf-8")
    with serving(1) as (emulator, base_url):
        code, _, err = bulk(capsys, source, "--out", out, "--base-url", base_url)
        assert (code, emulator.stats.requests) == (2, 0)
        assert "--resume" in err
        assert "--overwrite" in err
        code, _, _ = bulk(capsys, source, "--out", out, "--overwrite", "--base-url", base_url)
    assert code == 0
    assert [record["ok"] for record in records(out)] == [True]


def test_resume_skips_recorded_rows_and_cuts_a_torn_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{CONFERENCE},{call(i)},true" for i in range(6)]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted", rows)
    out = tmp_path / "results.jsonl"
    with serving(6) as (emulator, base_url):
        code, _, _ = bulk(capsys, source, "--out", out, "--base-url", base_url)
        assert code == 0
        kept = records(out)[:3]
        torn = json.dumps(records(out)[3])[:25]  # a kill in the middle of a line
        out.write_text("".join(json.dumps(r) + "\n" for r in kept) + torn, encoding="utf-8")
        before = emulator.stats.updates
        code, _, err = bulk(capsys, source, "--out", out, "--resume", "--base-url", base_url)
        sent_again = emulator.stats.updates - before
    assert code == 0, err
    assert sent_again == 3
    assert sorted(by_row(out)) == [1, 2, 3, 4, 5, 6]
    assert "skipped 3 rows already recorded" in err


def test_resume_refuses_results_from_another_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid", [f"{CONFERENCE},{call(1)}"])
    out = tmp_path / "results.jsonl"
    other = {"row": 1, "conference_sid": CONFERENCE, "call_sid": call(0), "ok": True}
    out.write_text(json.dumps(other) + "\n", encoding="utf-8")
    with serving(2) as (emulator, base_url):
        code, _, err = bulk(capsys, source, "--out", out, "--resume", "--base-url", base_url)
        assert emulator.stats.requests == 0
    assert code == 2
    assert "same input" in err


def test_exit_code_counts_failures_already_in_the_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{CONFERENCE},{call(0)}", f"{CONFERENCE},{call(1)}"]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid", rows)
    out = tmp_path / "results.jsonl"
    earlier = {"row": 1, "conference_sid": CONFERENCE, "call_sid": call(0), "ok": False}
    out.write_text(json.dumps(earlier) + "\n", encoding="utf-8")
    with serving(2) as (_, base_url):
        code, _, err = bulk(capsys, source, "--out", out, "--resume", "--base-url", base_url)
    assert code == 1
    assert "1 rows in" in err


def test_faults_retries_and_rate_limits_still_give_each_row_exactly_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{CONFERENCE},{call(i)},true" for i in range(300)]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted", rows)
    out = tmp_path / "results.jsonl"
    faults = {"error_rate": 0.05, "drop_rate": 0.05, "rate_limit": 200, "seed": 3}
    with serving(300, **faults) as (emulator, base_url):
        code, _, err = bulk(
            capsys, source, "--out", out, "--base-url", base_url, "--max-retries", "8"
        )
        stats = emulator.stats
        for record in records(out):
            if record["ok"]:
                assert emulator.participant(CONFERENCE, record["call_sid"]).muted
    assert sorted(by_row(out)) == list(range(1, 301))
    assert stats.errors_injected > 0
    assert stats.connections_dropped > 0
    assert code in (0, 1)
    retries = int(err.split(" retries")[0].rsplit(" ", 1)[-1])
    assert retries > 0


def test_rate_spreads_the_updates_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"{CONFERENCE},{call(i)},true" for i in range(30)]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted", rows)
    out = tmp_path / "results.jsonl"
    with serving(30) as (_, base_url):
        started = time.monotonic()
        code, _, _ = bulk(
            capsys, source, "--out", out, "--base-url", base_url, "--rate", "40", "--burst", "10"
        )
        elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed >= 0.45  # 10 at once, then 20 at 40 per second


def test_rate_auto_learns_the_services_limit_from_its_429s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{CONFERENCE},{call(i % 50)},true" for i in range(150)]
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid,muted", rows)
    out = tmp_path / "results.jsonl"
    with serving(50, rate_limit=50) as (emulator, base_url):
        started = time.monotonic()
        code, _, err = bulk(capsys, source, "--out", out, "--base-url", base_url, "--rate", "auto")
        elapsed = time.monotonic() - started
    assert code == 0, err
    assert all(record["ok"] for record in records(out))
    assert elapsed >= 2.0 - 0.2  # 50 at once, then 100 more at the learned 49 a second
    # What is in flight when the first window fills is refused with it: a few,
    # more when a loaded CI machine slows the answers (7 seen), never a storm.
    assert emulator.stats.rate_limited <= 10
    learned = float(err.split("learned rate limit: ")[1].split("/s")[0])
    assert 40 <= learned <= 51


def test_missing_credentials_and_bad_flags_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid", [f"{CONFERENCE},{call(0)}"])
    out = tmp_path / "results.jsonl"
    base = "http://127.0.0.1:9/api/laml/2010-04-01"
    code, _, err = bulk(capsys, source, "--base-url", base)
    assert code == 2
    assert "--out RESULTS is required" in err
    code, _, err = bulk(capsys, source, "--out", out, "--base-url", base, "--hold-url", "x")
    assert code == 2
    assert "hold_url" in err
    code, _, err = bulk(capsys, source, "--out", out, "--base-url", base, "--burst", "5")
    assert code == 2
    assert "--burst needs --rate" in err
    code, _, err = bulk(
        capsys, source, "--out", out, "--base-url", base, "--rate", "auto", "--burst", "5"
    )
    assert code == 2
    assert "--burst needs --rate" in err
    with pytest.raises(SystemExit):
        bulk(capsys, source, "--out", out, "--base-url", base, "--rate", "fast")
    assert "'auto'" in capsys.readouterr().err
    monkeypatch.delenv("SIGNALWIRE_API_TOKEN")
    code, _, err = bulk(capsys, source, "--out", out, "--base-url", base)
    assert code == 2
    assert "SIGNALWIRE_API_TOKEN" in err
    assert not out.exists()


def test_a_token_file_is_read_and_the_token_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGNALWIRE_API_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    source = write_csv(tmp_path / "in.csv", "conference_sid,call_sid", [f"{CONFERENCE},{call(0)}"])
    out = tmp_path / "results.jsonl"
    with serving(1) as (_, base_url):
        code, _, _ = bulk(
            capsys, source, "--out", out, "--base-url", base_url, "--token-file", token_file
        )
    assert code == 0
    assert TOKEN not in out.read_text(encoding="utf-8")
