"""`fallback: poll`: a notification whose delivery gave up can still be polled; one
that was delivered never sits in the mailbox."""

from tidings.adapters.library import Tidings
from tidings.domain import Code, RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

FAST = RetryPolicy(schedule=(0.05,), jitter=0.0)


def test_a_given_up_notification_falls_back_to_the_poll_queue(
    db_url: str, receiver: Receiver
) -> None:
    with Tidings(db_url) as t:
        gone = UrlChannel(success_url=receiver.url("/gone"), fallback="poll")
        ok = UrlChannel(success_url=receiver.url("/ok"), fallback="poll")
        t.open_account("fallen", "123456", channel=gone, retry_policy=FAST)
        t.open_account("served", "123456", channel=ok, retry_policy=FAST)
        lost = t.end(t.accept("fallen", "c", "ping-async").svtrid, 1000, "OK")
        served = t.end(t.accept("served", "c", "ping-async").svtrid, 1000, "OK")
        assert t.poll("fallen").code == Code.QUEUE_EMPTY  # pushed: not in the queue
        with running(t):
            wait_until(lambda: t.delivery("fallen", lost.id).status == "gave_up")
            wait_until(lambda: t.delivery("served", served.id).status == "succeeded")
        polled = t.poll("fallen")
        assert (polled.code, polled.count) == (Code.OK, 1)
        assert polled.notification is not None and polled.notification.id == lost.id
        assert t.ack("fallen", lost.id).code == Code.ACKED
        assert t.poll("served").code == Code.QUEUE_EMPTY  # delivered: never queued
        kinds = [e.kind for e in t.trail(notification=("fallen", lost.id))]
        assert kinds.index("DeliveryGaveUp") < kinds.index("NotificationQueued")


def test_without_fallback_a_push_account_cannot_poll(db_url: str, receiver: Receiver) -> None:
    with Tidings(db_url) as t:
        channel = UrlChannel(success_url=receiver.url("/gone"))
        t.open_account("pushed", "123456", channel=channel, retry_policy=FAST)
        n = t.end(t.accept("pushed", "c", "ping-async").svtrid, 1000, "OK").id
        with running(t):
            wait_until(lambda: t.delivery("pushed", n).status == "gave_up")
        assert t.poll("pushed").code == Code.POLL_NOT_ALLOWED
        assert [d.notification_id for d in t.deliveries("pushed", status="gave_up")] == [n]
