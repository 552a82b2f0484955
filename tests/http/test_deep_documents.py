"""Documents nested deeper than the limit are refused with each surface's ordinary
error, before a parser could reach a recursion limit."""

import pytest
from tidings.adapters.http.merchants import too_deep_xml
from tidings.adapters.wapi.xml_request import XmlRefused, read_request, refusing_parser
from tidings.domain.document import too_deep

from tests.http.conftest import Running, wapi_auth

DEEP = [1_000, 100_000]


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert not too_deep(b'{"a": [[1, 2], {"b": 3}]}', "body", limit=3)
    assert too_deep(b'{"a": [[1, 2], {"b": [3]}]}', "body", limit=3)
    assert not too_deep(b'{"a": "[[[[[[[[ \\" [[[[[[[[["}', "body", limit=3)
    assert too_deep(b"[" * 5, "body", limit=4)  # malformed, but deep all the same
    assert not too_deep(b"[]" * 10_000, "body", limit=1)  # long, not deep
    assert too_deep(b'{"a": "[[[[\\\\", "b": [[[[]]]]}', "body", limit=3)  # \\: no escaped quote
    assert not too_deep(b'["\\"[[[["]', "body", limit=3)  # an escaped quote ends no string
    # An unterminated string of escaped quotes: one pass (a regex for strings, restarted
    # at each quote, took 4.9 s for 40 kB of this).
    assert not too_deep(b'"' + b'\\"' * 50_000, "body", limit=3)


def test_xml_depth_stops_at_the_limit_and_judges_nothing_else() -> None:
    assert not too_deep_xml(b"<a><b><c/></b><b/></a>", 3)
    assert too_deep_xml(b"<a><b><c><d/></c></b></a>", 3)
    assert too_deep_xml(b"<a>" * 100_000, 3)  # stops long before the (missing) end
    assert not too_deep_xml(b"<a><b>", 3)  # malformed: the parser says so
    assert not too_deep_xml(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 3)


@pytest.mark.parametrize(
    "prologue",
    [
        "<!DOCTYPE request>",
        '<!DOCTYPE r [<!ENTITY x "y">]>',
        '<!DOCTYPE r [<!NOTATION n SYSTEM "n"><!ENTITY u SYSTEM "u" NDATA n>]>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_both_xml_readers_refuse_dtds_and_entities_with_one_parser_setup(prologue: str) -> None:
    document = prologue + "<request><a><b>x</b></a></request>"
    with pytest.raises(ValueError):
        refusing_parser().Parse(document, True)
    assert not too_deep_xml(document, 1)  # refused: left to the parser, which refuses it
    with pytest.raises(XmlRefused):
        read_request(document)


def _nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_xml(depth: int) -> str:
    return "<d>" * depth + "</d>" * depth


@pytest.mark.parametrize("depth", [1_000, 5_000])  # WAPI bodies stop at 64 KiB
@pytest.mark.parametrize("dialect", ["xml", "json"])
def test_wapi_answers_2008(server: Running, dialect: str, depth: int) -> None:
    auth = wapi_auth(server.login, server.password)
    if dialect == "xml":
        document = f"<request><user>{server.login}</user><auth>{auth}</auth>"
        document += f"<command>ping</command><data>{_nested_xml(depth)}</data></request>"
    else:
        document = (
            f'{{"request": {{"user": "{server.login}", "auth": "{auth}", "command": "ping",'
            f' "data": {{"x": {_nested_json(depth)}}}}}}}'
        )
    answer = server.client.post(f"/wapi/{dialect}", content=document)
    assert answer.status_code == 200
    assert answer.headers["x-wapi-code"] == "2008"


@pytest.mark.parametrize("depth", DEEP)
def test_the_api_answers_400_with_2008(server: Running, depth: int) -> None:
    nested = _nested_json(depth)
    refused = [
        server.admin("POST", "/api/accounts",
                     content=f'{{"login": "x", "password": "y", "allowed_ips": {nested}}}'),
        server.admin("POST", "/api/operations/nothing/end",
                     content=f'{{"code": 1000, "result": "OK", "data": {{"x": {nested}}}}}'),
        server.admin("PUT", f"/api/accounts/{server.login}/retry-policy",
                     content=_nested_json(depth)),
    ]  # fmt: skip
    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == 2008


def test_the_api_takes_data_within_the_limit(server: Running) -> None:
    svtrid = server.tidings.accept(server.login, "nested", "domain-renew").svtrid
    data = {"x": {"y": {"z": [1, {"w": [2, {"v": [3]}]}]}}}
    answer = server.admin(
        "POST", f"/api/operations/{svtrid}/end", json={"code": 1000, "result": "OK", "data": data}
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("depth", DEEP)
@pytest.mark.parametrize("content_type", ["application/xml", "application/json"])
def test_merchants_answer_400_with_2008(server: Running, content_type: str, depth: int) -> None:
    if content_type == "application/xml":
        body = f"<Product>{_nested_xml(depth)}</Product>"
    else:
        body = f'{{"Product": {_nested_json(depth)}}}'
    answer = server.client.post(
        "/merchants/products",
        content=body,
        headers={"content-type": content_type, "x-ApplicationId": server.login,
                 "x-Token": server.password},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert "2008" in answer.text


def test_between_the_domain_rule_and_the_limit_the_domain_answers(server: Running) -> None:
    svtrid = server.tidings.accept(server.login, "deeper", "domain-renew").svtrid
    data: dict[str, object] = {"leaf": 1}
    for _ in range(40):  # past the domain's 32 levels, within the server's 64
        data = {"x": data}
    answer = server.admin(
        "POST", f"/api/operations/{svtrid}/end", json={"code": 1000, "result": "OK", "data": data}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 2101 and "32 levels" in answer.json()["text"]
