"""The JobResult document: how an asynchronous Merchants-style job ended, pushed to the
client's success or error callback URL in the format of its original request.

From the Ozon push-notification spec (the body is escaped, as the spec's text says)::

    <?xml version="1.0" encoding="utf-8"?>
    <JobResult>
    <Id>102220</Id>
    <ErrorData>(Russian text: the product with this SKU does not exist)</ErrorData>
    <ErrorCode>40015</ErrorCode>
    <InitRequest Method="PUT" Uri="https://api.ozon.ru/merchants/products/id">
    <ContentType>application/xml</ContentType>
    <Ip>10.17.32.74</Ip>
    <HttpHeaders>
    <HttpHeader Name="Accept">application/xml</HttpHeader>
    </HttpHeaders>
    <Body>&lt;Product MerchantSKU="TestSKU_Agiiuef_dd0"&gt;...&lt;/Product&gt;</Body>
    </InitRequest>
    </JobResult>

`ErrorData`/`ErrorCode` appear only when the job failed. A batch job (files) reports only
its overall `State` (`Failed`, `PartiallyFailed`, `Successfull`), written right after
`Id`. The JSON form has the same names: `{"Id": ..., "State": ..., "ErrorData": ...,
"ErrorCode": ..., "InitRequest": {"Method", "Uri", "ContentType", "Ip",
"HttpHeaders": [{"Name", "Value"}], "Body"}}`; the spec shows no JSON example, so that
shape is ours. `Id` is the job's svTRID.
"""

import re
from typing import Any

import msgspec
import xmltodict
from msgspec import Struct
from tidings.domain import BatchState, InitRequest, Outcome
from tidings.domain.values import is_error_outcome

__all__ = ["JobResult", "encode", "from_outcome", "to_json", "to_xml"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class JobResult(Struct, frozen=True, kw_only=True):
    """One JobResult document. `init_request` is None only for jobs accepted without one."""

    id: str
    state: BatchState | None = None
    error_data: str | None = None
    error_code: str | None = None
    init_request: InitRequest | None = None


def from_outcome(outcome: Outcome) -> JobResult:
    """The JobResult of an ended job: a failed single job carries `ErrorCode`/`ErrorData`
    from its `data` when there, else its result code and text; a batch only its state."""
    error_code = error_data = None
    if outcome.batch_state is None and is_error_outcome(outcome):
        data = outcome.data or {}
        error_code = str(data.get("ErrorCode", outcome.code))
        error_data = str(data.get("ErrorData", outcome.result))
    return JobResult(
        id=outcome.svtrid,
        state=outcome.batch_state,
        error_code=error_code,
        error_data=error_data,
        init_request=outcome.init_request,
    )


# --- XML -------------------------------------------------------------------------------
def _clean(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def to_xml(job: JobResult) -> bytes:
    """The document as UTF-8 XML, laid out like the spec's example (xmltodict, as WAPI's
    documents are written). Characters XML cannot carry become U+FFFD."""
    document: dict[str, Any] = {"Id": _clean(job.id)}
    if job.state is not None:
        document["State"] = job.state
    if job.error_data is not None:
        document["ErrorData"] = _clean(job.error_data)
    if job.error_code is not None:
        document["ErrorCode"] = _clean(job.error_code)
    request = job.init_request
    if request is not None:
        headers = [
            {"@Name": _clean(name), "#text": _clean(value)} for name, value in request.headers
        ]
        document["InitRequest"] = {
            "@Method": _clean(request.method),
            "@Uri": _clean(request.uri),
            "ContentType": _clean(request.content_type),
            "Ip": _clean(request.client_ip),
            "HttpHeaders": {"HttpHeader": headers},
            "Body": _clean(request.body),
        }
    text = str(xmltodict.unparse({"JobResult": document}, pretty=True, indent="", newl="\n"))
    # A raw \r can only come from text (attribute values are escaped whole); escaped, so a
    # reader's line-end normalisation cannot change the body.
    return text.replace("\r", "&#13;").encode("utf-8")


# --- JSON ------------------------------------------------------------------------------
class _Header(Struct, frozen=True, rename="pascal"):
    name: str
    value: str


class _Request(Struct, frozen=True, kw_only=True, rename="pascal"):
    method: str
    uri: str
    content_type: str
    ip: str
    http_headers: tuple[_Header, ...] = ()
    body: str = ""


class _Document(Struct, frozen=True, kw_only=True, rename="pascal", omit_defaults=True):
    id: str
    state: BatchState | None = None
    error_data: str | None = None
    error_code: str | None = None
    init_request: _Request | None = None


def to_json(job: JobResult) -> bytes:
    """The document as JSON; absent parts are left out."""
    request = job.init_request
    wire = _Document(
        id=job.id,
        state=job.state,
        error_data=job.error_data,
        error_code=job.error_code,
        init_request=None
        if request is None
        else _Request(
            method=request.method,
            uri=request.uri,
            content_type=request.content_type,
            ip=request.client_ip,
            http_headers=tuple(_Header(name, value) for name, value in request.headers),
            body=request.body,
        ),
    )
    return msgspec.json.encode(wire)


def encode(outcome: Outcome) -> tuple[str, bytes]:
    """(content type, body) of the JobResult for `outcome`: JSON when the original request
    was JSON, XML otherwise, as the spec says ("the same format as the initial request")."""
    job = from_outcome(outcome)
    content_type = outcome.init_request.content_type if outcome.init_request else ""
    if "json" in content_type.lower():
        return "application/json", to_json(job)
    return "application/xml; charset=utf-8", to_xml(job)
