"""Every WAPI error path over HTTP: a clear code, HTTP 200, never a 5xx, no state change."""

import json
import re
from typing import Any

import pytest
from tidings.adapters.wapi.request import MAX_BODY
from tidings.domain import Code

from tests.http.conftest import Running, call_until, wapi_auth


def request(server: Running, command: str = "ping", extra: str = "", **fields: str) -> str:
    values = {
        "user": server.login,
        "auth": wapi_auth(server.login, server.password),
        "command": command,
        "clTRID": "err-1",
    } | fields
    members = "".join(f"<{name}>{value}</{name}>" for name, value in values.items() if value)
    return f"<request>{members}{extra}</request>"


def code_of(response: Any) -> int:
    assert response.status_code == 200, response.text
    found = re.search(r"<code>(\d+)</code>", response.text)
    assert found is not None, response.text
    assert int(response.headers["x-wapi-code"]) == int(found[1])
    return int(found[1])


def post_raw(server: Running, body: bytes, content_type: str = "text/xml") -> Any:
    return server.client.post("/wapi/xml", content=body, headers={"content-type": content_type})


def no_state_change(server: Running) -> None:
    assert server.tidings.pending_operations() == []
    assert not server.tidings.mailbox(server.login).notifications


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", Code.EMPTY_REQUEST),
        (b"<request><user>x</user>", Code.PARSE_ERROR),
        (b"<request>\xff\xfe</request>", Code.ENCODING_MISMATCH),
        (b'<!DOCTYPE r [<!ENTITY x "y">]><request>&x;</request>', Code.PARSE_ERROR),
        (b'<!DOCTYPE r SYSTEM "http://127.0.0.1:1/x.dtd"><request/>', Code.PARSE_ERROR),
        (b"<request>" + b"<a>" * 50 + b"</a>" * 50 + b"</request>", Code.TOO_COMPLEX),
        (b"<request>" + b"<a/>" * 5000 + b"</request>", Code.TOO_COMPLEX),
        (b"<request/>", Code.MISSING_USER),
    ],
    ids=["empty", "truncated", "utf8", "entity", "dtd", "deep", "wide", "no-user"],
)
def test_document_errors(server: Running, body: bytes, code: Code) -> None:
    assert code_of(post_raw(server, body)) == code


def test_too_large_declared_and_streamed(server: Running) -> None:
    big = b"<request>" + b" " * MAX_BODY + b"</request>"
    assert code_of(post_raw(server, big)) == Code.TOO_LARGE

    def chunks() -> Any:  # no Content-Length: the cap applies while reading
        yield b"<request>"
        for _ in range(100):
            yield b" " * 1024

    response = server.client.post("/wapi/xml", content=chunks())
    assert code_of(response) == Code.TOO_LARGE


@pytest.mark.parametrize(
    ("fields", "extra", "code"),
    [
        ({"auth": ""}, "", Code.MISSING_AUTH),
        ({"command": ""}, "", Code.MISSING_COMMAND),
        ({}, "<user>other</user>", Code.DUPLICATE_ELEMENT),
        ({"clTRID": "x" * 65}, "", Code.CLTRID_TOO_LONG),
        ({"command": "domain-info"}, "", Code.UNKNOWN_COMMAND),
        ({"auth": "0" * 40}, "", Code.AUTH_FAILED),
        ({"user": "nobody"}, "", Code.AUTH_FAILED),
        ({"command": "poll-ack"}, "", Code.MISSING_PARAMETER),
        ({"command": "poll-ack"}, "<data><id><x>1</x></id></data>", Code.INVALID_PARAMETER),
        ({"command": "poll-ack"}, "<data><id>1</id><id>2</id></data>", Code.DUPLICATE_ELEMENT),
        ({"command": "poll-ack"}, "<data><id>1</id></data>", Code.NOTIFICATION_NOT_FOUND),
        ({"command": "poll-ack"}, "<data><id>-1</id></data>", Code.NOTIFICATION_NOT_FOUND),
        ({"command": "poll-ack"}, "<data><id>" + "9" * 400 + "</id></data>",
         Code.NOTIFICATION_NOT_FOUND),
        ({"test": "perhaps"}, "", Code.INVALID_PARAMETER),
    ],
)  # fmt: skip
def test_request_errors(server: Running, fields: dict[str, str], extra: str, code: Code) -> None:
    text = request(server, **fields, extra=extra)
    assert code_of(server.wapi("xml", text)) == code
    no_state_change(server)


def test_errors_echo_cltrid_and_command_when_known(server: Running) -> None:
    response = server.wapi("xml", request(server, command="nope", clTRID=" keep me "))
    assert "<clTRID> keep me </clTRID>" in response.text
    assert "<command>nope</command>" in response.text
    assert re.search(r"<svTRID>\d+\.\d+\.\d+</svTRID>", response.text)


def test_unknown_login_and_wrong_token_answer_alike(server: Running) -> None:
    def shape(text: str) -> str:
        text = re.sub(r"<timestamp>\d+</timestamp>", "", text)
        return re.sub(r"<svTRID>[^<]+</svTRID>", "", text)

    unknown = server.wapi("xml", request(server, "ping-async", user="nobody")).text
    wrong = server.wapi("xml", request(server, "ping-async", auth="f" * 40)).text
    assert shape(unknown) == shape(wrong)
    assert "<code>2050</code>" in wrong and "Authentication failure" in wrong
    no_state_change(server)


def test_a_token_of_another_hour_fails(server: Running) -> None:
    from datetime import datetime, timedelta

    from tidings.adapters.wapi.auth import PRAGUE

    stale = wapi_auth(server.login, server.password, datetime.now(PRAGUE) - timedelta(hours=2))
    assert code_of(server.wapi("xml", request(server, auth=stale))) == Code.AUTH_FAILED


def test_ip_allow_list(server: Running) -> None:
    server.tidings.set_allowed_ips(server.login, ("203.0.113.0/24",))
    assert code_of(server.wapi("xml", request(server, "ping-async"))) == Code.IP_NOT_ALLOWED
    no_state_change(server)
    server.tidings.set_allowed_ips(server.login, ("203.0.113.0/24", "127.0.0.0/8"))
    assert code_of(server.wapi("xml", request(server))) == Code.OK


def test_suspended_account(server: Running) -> None:
    server.tidings.suspend(server.login, "unpaid")
    for command in ("ping-async", "poll-req", "ping"):
        assert code_of(server.wapi("xml", request(server, command))) == Code.ACCOUNT_SUSPENDED
    no_state_change(server)
    wrong = server.wapi("xml", request(server, auth="0" * 40))
    assert code_of(wrong) == Code.AUTH_FAILED  # suspension is not told to strangers
    server.tidings.resume(server.login)
    assert code_of(server.wapi("xml", request(server))) == Code.OK


def test_ack_of_anything_but_the_head_is_2151(server: Running) -> None:
    for cltrid in ("a1", "a2"):
        server.wapi("xml", request(server, "ping-async", clTRID=cltrid))
    call_until(
        lambda: len(server.tidings.mailbox(server.login).notifications),
        lambda count: count == 2,
        what="two notifications",
    )
    head, second = server.tidings.mailbox(server.login).notifications
    ack = f"<data><id>{second.id}</id></data>"
    assert code_of(server.wapi("xml", request(server, "poll-ack", ack))) == 2151
    assert server.tidings.mailbox(server.login).notifications[0].id == head.id


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"{", Code.PARSE_ERROR),
        (b"[]", Code.PARSE_ERROR),
        (b'{"request": {"user": "u", "user": "v"}}', Code.DUPLICATE_ELEMENT),
        (b'{"user": 12, "auth": "a", "command": "ping"}', Code.INVALID_PARAMETER),
        (b'{"user": "u\\udc00", "auth": "a", "command": "ping"}', Code.ENCODING_MISMATCH),
        (b"[" * 20000 + b"]" * 20000, Code.TOO_COMPLEX),
    ],
)
def test_json_errors(server: Running, document: bytes, code: Code) -> None:
    response = server.client.post(
        "/wapi/json", content=document, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["response"]["code"] == code


def test_json_errors_have_integer_code_and_no_data(server: Running) -> None:
    document = {"user": server.login, "auth": "bad", "command": "ping", "clTRID": "j"}
    answer = server.client.post("/wapi/json", json=document).json()["response"]
    assert answer["code"] == 2050 and answer["clTRID"] == "j" and "data" not in answer
    assert isinstance(answer["timestamp"], int) and isinstance(answer["svTRID"], str)


def test_other_methods_and_paths_are_not_5xx(server: Running) -> None:
    assert server.client.get("/wapi/xml").status_code == 405
    assert server.client.post("/wapi/yaml").status_code == 404
    junk = server.client.post(
        "/wapi/xml",
        content=json.dumps({"request": 1}).encode(),
        headers={"content-type": "multipart/form-data; boundary=" + "b" * 2000},
    )
    assert code_of(junk) == Code.PARSE_ERROR
