"""Credentials in URLs never reach the screen or a log: one function masks them."""

import logging

import pytest
from tidings.adapters.logs import JsonLines
from tidings.adapters.redaction import redacted


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://tidings:hunter2@db:5432/t", "postgresql://tidings:***@db:5432/t"),
        ("cannot open postgres://u:p@ss:w@rd@db/t?schema=x: refused",
         "cannot open postgres://u:***@db/t?schema=x: refused"),
        ("postgresql://tidings@db/t", "postgresql://tidings@db/t"),  # no password: as it is
        ("a https://x:y@h and postgresql://a:b@c", "a https://x:***@h and postgresql://a:***@c"),
        ("/var/lib/tidings.db", "/var/lib/tidings.db"),
        ("postgresql://u@db/t?password=hunter2&schema=x", "postgresql://u@db/t?password=***&schema=x"),
        ("https://h/x?a=1&API_KEY=k3y#f and ?db_password=p",
         "https://h/x?a=1&API_KEY=***#f and ?db_password=***"),
        ("postgresql://u@db/t?schema=passwords", "postgresql://u@db/t?schema=passwords"),
    ],
)  # fmt: skip
def test_passwords_in_urls_are_masked(text: str, shown: str) -> None:
    assert redacted(text) == shown


def test_a_log_line_never_carries_a_database_password() -> None:
    url = "postgresql://u:hunter2@db/t"
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "cannot open %s", (url,), None)
    line = JsonLines().format(record)
    assert "hunter2" not in line and "postgresql://u:***@db/t" in line
