"""Delivery problems reach the server's log: one structured event per failed attempt and
one per give-up, with the login, the svTRID and the notification id."""

import logging

import pytest
from tidings.adapters.library import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import events, wait_until
from tests.push.conftest import Receiver, running

TWO_TRIES = RetryPolicy(schedule=(0.05,), jitter=0.0)


def test_failed_attempts_and_the_give_up_are_each_one_event(
    sqlite_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tidings.push")
    with Tidings(sqlite_url) as t:
        channel = UrlChannel(
            success_url=receiver.url("/flaky/9"), error_url=receiver.url("/flaky/9")
        )
        t.open_account("hooked", "123456", channel=channel, retry_policy=TWO_TRIES)
        pending = t.accept("hooked", "cl-1", "ping-async")
        n = t.end(pending.svtrid, 1000, "OK").id
        with running(t):
            wait_until(lambda: t.delivery("hooked", n).status == "gave_up", what="the give-up")
            wait_until(lambda: events(caplog, "delivery_gave_up"), what="the give-up event")
    failed = events(caplog, "delivery_attempt_failed")
    [gave_up] = events(caplog, "delivery_gave_up")
    assert [f["attempt"] for f in failed] == [1, 2]
    for fields in [*failed, gave_up]:
        assert fields["login"] == "hooked" and fields["svtrid"] == pending.svtrid
        assert fields["notification"] == n and fields["status"] == 500
    assert gave_up["reason"]
