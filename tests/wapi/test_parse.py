"""Reading WAPI requests: exact about what we understood, liberal about how it came."""

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.adapters.wapi.request import (
    MAX_BODY,
    MAX_DEPTH,
    Dialect,
    WapiError,
    WapiRequest,
    parse_request,
)
from tidings.domain import Code

XML, JSON = Dialect.XML, Dialect.JSON
FORM = "application/x-www-form-urlencoded"

# The request of the WAPI notification spec, byte for byte.
SPEC_REQUEST = b"""<request>
 <user>tester</user>
 <auth>fb82be1466331148816bdbac855a6b1bd4e24b81</auth>
 <command>ping-async</command>
 <clTRID>AvrX87Kqk6h3</clTRID>
</request>"""
SPEC_PARSED = WapiRequest(
    user="tester",
    auth="fb82be1466331148816bdbac855a6b1bd4e24b81",
    command="ping-async",
    cltrid="AvrX87Kqk6h3",
)
JSON_REQUEST = {
    "user": "tester",
    "auth": "fb82be1466331148816bdbac855a6b1bd4e24b81",
    "command": "ping-async",
    "clTRID": "AvrX87Kqk6h3",
}


def xml(body: str) -> bytes:
    return f"<request>{body}</request>".encode()


BASE = "<user>u</user><auth>a</auth><command>ping</command>"


def fails(dialect: Dialect, body: bytes, content_type: str = "text/xml") -> WapiError:
    with pytest.raises(WapiError) as caught:
        parse_request(dialect, body, content_type)
    return caught.value


def multipart(name: str, value: bytes, boundary: str = "XyZ") -> tuple[bytes, str]:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


# --- the ways a request arrives ------------------------------------------------------------
def test_spec_example_as_raw_xml() -> None:
    assert parse_request(XML, SPEC_REQUEST, "text/xml") == SPEC_PARSED


def test_spec_example_in_urlencoded_form_field() -> None:
    body = urlencode({"request": SPEC_REQUEST.decode()}).encode()
    assert parse_request(XML, body, FORM) == SPEC_PARSED


def test_spec_example_in_multipart_form_field() -> None:
    body, content_type = multipart("request", SPEC_REQUEST)
    assert parse_request(XML, body, content_type) == SPEC_PARSED


def test_raw_xml_labelled_as_a_form_is_read_raw() -> None:
    # What `curl -d '<request>...'` sends.
    assert parse_request(XML, SPEC_REQUEST, FORM) == SPEC_PARSED


@pytest.mark.parametrize(
    "document",
    [{"request": JSON_REQUEST}, JSON_REQUEST],
    ids=["wrapped", "bare"],
)
@pytest.mark.parametrize("how", ["raw", "form", "multipart"])
def test_json_with_or_without_wrapper_in_any_body(document: object, how: str) -> None:
    text = json.dumps(document).encode()
    if how == "raw":
        parsed = parse_request(JSON, text, "application/json")
    elif how == "form":
        parsed = parse_request(JSON, urlencode({"request": text}).encode(), FORM)
    else:
        parsed = parse_request(JSON, *multipart("request", text))
    assert parsed == SPEC_PARSED


def test_field_names_in_any_case_and_unknown_fields_ignored() -> None:
    parsed = parse_request(
        XML, xml("<USER>u</USER><Auth>a</Auth><Command>ping</Command><cltrid>c</cltrid><x/>"), ""
    )
    assert (parsed.user, parsed.auth, parsed.command, parsed.cltrid) == ("u", "a", "ping", "c")


def test_utf8_bom_and_xml_declaration_are_accepted() -> None:
    body = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>' + xml(BASE)
    assert parse_request(XML, body, "").command == "ping"


def test_cltrid_is_kept_exactly_with_its_blanks_and_unicode() -> None:
    parsed = parse_request(XML, xml(BASE + "<clTRID> a&amp;b \u010d </clTRID>"), "")
    assert parsed.cltrid == " a&b \u010d "


def test_empty_cltrid_element_is_present_and_empty() -> None:
    assert parse_request(XML, xml(BASE + "<clTRID/>"), "").cltrid == ""
    assert parse_request(XML, xml(BASE), "").cltrid is None


def test_json_integer_cltrid_becomes_its_text() -> None:
    document = {"user": "u", "auth": "a", "command": "ping", "clTRID": 42}
    assert parse_request(JSON, json.dumps(document).encode(), "").cltrid == "42"


# --- data and test -------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["", "<data/>", "<data></data>", "<data>\n </data>"])
def test_xml_data_absent_or_empty_is_no_data(data: str) -> None:
    assert parse_request(XML, xml(BASE + data), "").data == {}


def test_xml_data_members_are_read() -> None:
    parsed = parse_request(XML, xml(BASE + "<data>\n <id>7</id>\n</data>"), "")
    assert parsed.data == {"id": "7"}


@pytest.mark.parametrize("data", [None, [], {}, {"id": 7}])
def test_json_data_object_absent_or_empty_list(data: object) -> None:
    document: dict[str, object] = {"user": "u", "auth": "a", "command": "ping"}
    if data is not None:
        document["data"] = data
    expected = data if isinstance(data, dict) else {}
    assert parse_request(JSON, json.dumps(document).encode(), "").data == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False),
     ("true", True), ("False", False), ("yes", True), ("", False)],
)  # fmt: skip
def test_test_flag_as_boolean_number_or_string(value: object, expected: bool) -> None:
    document = {"user": "u", "auth": "a", "command": "ping", "test": value}
    assert parse_request(JSON, json.dumps(document).encode(), "").test is expected


def test_xml_test_flag() -> None:
    assert parse_request(XML, xml(BASE + "<test>1</test>"), "").test is True


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "body", "content_type", "code"),
    [
        (XML, b"", "text/xml", Code.EMPTY_REQUEST),
        (XML, b"  \n", "text/xml", Code.EMPTY_REQUEST),
        (XML, b"other=1", FORM, Code.EMPTY_REQUEST),
        (XML, b"request=", FORM, Code.EMPTY_REQUEST),
        (XML, b"request=%3Ca%2F%3E&request=%3Ca%2F%3E", FORM, Code.DUPLICATE_ELEMENT),
        (XML, b"--x\r\nbroken", "multipart/form-data; boundary=x", Code.PARSE_ERROR),
        (XML, b"whatever", "multipart/form-data", Code.PARSE_ERROR),
        (XML, b"<request><user>u</user>", "", Code.PARSE_ERROR),
        (XML, b"<request>\xff</request>", "", Code.ENCODING_MISMATCH),
        (XML, b"request=%3Crequest%3E%FF%3C%2Frequest%3E", FORM, Code.ENCODING_MISMATCH),
        (XML, b"<response/>", "", Code.PARSE_ERROR),
        (XML, b"not xml at all", "", Code.PARSE_ERROR),
        (XML, b"<request>&bogus;</request>", "", Code.PARSE_ERROR),
        # XML holds no lone surrogate: expat refuses a reference to one
        (XML, b"<request><user>&#xD800;</user></request>", "", Code.PARSE_ERROR),
        (XML, b"<request><user>\xed\xa0\x80</user></request>", "", Code.ENCODING_MISMATCH),
        (JSON, b"{", "", Code.PARSE_ERROR),
        (JSON, b"[1, 2]", "", Code.PARSE_ERROR),
        (JSON, b'{"user": NaN}', "", Code.PARSE_ERROR),
        (JSON, b'{"user": "u", "user": "v"}', "", Code.DUPLICATE_ELEMENT),
        (JSON, b'{"user": "u", "User": "v"}', "", Code.DUPLICATE_ELEMENT),
        (JSON, b'{"user": "\\ud800", "auth": "a", "command": "c"}', "", Code.ENCODING_MISMATCH),
        (JSON, b'{"user": "\xc3"}', "", Code.ENCODING_MISMATCH),
    ],
)
def test_error_codes(dialect: Dialect, body: bytes, content_type: str, code: Code) -> None:
    assert fails(dialect, body, content_type).code is code


@pytest.mark.parametrize(
    "document",
    [
        '<!DOCTYPE request [<!ENTITY x "y">]><request>&x;</request>',
        '<!DOCTYPE request SYSTEM "http://127.0.0.1/evil.dtd"><request/>',
        '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><request>&b;</request>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><request>&x;</request>',
    ],
    ids=["entity", "external-dtd", "billion-laughs", "external-entity"],
)
def test_dtds_and_entities_are_refused(document: str) -> None:
    assert fails(XML, document.encode()).code is Code.PARSE_ERROR


def test_too_large() -> None:
    body = xml(BASE + "<clTRID>" + "x" * MAX_BODY + "</clTRID>")
    assert fails(XML, body).code is Code.TOO_LARGE


def test_too_deep_xml_and_json() -> None:
    deep = "<a>" * (MAX_DEPTH + 1) + "</a>" * (MAX_DEPTH + 1)
    assert fails(XML, xml(BASE + deep)).code is Code.TOO_COMPLEX
    assert fails(JSON, b"[" * 5000 + b"]" * 5000).code is Code.TOO_COMPLEX
    assert fails(JSON, b"[" * 40000).code in (Code.TOO_COMPLEX, Code.PARSE_ERROR)


def test_a_request_nests_at_most_max_depth_levels_in_either_dialect() -> None:
    # The domain's rule: a level is an XML element, or a JSON object or array.
    for levels, deep in ((MAX_DEPTH, False), (MAX_DEPTH + 1, True)):
        inner = "<a>" * (levels - 2) + "x" + "</a>" * (levels - 2)
        document = xml(BASE + f"<data>{inner}</data>")  # <request>, <data>, the <a>s
        nested: object = "x"
        for _ in range(levels - 1):  # the request's object, then `data`'s
            nested = {"a": nested}
        body = json.dumps({**JSON_REQUEST, "data": nested}).encode()
        for dialect, raw in ((XML, document), (JSON, body)):
            if deep:
                assert fails(dialect, raw).code is Code.TOO_COMPLEX
            else:
                parse_request(dialect, raw, "text/xml")


def test_too_many_elements() -> None:
    assert fails(XML, xml(BASE + "<x/>" * 2000)).code is Code.TOO_COMPLEX


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("<auth>a</auth><command>ping</command>", Code.MISSING_USER),
        ("<user></user><auth>a</auth><command>ping</command>", Code.MISSING_USER),
        ("<user>u</user><command>ping</command>", Code.MISSING_AUTH),
        ("<user>u</user><auth>a</auth>", Code.MISSING_COMMAND),
        (BASE + "<user>v</user>", Code.DUPLICATE_ELEMENT),
        (BASE + "<clTRID>a</clTRID><clTRID>b</clTRID>", Code.DUPLICATE_ELEMENT),
        (BASE + "<data/><data/>", Code.DUPLICATE_ELEMENT),
        (BASE + "<clTRID>" + "x" * 65 + "</clTRID>", Code.CLTRID_TOO_LONG),
        (BASE + "<test>maybe</test>", Code.INVALID_PARAMETER),
        (BASE + "<data>text</data>", Code.INVALID_PARAMETER),
        ("<user><x>u</x></user><auth>a</auth><command>ping</command>", Code.INVALID_PARAMETER),
    ],
)
def test_xml_field_errors(body: str, code: Code) -> None:
    assert fails(XML, xml(body)).code is code


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"user": 5, "auth": "a", "command": "ping"}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": ["a"], "command": "ping"}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": "a", "command": "ping", "data": "x"}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": "a", "command": "ping", "data": [1]}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": "a", "command": "ping", "test": None}, None),
        ({"user": "u", "auth": "a", "command": "ping", "test": {}}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": "a", "command": "ping", "clTRID": {}}, Code.INVALID_PARAMETER),
        ({"user": "u", "auth": "a", "command": "ping", "clTRID": "\u0001"}, Code.INVALID_PARAMETER),
        ({"request": {"auth": "a", "command": "ping"}}, Code.MISSING_USER),
    ],
)
def test_json_field_errors(document: object, code: Code | None) -> None:
    body = json.dumps(document).encode()
    if code is None:
        parse_request(JSON, body, "")
    else:
        assert fails(JSON, body).code is code


def test_errors_echo_what_was_understood() -> None:
    error = fails(XML, xml("<auth>a</auth><command>ping</command><clTRID>c1</clTRID>"))
    assert (error.code, error.cltrid, error.command) == (Code.MISSING_USER, "c1", "ping")
    error = fails(XML, xml(BASE + "<clTRID>" + "x" * 65 + "</clTRID>"))
    assert (error.cltrid, error.command) == (None, "ping")


@given(st.binary(max_size=300), st.sampled_from(["", FORM, "text/xml", "multipart/form-data"]))
def test_any_bytes_give_a_request_or_a_wapi_error(body: bytes, content_type: str) -> None:
    for dialect in Dialect:
        try:
            parse_request(dialect, body, content_type)
        except WapiError as error:
            assert 2000 <= error.code < 2200
