"""The one place that hides secrets: URLs shown without their passwords, secrets scrubbed."""

from __future__ import annotations

import pytest

from aioparticipant._redact import redact_url, scrub, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:hunter2@proxy.corp:3128", "http://alice:***@proxy.corp:3128"),
        ("http://hunter2@proxy.corp:3128", "http://***@proxy.corp:3128"),
        ("redis://localhost/0?token=hunter2&db=1", "redis://localhost/0?token=***&db=1"),
        # No scheme: urlsplit would read "alice" as the scheme and the password as a path.
        ("alice:hunter2@proxy.corp:3128", "***@proxy.corp:3128"),
        # Not parseable (an unclosed IPv6 bracket): hidden by the text alone, query and all.
        ("http://alice:hunter2@[::1:3128/x?password=hunter2", "http://***@[::1:3128/x?***"),
        ("  http://proxy.corp:3128  ", "http://proxy.corp:3128"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)


def test_the_secrets_of_a_url_are_found_raw_and_decoded_longest_first() -> None:
    assert url_secrets("redis://app:p%40ss@host/0?password=longer-secret") == (
        "longer-secret",
        "p%40ss",
        "p@ss",
    )


def test_scrub_masks_secrets_in_text_and_in_bytes() -> None:
    assert scrub("connect to p@ss failed", ["p@ss"]) == "connect to *** failed"
    assert scrub(b'{"message": "bad token abc123"}', [b"abc123"]) == b'{"message": "bad token ***"}'
