"""The JobResult document of the Ozon push-notification spec, XML and JSON."""

import json
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tidings.adapters.merchants.jobresult import JobResult, encode, from_outcome, to_json, to_xml
from tidings.domain import InitRequest, Outcome

from tests.jobresult_reader import from_json, from_xml

BODY = (
    '<Product MerchantSKU="TestSKU_Agiiuef_dd0" ProductTypeID="286495574000">\n'
    "<SKU><Name>![CDATA[Aklpjqafsgj]]</Name></SKU>\n<Price>\n<SellingPrice>22</SellingPrice>\n"
    "</Price>\n</Product>"
)
HEADERS = (
    ("Connection", "keep-alive"),
    ("Accept", "application/xml"),
    ("Accept-Encoding", "gzip,deflate,sdch"),
    ("Accept-Language", "en-US,en; q=0.8"),
    ("Host", "alpha-wcf.qa.ozon"),
    ("x-ApplicationId", "superapp"),
)
SPEC_REQUEST = InitRequest(
    method="PUT",
    uri="https://api.ozon.ru/merchants/products/id",
    content_type="application/xml",
    client_ip="10.17.32.74",
    headers=HEADERS,
    body=BODY,
)
SPEC_JOB = JobResult(
    id="102220",
    error_data="\u0422\u043e\u0432\u0430\u0440 \u0441 SKU: TestSKU_Agiiuef_dd0 \u043d\u0435 "
    "\u0441\u0443\u0449\u0435\u0441\u0442\u0432\u0443\u0435\u0442",
    error_code="40015",
    init_request=SPEC_REQUEST,
)
# The spec's example, with its body escaped as the spec's text says it is.
SPEC_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<JobResult>\n<Id>102220</Id>\n'
    f"<ErrorData>{SPEC_JOB.error_data}</ErrorData>\n<ErrorCode>40015</ErrorCode>\n"
    '<InitRequest Method="PUT" Uri="https://api.ozon.ru/merchants/products/id">\n'
    "<ContentType>application/xml</ContentType>\n<Ip>10.17.32.74</Ip>\n<HttpHeaders>\n"
    '<HttpHeader Name="Connection">keep-alive</HttpHeader>\n'
    '<HttpHeader Name="Accept">application/xml</HttpHeader>\n'
    '<HttpHeader Name="Accept-Encoding">gzip,deflate,sdch</HttpHeader>\n'
    '<HttpHeader Name="Accept-Language">en-US,en; q=0.8</HttpHeader>\n'
    '<HttpHeader Name="Host">alpha-wcf.qa.ozon</HttpHeader>\n'
    '<HttpHeader Name="x-ApplicationId">superapp</HttpHeader>\n'
    "</HttpHeaders>\n"
    '<Body>&lt;Product MerchantSKU="TestSKU_Agiiuef_dd0" ProductTypeID="286495574000"&gt;\n'
    "&lt;SKU&gt;&lt;Name&gt;![CDATA[Aklpjqafsgj]]&lt;/Name&gt;&lt;/SKU&gt;\n&lt;Price&gt;\n"
    "&lt;SellingPrice&gt;22&lt;/SellingPrice&gt;\n&lt;/Price&gt;\n&lt;/Product&gt;</Body>\n"
    "</InitRequest>\n</JobResult>"
).encode()


def outcome(**changes: object) -> Outcome:
    fields: dict[str, object] = {
        "code": 1000,
        "result": "OK",
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "cltrid": "",
        "svtrid": "1767225600.7.1",
        "command": "merchants-products",
        "init_request": SPEC_REQUEST,
    }
    fields.update(changes)
    return Outcome(**fields)  # type: ignore[arg-type]


def test_spec_example_written_exactly() -> None:
    assert to_xml(SPEC_JOB) == SPEC_XML


def test_spec_example_read_back() -> None:
    assert from_xml(SPEC_XML) == SPEC_JOB


def test_json_round_trip_and_shape() -> None:
    document = json.loads(to_json(SPEC_JOB))
    assert list(document) == ["Id", "ErrorData", "ErrorCode", "InitRequest"]
    assert document["InitRequest"]["Method"] == "PUT"
    assert document["InitRequest"]["Ip"] == "10.17.32.74"
    assert document["InitRequest"]["HttpHeaders"][0] == {
        "Name": "Connection",
        "Value": "keep-alive",
    }
    assert document["InitRequest"]["Body"] == BODY
    assert from_json(to_json(SPEC_JOB)) == SPEC_JOB


def test_successful_job_has_no_error_elements() -> None:
    job = from_outcome(outcome())
    assert (job.id, job.error_code, job.error_data, job.state) == (
        "1767225600.7.1",
        None,
        None,
        None,
    )
    assert b"<Error" not in to_xml(job)


def test_failed_job_takes_error_code_and_data_from_its_data() -> None:
    job = from_outcome(
        outcome(
            code=2400, result="Command failed", data={"ErrorCode": 40015, "ErrorData": "no SKU"}
        )
    )
    assert (job.error_code, job.error_data) == ("40015", "no SKU")
    job = from_outcome(outcome(code=2303, result="Object does not exist"))
    assert (job.error_code, job.error_data) == ("2303", "Object does not exist")


@pytest.mark.parametrize("state", ["Failed", "PartiallyFailed", "Successfull"])
def test_batch_reports_only_its_state(state: str) -> None:
    job = from_outcome(
        outcome(code=2400 if state != "Successfull" else 1000, result="x", batch_state=state)
    )
    assert job.state == state and job.error_code is None
    assert f"<Id>1767225600.7.1</Id>\n<State>{state}</State>".encode() in to_xml(job)
    assert json.loads(to_json(job))["State"] == state
    assert from_xml(to_xml(job)) == job


def test_encode_follows_the_format_of_the_initial_request() -> None:
    content_type, body = encode(outcome())
    assert content_type.startswith("application/xml") and body.startswith(b"<?xml")
    as_json = msgspec.structs.replace(SPEC_REQUEST, content_type="application/json")
    content_type, body = encode(outcome(init_request=as_json))
    assert content_type == "application/json" and json.loads(body)["Id"] == "1767225600.7.1"


def test_not_a_jobresult() -> None:
    for bad in (b"", b"<x/>", b"<JobResult/>", b'<!DOCTYPE x [<!ENTITY a "b">]><JobResult/>'):
        with pytest.raises(ValueError):
            from_xml(bad)
    with pytest.raises(ValueError):
        from_json(b"{}")


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(
    st.builds(
        InitRequest,
        method=text,
        uri=text,
        content_type=text,
        client_ip=text,
        headers=st.lists(st.tuples(text, text), max_size=3).map(tuple),
        body=text,
    ),
    text,
    st.one_of(st.none(), text),
)
def test_any_text_survives_both_formats(
    request: InitRequest, ident: str, error: str | None
) -> None:
    job = JobResult(id=ident, error_data=error, error_code=error, init_request=request)
    assert from_json(to_json(job)) == job
    # XML cannot carry control characters: they are replaced, everything else survives.
    parts = (request.method, request.uri, request.content_type, request.client_ip, request.body)
    headers = [part for pair in request.headers for part in pair]
    every = "".join([ident, error or "", *parts, *headers])
    if all(c in "\t\n\r" or " " <= c < "\ufffe" for c in every):
        assert from_xml(to_xml(job)) == job
    else:
        from_xml(to_xml(job))  # still a well-formed document
