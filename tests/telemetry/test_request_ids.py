"""A delivery problem's log line names the request that accepted the operation (its
`X-Request-Id`), though the attempt runs long after that request, in the runner; with or
without tracing."""

from pathlib import Path

import httpx
from tidings.adapters import Tidings
from tidings.domain import RetryPolicy, UrlChannel

from tests.http.conftest import wait_until
from tests.http.processes import serve_process
from tests.push.conftest import Receiver, receiver

__all__ = ["receiver"]  # the fixture, used by name below

TWO_TRIES = RetryPolicy(schedule=(0.05,), jitter=0.0)


def test_a_failed_attempt_names_the_accepting_request(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "tidings.db")
    with Tidings(db) as t:
        channel = UrlChannel(success_url=receiver.url("/flaky/1"))
        t.open_account("hooked", "123456", channel=channel, retry_policy=TWO_TRIES)
    with serve_process(db, "--port", "0", "--workers", "1") as served:
        admin = {"authorization": "Bearer processes-token"}
        accepted = httpx.post(
            f"{served.base}/api/operations",
            json={"login": "hooked", "cltrid": "cl-1", "command": "domain-renew"},
            headers={**admin, "x-request-id": "accepting-request-7"},
        )
        assert accepted.headers["x-request-id"] == "accepting-request-7"
        svtrid = accepted.json()["svtrid"]
        ended = httpx.post(
            f"{served.base}/api/operations/{svtrid}/end",
            json={"code": 1000, "result": "OK"},
            headers={**admin, "x-request-id": "ending-request-8"},
        )
        assert ended.status_code == 200, ended.text
        [failed] = wait_until(
            lambda: served.logged(event="delivery_attempt_failed"), what="the failed attempt"
        )
        wait_until(lambda: len(receiver.to("/flaky/1")) == 2, what="the second attempt")
    assert failed["request_id"] == "accepting-request-7"
    assert failed["svtrid"] == svtrid and failed["attempt"] == 1
    # Tracing is off here: no traceparent is sent.
    assert all("traceparent" not in r.headers for r in receiver.to("/flaky/1"))
