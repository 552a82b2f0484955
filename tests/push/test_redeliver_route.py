"""A redelivery goes where the account's channel says when the operator asks for it:
the customer who fixed their URL after a 410 gets the notification at the new one;
one who moved to polling is refused: nothing is queued in the poll queue, where each
redelivery would queue it again after the client acked it."""

import pytest
from tidings.adapters import Rejected, Tidings
from tidings.cli.events import describe
from tidings.domain import Code, PollChannel, RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver


def _gave_up(t: Tidings, receiver: Receiver) -> int:
    """Given a URL account whose endpoint answered 410: the id of its test notification,
    whose delivery gave up."""
    gone = UrlChannel(success_url=receiver.url("/gone"))
    t.open_account("shop", "123456", channel=gone, retry_policy=RetryPolicy())
    n = t.send_test("shop").id
    wait_until(lambda: t.delivery("shop", n).status == "gave_up", what="give-up")
    return n


def test_a_redelivery_after_the_url_was_fixed_goes_to_the_new_url(
    db_url: str, receiver: Receiver
) -> None:
    with Tidings(db_url, push=True) as t:
        n = _gave_up(t, receiver)
        # when: the customer fixes the URL and the operator redelivers
        t.configure_channel("shop", UrlChannel(success_url=receiver.url("/ok")))
        assert t.redeliver("shop", n) == [n]
        # then: it is delivered to the new URL, and the pages show the new target
        wait_until(lambda: t.delivery("shop", n).status == "succeeded", what="redelivery")
        (view,) = t.deliveries("shop")
        assert view.target == receiver.url("/ok")
        # and: the trail says where the requeue sent it
        said = [describe(entry.event) for entry in t.trail(notification=("shop", n))]
        assert f"requeued for redelivery to {receiver.url('/ok')}" in said
    assert len(receiver.to("/gone")) == 1
    assert len(receiver.to("/ok")) == 1


def test_a_redelivery_after_the_account_moved_to_polling_is_refused(
    db_url: str, receiver: Receiver
) -> None:
    with Tidings(db_url, push=True) as t:
        n = _gave_up(t, receiver)
        # when: the account polls now, and the operator redelivers
        t.configure_channel("shop", PollChannel())
        with pytest.raises(Rejected) as refused:
            t.redeliver("shop", n)
        # then: refused; nothing is queued or pushed, the delivery stays given up
        assert refused.value.code == Code.STATUS_PROHIBITS
        assert t.poll("shop").code == Code.QUEUE_EMPTY
        assert t.delivery("shop", n).status == "gave_up"
    assert len(receiver.to("/gone")) == 1
