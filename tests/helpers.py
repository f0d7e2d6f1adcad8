"""Small shared pieces for the wire-level tests."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

from aioparticipant import AsyncClient, Backoff

PROJECT = "YourProjectID"
TOKEN = "YourAuthToken-s3cr3t"
SPACE = "example.signalwire.com"
BASE = f"https://{SPACE}/api/laml/2010-04-01"
AUTH = "Basic " + base64.b64encode(f"{PROJECT}:{TOKEN}".encode()).decode()
PARTICIPANT_URL = f"{BASE}/Accounts/{PROJECT}/Conferences/CF1/Participants/CA1.json"
PARTICIPANT_JSON = (
    b'{"account_sid": "YourProjectID", "call_sid": "CA1", "conference_sid": "CF1", "muted": true,'
    b' "date_updated": "Tue, 25 Sept 2018 20:00:00 +0000", "status": "in-progress"}'
)
FAST = Backoff(initial=0.001, maximum=0.002)

#: Each intent helper, its arguments, and exactly the form it must send.
INTENT_FORMS: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
    ("mute", (), {"Muted": "true"}),
    ("unmute", (), {"Muted": "false"}),
    ("hold", (), {"Hold": "true"}),
    ("hold", ("https://m.example/hold.xml", "get"), {"Hold": "true", "HoldUrl": "https://m.example/hold.xml", "HoldMethod": "GET"}),
    ("hold", ("",), {"Hold": "true", "HoldUrl": ""}),
    ("unhold", (), {"Hold": "false"}),
    ("coach", ("CA2",), {"Coaching": "true", "CallSidToCoach": "CA2", "Muted": "false"}),
    ("monitor", ("CA2",), {"Coaching": "true", "CallSidToCoach": "CA2", "Muted": "true"}),
    ("barge", (), {"Coaching": "false", "Muted": "false"}),
    ("announce", ("https://m.example/a.xml",), {"AnnounceUrl": "https://m.example/a.xml"}),
    ("announce", ("https://m.example/a.xml", "GET"), {"AnnounceUrl": "https://m.example/a.xml", "AnnounceMethod": "GET"}),
]  # fmt: skip


def make_client(**kwargs: Any) -> AsyncClient:
    options: dict[str, Any] = {"space_url": SPACE, "backoff": FAST}
    options.update(kwargs)
    return AsyncClient(PROJECT, TOKEN, **options)


#: Every logger a request may write to: ours, the HTTP stacks', the event loops'.
LOGGERS = ("", "aioparticipant", "httpx", "httpcore", "h11", "aiohttp", "asyncio", "anyio", "trio")


class KeptLogs(logging.Handler):
    """Keeps every record it is handed (the ``debug_logs`` fixture installs one)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> Iterator[str]:
        """Each record as a handler would write it, traceback included."""
        formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        for record in self.records:
            yield formatter.format(record)
            if record.exc_info:
                yield formatter.formatException(record.exc_info)

    def text(self) -> str:
        return "\n".join(self.lines())
