"""Small shared pieces for the wire-level tests."""

from __future__ import annotations

import base64
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


def make_client(**kwargs: Any) -> AsyncClient:
    options: dict[str, Any] = {"space_url": SPACE, "backoff": FAST}
    options.update(kwargs)
    return AsyncClient(PROJECT, TOKEN, **options)
