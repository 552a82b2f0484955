"""The JSON API for backends, every live answer checked against GET /openapi.json."""

import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.http.conftest import ADMIN_TOKEN, Running, log_length, serve, settings_for, wapi_auth

_documents: dict[str, dict[str, Any]] = {}


def openapi(server: Running) -> dict[str, Any]:
    if server.url not in _documents:
        response = server.client.get("/openapi.json")
        assert response.status_code == 200
        _documents[server.url] = response.json()
    return _documents[server.url]


def _template(document: dict[str, Any], path: str) -> str:
    """The documented path template a concrete path is served by (literal segments win,
    as in the router; a trailing `{key}` takes the rest of the path)."""
    parts = path.split("/")
    matches = []
    for template in document["paths"]:
        segments = template.split("/")
        if segments[-1] == "{key}" and len(parts) >= len(segments):
            parts_here = parts[: len(segments) - 1]
            segments = segments[:-1]
        elif len(segments) == len(parts):
            parts_here = parts
        else:
            continue
        if all(s == p or s.startswith("{") for s, p in zip(segments, parts_here, strict=True)):
            matches.append((template.count("{"), template))
    assert matches, f"{path} is not in the OpenAPI document"
    return str(min(matches)[1])


def call(server: Running, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An admin call whose answer must match the documented schema for its status."""
    response = server.admin(method, path, **kwargs)
    document = openapi(server)
    operation = document["paths"][_template(document, path)][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path} answered undocumented {response.status_code}"
    schema = documented["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    validator.validate(response.json())
    return response


def test_the_document_is_valid_json_schema(server: Running) -> None:
    document = openapi(server)
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert "/api/operations/{svtrid}/end" in document["paths"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {ADMIN_TOKEN}"}],
)
def test_needs_the_admin_token(server: Running, headers: dict[str, str]) -> None:
    response = server.client.get(f"/api/accounts/{server.login}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": 2050, "text": "Authentication failure"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_without_a_configured_token_everything_is_401(db_url: str) -> None:
    with serve(settings_for(db_url, admin_digest=None)) as running:
        assert running.admin("GET", "/api/operations/pending").status_code == 401


def test_accounts(server: Running) -> None:
    login = server.login + "x"
    created = call(server, "POST", "/api/accounts", json={"login": login, "password": "pw1"})
    assert created.status_code == 201
    body = created.json()
    assert body["login"] == login and body["channel"] == {"type": "poll"}
    assert body["signing_secret"] and "password" not in str(body)
    assert call(server, "GET", f"/api/accounts/{login}").json()["suspended"] is False
    again = call(server, "POST", "/api/accounts", json={"login": login, "password": "pw1"})
    assert (again.status_code, again.json()["code"]) == (409, 2302)
    channel = {"type": "url", "success_url": "https://example.com/ok"}
    answer = call(server, "PUT", f"/api/accounts/{login}/channel", json={"channel": channel})
    assert answer.json()["channel"]["success_url"] == "https://example.com/ok"
    policy = {"schedule": [1.0, 2.0], "jitter": 0.1}
    answer = call(server, "PUT", f"/api/accounts/{login}/retry-policy", json=policy)
    assert answer.json()["retry_policy"]["schedule"] == [1.0, 2.0]
    ips = {"allowed_ips": ["127.0.0.1"]}
    assert call(server, "PUT", f"/api/accounts/{login}/allowed-ips", json=ips).status_code == 200
    suspended = call(server, "POST", f"/api/accounts/{login}/suspend", json={"reason": "unpaid"})
    assert suspended.json()["suspended_reason"] == "unpaid"
    operation = {"login": login, "cltrid": "cl-1", "command": "domain-renew"}
    refused = call(server, "POST", "/api/operations", json=operation)
    assert (refused.status_code, refused.json()["code"]) == (403, 2053)
    assert call(server, "POST", f"/api/accounts/{login}/resume").json()["suspended"] is False
    secret = call(server, "POST", f"/api/accounts/{login}/secret").json()["signing_secret"]
    assert secret != body["signing_secret"]


def test_password_change_is_what_wapi_checks(server: Running) -> None:
    call(server, "PUT", f"/api/accounts/{server.login}/password", json={"password": "new"})
    token = wapi_auth(server.login, "new")
    document = {"user": server.login, "auth": token, "command": "ping"}
    assert server.client.post("/wapi/json", json=document).json()["response"]["code"] == 1000
    document["auth"] = wapi_auth(server.login, "123456")
    assert server.client.post("/wapi/json", json=document).json()["response"]["code"] == 2050


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/accounts/nobody", {}, 404, 2303),
        ("POST", "/api/accounts", {"json": {"login": "a b", "password": "p"}}, 422, 2101),
        ("POST", "/api/accounts", {"json": {"login": "ab"}}, 422, 2100),
        ("POST", "/api/accounts", {"json": {"login": "ab", "password": "p", "x": 1}}, 422, 2101),
        ("POST", "/api/accounts", {"content": b"{nope"}, 400, 2000),
        ("POST", "/api/accounts", {"content": b"[" * 2_000_000}, 413, 2007),
        ("PUT", "/api/accounts/nobody/channel", {"json": {"channel": {"type": "poll"}}}, 404, 2303),
        ("PUT", "/api/accounts/{login}/channel",
         {"json": {"channel": {"type": "url", "success_url": "ftp://x"}}}, 422, 2101),
        ("PUT", "/api/accounts/{login}/channel", {"json": {"channel": {"type": "sms"}}}, 422, 2101),
        ("GET", "/api/operations/1.2.3", {}, 404, 2303),
        ("POST", "/api/operations/1.2.3/end", {"json": {"code": 1000, "result": "OK"}}, 404, 2303),
        ("POST", "/api/operations/1.2.3/steps", {"json": {"text": "x"}}, 404, 2303),
        ("POST", "/api/operations", {"json": {"login": "nobody", "command": "x"}}, 404, 2303),
    ],
)  # fmt: skip
def test_errors(
    server: Running, method: str, path: str, kwargs: dict[str, Any], status: int, code: int
) -> None:
    response = call(server, method, path.replace("{login}", server.login), **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_operation_life_and_trail(server: Running) -> None:
    init = {
        "method": "POST",
        "uri": "https://shop.example/api/orders",
        "content_type": "application/json",
        "client_ip": "198.51.100.7",
        "headers": [["Accept", "application/json"]],
        "body": '{"order": 7}',
    }
    accepted = call(
        server,
        "POST",
        "/api/operations",
        json={
            "login": server.login,
            "command": "order-create",
            "cltrid": "o-7",
            "init_request": init,
        },
    )
    assert accepted.status_code == 201
    pending = accepted.json()
    assert pending["code"] == 1001 and pending["cltrid"] == "o-7"
    svtrid = pending["svtrid"]
    listed = call(server, "GET", "/api/operations/pending").json()
    assert svtrid in [operation["svtrid"] for operation in listed]
    assert call(
        server, "POST", f"/api/operations/{svtrid}/steps", json={"text": "paid"}
    ).json() == {
        "code": 1000,
        "text": "OK",
    }
    bad = call(server, "POST", f"/api/operations/{svtrid}/end",
               json={"code": 1000, "result": "OK", "data": {"a b": 1}})  # fmt: skip
    assert (bad.status_code, bad.json()["code"]) == (422, 2101)
    pending_forever = call(server, "POST", f"/api/operations/{svtrid}/end",
                           json={"code": 1001, "result": "Request pending"})  # fmt: skip
    assert (pending_forever.status_code, pending_forever.json()["code"]) == (422, 2101)
    ended = call(
        server,
        "POST",
        f"/api/operations/{svtrid}/end",
        json={"code": 1000, "result": "OK", "data": {"order": {"id": 7, "state": "paid"}}},
    )
    notification = ended.json()
    assert notification["outcome"]["init_request"]["client_ip"] == "198.51.100.7"
    again = call(
        server, "POST", f"/api/operations/{svtrid}/end", json={"code": 1000, "result": "OK"}
    )
    assert (again.status_code, again.json()["code"]) == (409, 2304)
    operation = call(server, "GET", f"/api/operations/{svtrid}").json()
    assert operation["steps"][0]["text"] == "paid" and operation["ended"]["code"] == 1000

    kinds = [entry["kind"] for entry in call(server, "GET", f"/api/trail/{svtrid}").json()]
    assert kinds[:4] == [
        "OperationAccepted",
        "StepRecorded",
        "OperationEnded",
        "NotificationQueued",
    ]
    assert [e["kind"] for e in call(server, "GET", "/api/trail/o-7").json()] == kinds
    by_id = call(server, "GET", f"/api/trail/{server.login}/{notification['id']}").json()
    assert by_id[0]["kind"] == "NotificationQueued"
    assert call(server, "GET", "/api/trail/nothing-like-it").json() == []

    # The backend's data reaches the WAPI poller, as XML elements.
    request = (
        f"<request><user>{server.login}</user><auth>{wapi_auth(server.login, '123456')}</auth>"
        "<command>poll-req</command></request>"
    )
    polled = server.wapi("xml", request).text
    assert "   <data>\n    <order>\n     <id>7</id>\n     <state>paid</state>" in polled


@pytest.mark.parametrize(
    "url", ["ftp://shop:s3cret@example.com/n", "javascript://shop:s3cret@x/", "//shop:s3cret@x"]
)
def test_a_refused_push_url_is_not_echoed_with_its_credentials(server: Running, url: str) -> None:
    channel = {"type": "url", "success_url": url}
    answer = call(server, "PUT", f"/api/accounts/{server.login}/channel", json={"channel": channel})
    assert (answer.status_code, answer.json()["code"]) == (422, 2101)
    assert "s3cret" not in answer.text and "***@" in answer.text, answer.text


@pytest.mark.parametrize(
    ("command", "status", "code", "said"),
    [
        ("", 422, 2100, "command is required"),
        ("c" * 65, 422, 2101, "a command is at most 64 characters"),
        ("renew\u0000", 422, 2101, "a command is at most 64 characters"),
    ],
)  # fmt: skip
def test_an_operation_command_is_required_and_bounded(
    server: Running, command: str, status: int, code: int, said: str
) -> None:
    pending = call(server, "GET", "/api/operations/pending").json()
    operation = {"login": server.login, "cltrid": "cl-1", "command": command}
    refused = call(server, "POST", "/api/operations", json=operation)
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert said in refused.text and "svtrid" not in refused.text
    assert call(server, "GET", "/api/operations/pending").json() == pending


@pytest.mark.parametrize(
    ("body", "text"),
    [(b'{"text": "\xff"}', "not UTF-8 at byte 10"),
     (b'{"text": "\xc3"}', "not UTF-8 at byte 10"),
     (b'{"text": "\xed\xa0\x80"}', "not UTF-8 at byte 10"),
     (b'\xff{"text": "x"}', "not UTF-8 at byte 0"),
     (b'{"text": "x",\x80}', "not UTF-8 at byte 13"),
     # JSON, but its text is no Unicode UTF-8 can carry
     (b'{"text": "\\ud800"}',
      "not Unicode: unexpected end of escaped utf-16 surrogate pair (byte 16)"),
     (b'{"text": "\\udc00"}', "not Unicode: invalid utf-16 surrogate pair (byte 16)"),
     (b'{"text": "a\\ud800\\u0041"}', "not Unicode: invalid utf-16 surrogate pair (byte 23)"),
     (b'{"\\ud800": 1, "text": "x"}',
      "not Unicode: unexpected end of escaped utf-16 surrogate pair (byte 8)")],
)  # fmt: skip
def test_a_body_that_is_not_unicode_is_an_encoding_mismatch(
    server: Running, body: bytes, text: str
) -> None:
    # 2102, as WAPI and Merchants answer it, whether or not the rest is JSON
    response = call(server, "POST", "/api/operations/1.2.3/steps", content=body)
    assert (response.status_code, response.json()) == (400, {"code": 2102, "text": text}), (
        response.text
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [(b'{"text": "x",}', "trailing comma"), (b'{"text": "x"', "truncated"),
     # cut inside a literal or an escape: truncated, not a fault past the body's end
     (b'{"text": tru', "truncated"), (b'{"text": "\\u12', "truncated"),
     (b'{"text": "\\ud800', "truncated"),
     # malformed as well: the first fault is said, as WAPI answers 2000
     (b'{"text": "\\ud800",}', "surrogate"), (b'{"text": NaN, "x": "\\ud800"}', "invalid")],
)  # fmt: skip
def test_a_body_that_is_not_json_is_named_as_such(server: Running, body: bytes, said: str) -> None:
    response = call(server, "POST", "/api/operations/1.2.3/steps", content=body)
    assert (response.status_code, response.json()["code"]) == (400, 2000), response.text
    assert response.json()["text"].startswith("not JSON: ") and said in response.json()["text"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [("PUT", "/api/accounts/{login}/channel",
      {"channel": {"type": "url", "success_url": "http://x.example", "expected_statuss": [202]}},
      "expected_statuss"),
     ("PUT", "/api/accounts/{login}/channel",
      {"channel": {"type": "email", "address": "a@b.example", "fallbak": "poll"}}, "fallbak"),
     ("PUT", "/api/accounts/{login}/channel", {"channel": {"type": "poll", "x": 1}}, "x"),
     ("POST", "/api/accounts",
      {"login": "{login}x", "password": "s3cret", "channel": {"type": "poll", "url": "x"}}, "url"),
     ("POST", "/api/operations",
      {"login": "{login}", "cltrid": "c-1", "command": "buy",
       "init_request": {"method": "POST", "uri": "/", "content_type": "text/plain",
                        "client_ip": "192.0.2.1", "bodyy": "x"}}, "bodyy"),
     ("PUT", "/api/accounts/{login}/retry-policy",
      {"schedul": [1, 2]}, "schedul"),
     ("POST", "/api/accounts",
      {"login": "{login}y", "password": "s3cret", "retry_policy": {"jiter": 0.1}}, "jiter")],
)  # fmt: skip
def test_a_misspelt_field_of_a_channel_retry_policy_or_init_request_is_refused_and_changes_nothing(
    server: Running, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    # a setting the API does not know is an error, never its default
    entries = log_length(server)
    raw = json.dumps(body).replace("{login}", server.login)
    refused = call(server, method, path.replace("{login}", server.login), content=raw)
    assert (refused.status_code, refused.json()["code"]) == (422, 2101), refused.text
    assert f"unknown field `{field}`" in refused.json()["text"]
    assert log_length(server) == entries
