import pytest

from aioparticipant._retry_after import parse_retry_after

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("3", 3.0), ("0.5", 0.5), (" 12 ", 12.0), ("-5", 0.0),
     ("nan", None), ("inf", None), ("soon", None), ("1e400", None),
     ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0), ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),
     ("Tue, 14 Nov 2023 22:13:50", None)],
)  # fmt: skip
def test_seconds_and_http_dates(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected
