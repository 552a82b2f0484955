"""The Merchants-style async endpoint: 202 with the job Id, the init request recorded,
the job ended after the delay as the document asks, and its JobResult."""

import json
from typing import Any

import httpx
import pytest
from tidings.adapters.merchants import jobresult
from tidings.domain import Code, Notification
from tidings.domain.operation import outcome

from tests import jobresult_reader
from tests.http.conftest import Running, call_until, serve, settings_for

PRODUCT_XML = (
    '<Product MerchantSKU="TestSKU_1" ProductTypeID="286495574000">\n'
    "<SKU><Name>Aklpjqafsgj</Name></SKU>\n<Price><SellingPrice>22</SellingPrice></Price>\n"
    "</Product>"
)


def submit(
    server: Running,
    path: str,
    body: str | bytes,
    content_type: str = "application/xml",
    method: str = "POST",
    token: str | None = None,
    login: str | None = None,
) -> httpx.Response:
    headers = {
        "content-type": content_type,
        "x-ApplicationId": login or server.login,
        "x-Token": server.password if token is None else token,
        "Accept-Language": "en-US,en; q=0.8",
    }
    return server.client.request(method, path, content=body, headers=headers)


def job_id(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    if response.headers["content-type"].startswith("application/json"):
        return str(response.json()["Id"])
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<Job><Id>')
    return response.text.split("<Id>")[1].split("</Id>")[0]


def ended(server: Running, svtrid: str) -> Notification:
    call_until(
        lambda: server.tidings.operation(svtrid),
        lambda operation: operation is not None and operation.ended is not None,
        what="the job to end",
    )
    for notification in server.tidings.mailbox(server.login).notifications:
        if notification.outcome.svtrid == svtrid:
            return notification
    raise AssertionError("no notification for the job")


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_product_job_in_xml(server: Running, method: str) -> None:
    svtrid = job_id(submit(server, "/merchants/products", PRODUCT_XML, method=method))
    notification = ended(server, svtrid)
    assert (notification.outcome.code, notification.outcome.result) == (1000, "OK")
    request = notification.outcome.init_request
    assert request is not None
    assert request.method == method and request.uri.endswith("/merchants/products")
    assert (request.content_type, request.client_ip, request.body) == (
        "application/xml",
        "127.0.0.1",
        PRODUCT_XML,
    )
    headers = dict(request.headers)  # their names as the client spelled them
    assert headers["x-ApplicationId"] == server.login
    assert headers["x-Token"] == "[redacted]"  # credentials never reach the log
    assert headers["Accept-Language"] == "en-US,en; q=0.8"
    content_type, document = jobresult.encode(notification.outcome)
    assert content_type.startswith("application/xml")
    job = jobresult_reader.from_xml(document)
    assert job.id == svtrid and job.error_code is None and job.init_request == request
    assert b'<HttpHeader Name="x-ApplicationId">' in document


def test_failing_product_job_in_json(server: Running) -> None:
    body = json.dumps({"MerchantSKU": "TestSKU_2", "ErrorCode": 40015, "ErrorData": "no SKU"})
    svtrid = job_id(submit(server, "/merchants/products", body, "application/json"))
    notification = ended(server, svtrid)
    assert notification.outcome.code == Code.COMMAND_FAILED
    content_type, document = jobresult.encode(notification.outcome)
    assert content_type == "application/json"
    job = json.loads(document)
    assert (job["Id"], job["ErrorCode"], job["ErrorData"]) == (svtrid, "40015", "no SKU")
    assert job["InitRequest"]["Body"] == body


def test_a_namespaced_document_ends_as_its_fields_ask(server: Running) -> None:
    # a default namespace names every element {urn:...}ErrorCode: the field is the same
    body = '<Product xmlns="urn:shop"><ErrorCode>40015</ErrorCode></Product>'
    notification = ended(server, job_id(submit(server, "/merchants/products", body)))
    assert notification.outcome.code == Code.COMMAND_FAILED
    assert notification.outcome.data == {"ErrorCode": "40015", "ErrorData": "Command failed"}


@pytest.mark.parametrize(
    ("state", "code"),
    [("Failed", 2400), ("PartiallyFailed", 2400), ("Successfull", 1000), (None, 1000)],
)
def test_batch_ends_in_the_state_the_document_asks(
    server: Running, state: str | None, code: int
) -> None:
    field = f"<State>{state}</State>" if state else ""
    svtrid = job_id(submit(server, "/merchants/files", f"<Batch>{field}<File/></Batch>"))
    notification = ended(server, svtrid)
    assert notification.outcome.batch_state == (state or "Successfull")
    assert notification.outcome.code == code
    job = jobresult_reader.from_xml(jobresult.encode(notification.outcome)[1])
    assert job.state == (state or "Successfull") and job.error_code is None


def test_pending_job_is_ended_after_a_restart(db_url: str) -> None:
    with serve(settings_for(db_url, job_delay=3600)) as first:
        first.tidings.open_account("tester", "123456")
        body = json.dumps({"State": "PartiallyFailed"})
        svtrid = job_id(submit(first, "/merchants/files", body, "application/json"))
    with serve(settings_for(db_url, job_delay=0.01)) as second:
        state = call_until(
            lambda: second.tidings.operation(svtrid),
            lambda operation: operation is not None and operation.ended is not None,
            what="the job to end after the restart",
        )
        assert state is not None
        assert outcome(state).batch_state == "PartiallyFailed"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"token": "wrong"}, 401, 2050),
        ({"token": ""}, 401, 2050),
        ({"login": "nobody"}, 401, 2050),
        ({"body": "<Product>"}, 400, 2000),
        ({"body": '<!DOCTYPE p [<!ENTITY x "y">]><Product>&x;</Product>'}, 400, 2000),
        ({"body": b"<Product>\xff</Product>"}, 400, 2102),
        ({"body": "{", "content_type": "application/json"}, 400, 2000),
        ({"body": "[" * 100000, "content_type": "application/json"}, 400, 2008),  # too deep
        ({"body": "x" * (1024 * 1024 + 1)}, 413, 2007),
        ({"path": "/merchants/files", "body": "<B><State>Done</State></B>"}, 400, 2101),
        ({"body": "[1]", "content_type": "application/json"}, 400, 2000),
        ({"body": '{"ErrorCode": {"a": 1}}', "content_type": "application/json"}, 400, 2101),
        (
            {"body": '{"ErrorCode": 99999999999999999999}', "content_type": "application/json"},
            400,
            2101,
        ),
        ({"body": "<Product><ErrorCode>abc</ErrorCode></Product>"}, 400, 2101),
        (
            {
                "body": '{"ErrorCode": 12, "ErrorData": {"a": 1}}',
                "content_type": "application/json",
            },
            400,
            2101,
        ),
        (
            {"body": '{"ErrorCode": 12, "ErrorData": null}', "content_type": "application/json"},
            400,
            2101,
        ),
    ],
)
def test_errors(server: Running, kwargs: dict[str, Any], status: int, code: int) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    path = kwargs.pop("path", "/merchants/products")
    body = kwargs.pop("body", PRODUCT_XML)
    response = submit(server, path, body, **kwargs)
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["Code"] == code
    else:
        assert f"<Code>{code}</Code>" in response.text
    assert server.tidings.pending_operations() == []


def test_suspended_and_ip_restricted(server: Running) -> None:
    server.tidings.suspend(server.login, "unpaid")
    assert submit(server, "/merchants/products", PRODUCT_XML).status_code == 403
    server.tidings.resume(server.login)
    server.tidings.set_allowed_ips(server.login, ("192.0.2.1",))
    response = submit(server, "/merchants/products", PRODUCT_XML)
    assert response.status_code == 403 and "<Code>2051</Code>" in response.text
    assert server.tidings.pending_operations() == []
