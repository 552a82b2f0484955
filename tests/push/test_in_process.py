"""`Tidings(..., push=True)`: a library-only deployment pushes from its own process."""

from tidings.adapters import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver


def test_a_library_opened_with_push_delivers_without_a_worker(
    db_url: str, receiver: Receiver
) -> None:
    # given: a library that pushes in process, and a URL account on it
    with Tidings(db_url, push=True) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        t.open_account("pushed", "123456", channel=channel, retry_policy=RetryPolicy())
        # when: an operation ends
        pending = t.accept("pushed", "cl-1", "domain-renew")
        n = t.end(pending.svtrid, 1000, "OK").id
        # then: it is posted, with no worker or server running
        wait_until(lambda: t.delivery("pushed", n).status == "succeeded", what="delivery")
    assert len(receiver.to("/ok")) == 1


def test_a_library_without_push_leaves_the_delivery_scheduled(
    db_url: str, receiver: Receiver
) -> None:
    with Tidings(db_url) as t:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        t.open_account("pushed", "123456", channel=channel)
        n = t.end(t.accept("pushed", "cl-1", "domain-renew").svtrid, 1000, "OK").id
        assert t.delivery("pushed", n).status == "scheduled"
    assert receiver.to("/ok") == []
