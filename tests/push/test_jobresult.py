"""URL push, JobResult form (the Merchants spec): success and error URLs, XML or JSON
after the original request, batch State, and the init request's secrets redacted when
it was recorded."""

from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook
from tidings.adapters.library import Tidings
from tidings.domain import InitRequest, RetryPolicy, UrlChannel

from tests import jobresult_reader
from tests.http.conftest import wait_until
from tests.push.conftest import Receiver, running

FAST = RetryPolicy(schedule=(0.05,), jitter=0.0)


def init(content_type: str = "application/xml", body: str = "<Product/>") -> InitRequest:
    return InitRequest(
        method="PUT",
        uri="https://api.example/merchants/products/id?access_token=abc123&page=2",
        content_type=content_type,
        client_ip="10.17.32.74",
        headers=(
            ("Accept", "application/xml"),
            ("Authorization", "Bearer s3cr3t"),
            ("Cookie", "session=s3cr3t"),
            ("X-Api-Key", "s3cr3t"),
        ),
        body=body,
    )


@pytest.fixture
def t(db_url: str, receiver: Receiver) -> Iterator[Tidings]:
    with Tidings(db_url) as tidings:
        yield tidings


def merchant(t: Tidings, receiver: Receiver, *, success: bool = True) -> str:
    channel = UrlChannel(
        success_url=receiver.url("/ok") if success else None,
        error_url=receiver.url("/errors"),
        body_format="jobresult",
    )
    SECRETS["merchant"] = t.open_account(
        "merchant", "123456", channel=channel, retry_policy=FAST
    ).signing_secret
    return "merchant"


SECRETS: dict[str, str] = {}


def delivered(t: Tidings, n: int) -> bool:
    return t.delivery("merchant", n).status == "succeeded"


def test_a_failed_job_goes_to_the_error_url_as_xml_with_secrets_redacted(
    t: Tidings, receiver: Receiver
) -> None:
    login = merchant(t, receiver)
    svtrid = t.accept(login, "", "merchants-products", init_request=init()).svtrid
    data = {"ErrorCode": "40015", "ErrorData": "no such SKU"}
    n = t.end(svtrid, 2400, "no such SKU", data=data).id
    with running(t):
        wait_until(lambda: delivered(t, n), what="the JobResult")
    [request] = receiver.to("/errors")
    assert request.headers["content-type"] == "application/xml; charset=utf-8"
    document = jobresult_reader.from_xml(request.body)
    assert (document.id, document.error_code, document.error_data) == (
        svtrid,
        "40015",
        "no such SKU",
    )
    recorded = document.init_request
    assert recorded is not None
    assert dict(recorded.headers) == {
        "Accept": "application/xml",
        "Authorization": "[redacted]",
        "Cookie": "[redacted]",
        "X-Api-Key": "[redacted]",
    }
    assert recorded.uri.endswith("?access_token=%5Bredacted%5D&page=2")
    assert b"s3cr3t" not in request.body and b"abc123" not in request.body
    assert all(b"s3cr3t" not in repr(e.event).encode() for e in t.log())
    Webhook(SECRETS[login]).verify(request.body, request.headers, json_parse=False)


def test_a_json_job_hears_json_and_a_success_goes_to_the_success_url(
    t: Tidings, receiver: Receiver
) -> None:
    login = merchant(t, receiver)
    request = init("application/json", '{"Product": {}}')
    svtrid = t.accept(login, "", "merchants-products", init_request=request).svtrid
    n = t.end(svtrid, 1000, "OK").id
    with running(t):
        wait_until(lambda: delivered(t, n), what="the JobResult")
    [sent] = receiver.to("/ok")
    assert sent.headers["content-type"] == "application/json"
    document = jobresult_reader.from_json(sent.body)
    assert (document.id, document.error_code, document.state) == (svtrid, None, None)
    assert receiver.to("/errors") == []


def test_a_batch_reports_its_state(t: Tidings, receiver: Receiver) -> None:
    login = merchant(t, receiver)
    svtrid = t.accept(login, "", "merchants-files", init_request=init()).svtrid
    n = t.end(svtrid, 2400, "Batch partially failed", batch_state="PartiallyFailed").id
    with running(t):
        wait_until(lambda: delivered(t, n), what="the JobResult")
    [sent] = receiver.to("/errors")
    assert jobresult_reader.from_xml(sent.body).state == "PartiallyFailed"
    assert b"<Id>" + svtrid.encode() + b"</Id>\n<State>PartiallyFailed</State>" in sent.body


def test_an_account_with_only_an_error_url_hears_only_errors(
    t: Tidings, receiver: Receiver
) -> None:
    login = merchant(t, receiver, success=False)
    ok = t.end(t.accept(login, "", "merchants-products", init_request=init()).svtrid, 1000, "OK")
    failed = t.end(t.accept(login, "", "merchants-products", init_request=init()).svtrid, 2400, "x")
    with running(t):
        wait_until(lambda: delivered(t, failed.id), what="the error's JobResult")
    assert t.delivery(login, ok.id).scheduled is None
    assert len(receiver.to("/errors")) == 1 and receiver.to("/ok") == []
