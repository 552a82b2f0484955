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

`ErrorData`/`ErrorCode` appear only when the job failed; a batch job (files) reports
only its `State` (`Failed`, `PartiallyFailed`, `Successfull`), right after `Id` (the
job's svTRID). The JSON form, ours (the spec shows none), has the same names, absent
parts left out: `{"Id", "State", "ErrorData", "ErrorCode", "InitRequest": {"Method",
"Uri", "ContentType", "Ip", "HttpHeaders": [{"Name", "Value"}], "Body"}}`.
"""

from typing import Any

import msgspec
import xmltodict
from msgspec import Struct
from tidings.domain import BatchState, InitRequest, Outcome
from tidings.domain.values import is_error_outcome

from ..wapi.request import NOT_XML

__all__ = ["JobResult", "encode", "from_outcome", "to_json", "to_xml"]


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


def _top(job: JobResult) -> dict[str, Any]:
    fields = {"Id": job.id, "State": job.state, "ErrorData": job.error_data}
    fields["ErrorCode"] = job.error_code
    return {name: value for name, value in fields.items() if value is not None}


def to_xml(job: JobResult) -> bytes:
    """The document as UTF-8 XML, laid out like the spec's example (xmltodict, as WAPI's
    documents are written). Characters XML cannot carry become U+FFFD."""

    def clean(value: str) -> str:
        return NOT_XML.sub("\ufffd", value)

    document: dict[str, Any] = {name: clean(value) for name, value in _top(job).items()}
    request = job.init_request
    if request is not None:
        headers = [{"@Name": clean(name), "#text": clean(value)} for name, value in request.headers]
        document["InitRequest"] = {
            "@Method": clean(request.method),
            "@Uri": clean(request.uri),
            "ContentType": clean(request.content_type),
            "Ip": clean(request.client_ip),
            "HttpHeaders": {"HttpHeader": headers},
            "Body": clean(request.body),
        }
    text = str(xmltodict.unparse({"JobResult": document}, pretty=True, indent="", newl="\n"))
    # A raw \r can only come from text (attribute values are escaped whole); escaped, so a
    # reader's line-end normalisation cannot change the body.
    return text.replace("\r", "&#13;").encode("utf-8")


def to_json(job: JobResult) -> bytes:
    """The document as JSON; absent parts are left out."""
    document = _top(job)
    request = job.init_request
    if request is not None:
        headers = [{"Name": name, "Value": value} for name, value in request.headers]
        document["InitRequest"] = {
            "Method": request.method,
            "Uri": request.uri,
            "ContentType": request.content_type,
            "Ip": request.client_ip,
            "HttpHeaders": headers,
            "Body": request.body,
        }
    return msgspec.json.encode(document)


def encode(outcome: Outcome) -> tuple[str, bytes]:
    """(content type, body) of the JobResult for `outcome`: JSON when the original request
    was JSON, XML otherwise, as the spec says ("the same format as the initial request")."""
    job = from_outcome(outcome)
    content_type = outcome.init_request.content_type if outcome.init_request else ""
    if "json" in content_type.lower():
        return "application/json", to_json(job)
    return "application/xml; charset=utf-8", to_xml(job)
