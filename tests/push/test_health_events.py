"""An endpoint's pause and resume, and a fallback to the poll queue, reach the server's
log: one structured event each, with the login, the endpoint and, when a delivery
caused it, the svTRID and the notification id."""

import logging

import pytest
from tidings.adapters.library import Rejected, Tidings
from tidings.adapters.logs import REQUEST_ID
from tidings.adapters.push.views import endpoint_shown
from tidings.adapters.views import Pending
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import events, wait_until
from tests.push.conftest import Receiver, running

SCHEDULE = RetryPolicy(schedule=(0.05,) * 20, jitter=0.0)
FAST = RetryPolicy(schedule=(0.05,), jitter=0.0)


def _accept(t: Tidings, login: str, request_id: str) -> Pending:
    """A ping-async accepted as a server's request `request_id` would accept it."""
    token = REQUEST_ID.set(request_id)
    try:
        return t.accept(login, "c", "ping-async")
    finally:
        REQUEST_ID.reset(token)


def _levels(caplog: pytest.LogCaptureFixture, name: str) -> set[int]:
    return {r.levelno for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == name}


def test_a_pause_and_the_probe_that_resumes_are_each_one_event(
    db_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidings.push")
    with Tidings(db_url) as t:
        url = receiver.url("/down/4")
        channel = UrlChannel(success_url=url, pause_after=3, probe_every=0.3)
        t.open_account("shaky", "123456", channel=channel, retry_policy=SCHEDULE)
        accepted = _accept(t, "shaky", "accepting-1")
        n = t.end(accepted.svtrid, 1000, "OK").id
        with running(t):
            wait_until(lambda: t.delivery("shaky", n).status == "succeeded", what="delivery")
            wait_until(lambda: events(caplog, "endpoint_resumed"), what="the resume event")
    [paused] = events(caplog, "endpoint_paused")
    [resumed] = events(caplog, "endpoint_resumed")
    endpoint = receiver.base  # scheme, host and port: a path or query may hold a token
    for fields in (paused, resumed):
        assert fields["login"] == "shaky" and fields["svtrid"] == accepted.svtrid
        assert fields["notification"] == n and fields["endpoint"] == endpoint
        assert fields["request_id"] == "accepting-1"
    assert paused["failures"] == 3 and paused["probe_every"] == 0.3
    assert resumed["by"] == "probe"
    assert _levels(caplog, "endpoint_paused") == {logging.WARNING}
    assert _levels(caplog, "endpoint_resumed") == {logging.INFO}


def test_an_operators_resume_is_an_event_saying_so(
    db_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidings.push")
    with Tidings(db_url) as t:
        channel = UrlChannel(success_url=receiver.url("/down/2"), pause_after=2, probe_every=3600)
        t.open_account("shaky", "123456", channel=channel, retry_policy=SCHEDULE)
        n = t.end(t.accept("shaky", "c", "ping-async").svtrid, 1000, "OK").id
        with running(t):
            wait_until(lambda: events(caplog, "endpoint_paused"), what="the pause event")
            t.resume_endpoint("shaky")
            wait_until(lambda: t.delivery("shaky", n).status == "succeeded", what="delivery")
        with pytest.raises(Rejected):  # not paused: refused, no event
            t.resume_endpoint("shaky")
    [resumed] = events(caplog, "endpoint_resumed")
    assert resumed == {
        "event": "endpoint_resumed",
        "login": "shaky",
        "endpoint": receiver.base,
        "by": "operator",
    }


def test_a_fallback_to_the_poll_queue_is_an_event(
    db_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tidings.push")
    with Tidings(db_url) as t:
        gone = UrlChannel(success_url=receiver.url("/gone"), fallback="poll")
        served = UrlChannel(success_url=receiver.url("/ok"), fallback="poll")
        t.open_account("fallen", "123456", channel=gone, retry_policy=FAST)
        t.open_account("served", "123456", channel=served, retry_policy=FAST)
        accepted = _accept(t, "fallen", "accepting-2")
        lost = t.end(accepted.svtrid, 1000, "OK").id
        kept = t.end(t.accept("served", "c", "ping-async").svtrid, 1000, "OK").id
        with running(t):
            wait_until(lambda: events(caplog, "delivery_fell_back_to_poll"), what="the event")
            wait_until(lambda: t.delivery("served", kept).status == "succeeded")
        assert t.poll("fallen").count == 1
    [fell_back] = events(caplog, "delivery_fell_back_to_poll")
    assert fell_back["login"] == "fallen" and fell_back["svtrid"] == accepted.svtrid
    assert fell_back["notification"] == lost and fell_back["endpoint"] == receiver.base
    assert fell_back["request_id"] == "accepting-2"
    assert _levels(caplog, "delivery_fell_back_to_poll") == {logging.WARNING}
    assert not events(caplog, "endpoint_paused")


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("https://user:pw@hooks.example/T1/B2/tok3n?key=k#x", "https://hooks.example"),
        ("http://[::1]:8080/hook", "http://[::1]:8080"),
        ("ops@shop.example", "@shop.example"),
    ],
)
def test_the_log_shows_an_endpoint_without_what_may_be_a_token(target: str, shown: str) -> None:
    assert endpoint_shown(target) == shown
