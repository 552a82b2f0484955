"""A closed account gets no more pushes: an operation accepted before the close and
ended after it, and a delivery waiting for its retry, give up saying why; their
notifications stay in the log for audit."""

from tidings.adapters.library import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

FAST = RetryPolicy(schedule=(0.05,) * 3, jitter=0.0)


def test_a_closed_account_is_pushed_nothing_more(db_url: str, receiver: Receiver) -> None:
    with Tidings(db_url) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"), error_url=receiver.url("/ok"))
        t.open_account("leaving", "123456", channel=channel, retry_policy=FAST)
        pending = t.accept("leaving", "c-1", "ping-async")
        t.close_account("leaving", "contract ended")
        n = t.end(pending.svtrid, 1000, "OK").id  # accepted before the close, ended after
        with running(t):
            wait_until(lambda: t.delivery("leaving", n).status == "gave_up", what="the give-up")
        assert receiver.to("/ok") == []
        [view] = t.deliveries("leaving", status="gave_up")
        assert view.notification_id == n and view.gave_up_reason == "the account is closed"
        kinds = [entry.kind for entry in t.trail(notification=("leaving", n))]
        assert "DeliveryScheduled" in kinds and "AttemptStarted" not in kinds
