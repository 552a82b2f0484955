"""A push names its sender: `User-Agent: tidings/<version>`, not the HTTP library's."""

from importlib.metadata import version

from tidings.adapters.library import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running


def test_a_push_says_tidings_and_its_version(db_url: str, receiver: Receiver) -> None:
    with Tidings(db_url) as tidings:
        channel = UrlChannel(success_url=receiver.url("/ok"))
        tidings.open_account("agent", "123456", channel=channel, retry_policy=RetryPolicy())
        pending = tidings.accept("agent", "AvrX87Kqk6h3", "ping-async")
        n = tidings.end(pending.svtrid, 1000, "OK").id
        with running(tidings):
            wait_until(lambda: tidings.delivery("agent", n).status == "succeeded", what="push")
    [request] = receiver.to("/ok")
    assert request.headers["user-agent"] == f"tidings/{version('tidings')}"
