"""examples/supervisor_console.py: its JSON API against the emulator, and its command line.

What a supervisor sees and clicks is tested in a real browser in test_console_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette", reason="the console example needs the 'console' extra")

from aioparticipant import AsyncClient
from aioparticipant.emulator import Emulator

from .console import load_console, serve_app

console = load_console()
CF = console.DEMO_CONFERENCE
BASE = f"/api/conferences/{CF}"
JSON = {"Content-Type": "application/json"}


def factory(emulator: Emulator, **options: Any) -> Any:
    def make() -> AsyncClient:
        return AsyncClient(
            emulator.project_id,
            emulator.token,
            base_url=emulator.base_url(),
            transport=httpx.ASGITransport(app=emulator),
            **options,
        )

    return make


@pytest.fixture
def emulator() -> Emulator:
    return console.demo_emulator(customers=6, rate=1000)


@pytest.fixture
def page(emulator: Emulator) -> Iterator[httpx.Client]:
    with serve(console.create_app(factory(emulator), CF)) as client:
        yield client


@contextmanager
def serve(app: Any) -> Iterator[httpx.Client]:
    with serve_app(app) as origin, httpx.Client(base_url=origin, timeout=10) as client:
        yield client


def act(page: httpx.Client, call: str, action: str, body: object = None) -> httpx.Response:
    return page.post(f"{BASE}/participants/{call}/{action}", json=body or {}, headers=JSON)


def test_the_page_is_self_contained_and_names_its_conference(page: httpx.Client) -> None:
    answer = page.get("/")
    assert answer.status_code == 200
    assert f'<body data-conference="{CF}">' in answer.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", answer.text)  # no CDN, no network
    assert "<script>" in answer.text


def test_participants_lists_the_conference_with_the_agent_and_bulk_progress(
    page: httpx.Client,
) -> None:
    answer = page.get(f"{BASE}/participants").json()
    assert [p["label"] for p in answer["participants"][:3]] == ["agent", "supervisor", "customer 1"]
    assert len(answer["participants"]) == 8
    assert answer["agent"] == "CAagent"
    assert answer["bulk"] == {"running": False, "total": 0, "done": 0, "failed": 0}
    assert set(answer["participants"][0]) == {
        "call_sid", "label", "muted", "hold", "coaching", "call_sid_to_coach"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("call", "action", "expected"),
    [
        ("CAcustomer001", "mute", {"muted": True}),
        ("CAsupervisor", "unmute", {"muted": False}),
        ("CAcustomer001", "hold", {"hold": True}),
        ("CAcustomer001", "unhold", {"hold": False}),
        ("CAsupervisor", "coach", {"coaching": True, "call_sid_to_coach": "CAagent", "muted": False}),
        ("CAsupervisor", "monitor", {"coaching": True, "call_sid_to_coach": "CAagent", "muted": True}),
        ("CAsupervisor", "barge", {"coaching": False, "muted": False}),
    ],
)  # fmt: skip
def test_each_action_changes_the_participant_and_answers_the_new_state(
    page: httpx.Client, emulator: Emulator, call: str, action: str, expected: dict[str, object]
) -> None:
    body = {"target": "CAagent"} if action in ("coach", "monitor") else None
    answer = act(page, call, action, body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()["participant"]
    state = emulator.participant(CF, call)
    for field, value in expected.items():
        assert shown[field] == value
        assert getattr(state, field) == value


def test_remove_takes_the_participant_out_and_a_second_remove_says_they_left(
    page: httpx.Client, emulator: Emulator
) -> None:
    assert act(page, "CAcustomer002", "remove").json() == {"participant": None}
    with pytest.raises(KeyError):
        emulator.participant(CF, "CAcustomer002")
    again = act(page, "CAcustomer002", "mute")
    assert again.status_code == 404
    assert again.json()["error"] == "CAcustomer002 is no longer in the conference"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"{BASE}/participants/CAcustomer001/explode", 404, "unknown action 'explode'"),
        (f"{BASE}/participants/CA..1/mute", 400, "is not a call sid"),
        (f"{BASE}/participants/CA%20x/mute", 400, "is not a call sid"),
        ("/api/conferences/CFother/participants/CAcustomer001/mute", 404, "supervises conference"),
        ("/api/conferences/CF$1/participants/CAcustomer001/mute", 400, "is not a conference sid"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message_and_send_nothing(
    page: httpx.Client, emulator: Emulator, path: str, status: int, message: str
) -> None:
    before = emulator.stats.updates
    answer = page.post(path, json={}, headers=JSON)
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert emulator.stats.updates == before


def test_actions_must_come_as_json_and_coaching_needs_a_target(page: httpx.Client) -> None:
    form = page.post(f"{BASE}/participants/CAcustomer001/mute", data={"x": "1"})
    assert form.status_code == 415  # a cross-site form post cannot act
    assert act(page, "CAsupervisor", "coach", {"target": "../x"}).status_code == 400
    broken = page.post(f"{BASE}/participants/CAsupervisor/coach", content=b"[", headers=JSON)
    assert broken.status_code == 400


def test_a_request_for_another_host_name_is_refused(page: httpx.Client) -> None:
    assert page.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_an_api_failure_is_a_502_with_the_reason(emulator: Emulator) -> None:
    failing = Emulator(error_rate=1.0)
    failing.add_participant(CF, "CAagent", label="agent")
    app = console.create_app(factory(failing, max_retries=0), CF)
    with serve(app) as page:
        answer = act(page, "CAagent", "mute")
        listed = page.get(f"{BASE}/participants")
    assert answer.status_code == listed.status_code == 502
    assert "failed at the API (HTTP 5" in answer.json()["error"]


def test_mute_all_runs_in_the_background_and_spares_the_agent(
    page: httpx.Client, emulator: Emulator
) -> None:
    started = page.post(f"{BASE}/mute-all", json={}, headers=JSON)
    assert started.status_code == 202
    assert started.json()["bulk"]["total"] == 7
    deadline = time.monotonic() + 10
    while (progress := page.get(f"{BASE}/participants").json()["bulk"])["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert progress == {"running": False, "total": 7, "done": 7, "failed": 0}
    states = {p.call_sid: p.muted for p in emulator.participants(CF)}
    assert states.pop("CAagent") is False
    assert all(states.values())


def test_mute_all_twice_at_once_is_a_409() -> None:
    slow = console.demo_emulator(customers=20, rate=1000)
    slow.latency = 0.2
    app = console.create_app(factory(slow), CF)
    with serve(app) as page:
        assert page.post(f"{BASE}/mute-all", json={}, headers=JSON).status_code == 202
        again = page.post(f"{BASE}/mute-all", json={}, headers=JSON)
    assert again.status_code == 409
    assert "already" in again.json()["error"]


def test_the_command_line_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        console.main(["--host", "0.0.0.0"])
    assert exited.value.code == 2
    assert "loopback only" in capsys.readouterr().err


def test_a_real_space_needs_the_conference(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIGNALWIRE_PROJECT_ID", "p")
    monkeypatch.setenv("SIGNALWIRE_API_TOKEN", "t")
    with pytest.raises(SystemExit):
        console.main(["--port", "0"])
    assert "--conference CF" in capsys.readouterr().err
