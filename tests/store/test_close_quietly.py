"""Closing soon after `pending_operations()` logs no error (the open-operations follower
once raised StopIteration in its thread when the store closed under it)."""

import logging

import pytest
from tidings.adapters import Tidings

ROUNDS = 10


def test_close_right_after_pending_operations_logs_no_error(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for n in range(ROUNDS):
        tidings = Tidings(db_url)
        if n == 0:
            tidings.open_account("quiet", "123456")
        tidings.accept("quiet", f"c{n}", "ping-async")
        assert len(tidings.pending_operations()) == n + 1
        tidings.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
