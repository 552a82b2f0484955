"""Reading a receiver's Retry-After: seconds or an HTTP date, anything else ignored."""

from datetime import UTC, datetime

import pytest
from tidings.adapters.push.transport import retry_after

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Mon, 30 Nov 2026 10:01:30 GMT", 90.0),
        ("Mon, 30 Nov 2026 09:00:00 GMT", 0.0),  # a date past: at once (within bounds)
        ("soon", None),
        ("-5", None),
        ("²", None),  # a digit to str.isdigit, not to float()
        ("١٢", None),  # Arabic-Indic digits: not the delta-seconds of RFC 9110
        ("", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW) == seconds
