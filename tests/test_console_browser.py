"""The supervisor console in a real browser: Debian's headless Chromium, driven by Playwright.

Skipped when chromium or playwright is missing, unless AIOPARTICIPANT_REQUIRE_BROWSER=1
(CI sets it), which fails instead. Playwright's own browsers are never installed: it
drives /usr/bin/chromium (or AIOPARTICIPANT_CHROMIUM).

    AIOPARTICIPANT_SCREENSHOT=docs/img/supervisor-console.png python -m pytest tests/test_console_browser.py

also saves the screenshot the documentation shows (mid-run, with a few actions done).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aioparticipant import AsyncClient, Client
from aioparticipant.emulator import serve_in_thread

from .console import load_console, serve_app

CHROMIUM = os.environ.get("AIOPARTICIPANT_CHROMIUM", "/usr/bin/chromium")
# What works headless as root on a machine with no network and no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CUSTOMERS = 30
RATE = 20  # the emulator's requests per second: the bulk run of 30 takes about 2 s


def _missing() -> str | None:
    if shutil.which(CHROMIUM) is None:
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    try:
        import starlette  # noqa: F401
    except ImportError:
        return "starlette is not installed (pip install -e '.[console]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("AIOPARTICIPANT_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh, temporary profile (user data dir).
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def test_a_supervisor_clicks_through_the_console(browser: Any) -> None:
    from playwright.sync_api import expect

    console = load_console()
    conference = console.DEMO_CONFERENCE
    emulator = console.demo_emulator(customers=CUSTOMERS, rate=RATE)

    with serve_in_thread(emulator) as api:

        def make_client() -> AsyncClient:
            return AsyncClient(
                emulator.project_id,
                emulator.token,
                base_url=api.base_url,
                rate_limit=RATE * 0.9,
                burst=2,
            )

        app = console.create_app(make_client, conference)
        with (
            serve_app(app) as origin,
            Client(emulator.project_id, emulator.token, base_url=api.base_url) as elsewhere,
        ):
            page = browser.new_page(viewport={"width": 1180, "height": 820})
            page.set_default_timeout(10_000)
            expect.set_options(timeout=10_000)
            page.goto(origin)

            def row(call_sid: str) -> Any:
                return page.locator(f'tr[data-call-sid="{call_sid}"]')

            def click(call_sid: str, action: str) -> None:
                row(call_sid).locator(f'button[data-action="{action}"]').click()

            def cell(call_sid: str, column: int) -> Any:
                return row(call_sid).locator("td").nth(column)

            def state(call_sid: str) -> Any:
                return emulator.participant(conference, call_sid)

            expect(page.locator("#participants tr")).to_have_count(CUSTOMERS + 2)
            expect(cell("CAagent", 0)).to_have_text("agent")

            # Mute and unmute: the row and the service agree.
            click("CAcustomer001", "mute")
            expect(cell("CAcustomer001", 2)).to_have_text("yes")
            expect(row("CAcustomer001").locator('button[data-action="unmute"]')).to_have_text(
                "Unmute"
            )
            assert state("CAcustomer001").muted is True
            click("CAcustomer001", "unmute")
            expect(cell("CAcustomer001", 2)).to_have_text("no")
            assert state("CAcustomer001").muted is False

            # Hold and unhold.
            click("CAcustomer004", "hold")
            expect(cell("CAcustomer004", 3)).to_have_text("yes")
            assert state("CAcustomer004").hold is True
            click("CAcustomer004", "unhold")
            expect(cell("CAcustomer004", 3)).to_have_text("no")
            assert state("CAcustomer004").hold is False

            # The supervisor coaches the agent, listens in silently, then barges in.
            click("CAsupervisor", "coach")
            expect(cell("CAsupervisor", 4)).to_have_text("yes → CAagent")
            coaching = state("CAsupervisor")
            assert (coaching.coaching, coaching.call_sid_to_coach, coaching.muted) == (
                True,
                "CAagent",
                False,
            )
            click("CAsupervisor", "monitor")
            expect(cell("CAsupervisor", 2)).to_have_text("yes")
            assert state("CAsupervisor").muted is True
            click("CAsupervisor", "barge")
            expect(cell("CAsupervisor", 4)).to_have_text("no")
            barged = state("CAsupervisor")
            assert (barged.coaching, barged.muted) == (False, False)
            expect(row("CAagent").locator('button[data-action="coach"]')).to_be_disabled()

            # Remove a customer: the row goes, and so does the participant.
            click("CAcustomer002", "remove")
            expect(row("CAcustomer002")).to_have_count(0)
            with pytest.raises(KeyError):
                state("CAcustomer002")

            # Mute everyone but the agent, in the background; a click meanwhile stays quick.
            page.locator("#mute-all").click()
            progress = page.locator("#progress")
            expect(progress).to_have_attribute("data-state", "running")
            expect(page.locator("#mute-all")).to_be_disabled()
            click("CAcustomer005", "hold")
            expect(cell("CAcustomer005", 6)).to_have_text(re.compile(r"^hold: \d+ ms$"))
            took = int(cell("CAcustomer005", 6).inner_text().split()[1])
            assert progress.get_attribute("data-state") == "running"  # the run was still going
            if os.environ.get("AIOPARTICIPANT_SCREENSHOT"):
                expect(progress).to_have_text(re.compile(r"muting [1-9]\d* / "))
                page.screenshot(path=os.environ["AIOPARTICIPANT_SCREENSHOT"], full_page=False)
            expect(progress).to_have_text(f"muted {CUSTOMERS} / {CUSTOMERS}", timeout=20_000)
            expect(progress).to_have_attribute("data-state", "finished")
            assert state("CAcustomer005").hold is True
            muted = {p.call_sid: p.muted for p in emulator.participants(conference)}
            assert muted.pop("CAagent") is False
            assert all(muted.values())
            expect(cell("CAcustomer030", 2)).to_have_text("yes")  # the page caught up

            # A participant removed behind the page's back: the error shows inline.
            page.route("**/participants", lambda route: None)  # hold the page's refreshes
            time.sleep(0.1)
            elsewhere.conferences(conference).participants("CAcustomer003").delete()
            click("CAcustomer003", "unmute")
            message = "unmute CAcustomer003: CAcustomer003 is no longer in the conference"
            expect(page.locator("#notice")).to_have_text(message)
            expect(cell("CAcustomer003", 6)).to_have_text(message)
            expect(cell("CAcustomer003", 6)).to_have_class("status error")
            expect(page.locator("#participants tr")).to_have_count(CUSTOMERS + 1)  # page intact
            page.close()

    # The interactive lane: the click did not queue behind the bulk run (about 2 s long).
    assert took < 1500, f"a click took {took} ms while the bulk run went on"
