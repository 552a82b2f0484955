"""A receiver's reader of JobResult documents, written apart from tidings' writer
(`tidings.adapters.merchants.jobresult`) so that the tests compare what a client reads
with what was meant, not the writer with itself."""

import json
from typing import Any, get_args
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from tidings.adapters.merchants.jobresult import JobResult
from tidings.domain import BatchState, InitRequest

__all__ = ["from_json", "from_xml"]


def _child_text(parent: Element, tag: str) -> str | None:
    child = parent.find(tag)
    return None if child is None else (child.text or "")


def _state(value: str | None) -> BatchState | None:
    if value is not None and value not in get_args(BatchState):
        raise ValueError(f"unknown batch state {value!r}")
    return value  # type: ignore[return-value]


def from_xml(document: bytes) -> JobResult:
    """The JobResult an XML document holds. Raises ValueError when it holds none; DTDs and
    entities are refused."""
    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except Exception as error:  # defusedxml raises ParseError or its own ValueErrors
        raise ValueError(f"not a JobResult document: {error}") from error
    if root.tag != "JobResult" or root.find("Id") is None:
        raise ValueError("not a JobResult document")
    init = root.find("InitRequest")
    request = None
    if init is not None:
        headers = init.find("HttpHeaders")
        request = InitRequest(
            method=init.get("Method", ""),
            uri=init.get("Uri", ""),
            content_type=_child_text(init, "ContentType") or "",
            client_ip=_child_text(init, "Ip") or "",
            headers=tuple(
                (header.get("Name", ""), header.text or "")
                for header in (headers if headers is not None else [])
            ),
            body=_child_text(init, "Body") or "",
        )
    return JobResult(
        id=_child_text(root, "Id") or "",
        state=_state(_child_text(root, "State")),
        error_data=_child_text(root, "ErrorData"),
        error_code=_child_text(root, "ErrorCode"),
        init_request=request,
    )


def from_json(document: bytes) -> JobResult:
    """The JobResult a JSON document holds. Raises ValueError when it holds none."""
    fields: dict[str, Any] = json.loads(document)
    if "Id" not in fields:
        raise ValueError("not a JobResult document")
    init = fields.get("InitRequest")
    request = None
    if init is not None:
        request = InitRequest(
            method=init["Method"],
            uri=init["Uri"],
            content_type=init["ContentType"],
            client_ip=init["Ip"],
            headers=tuple((h["Name"], h["Value"]) for h in init.get("HttpHeaders", [])),
            body=init.get("Body", ""),
        )
    return JobResult(
        id=fields["Id"],
        state=_state(fields.get("State")),
        error_data=fields.get("ErrorData"),
        error_code=fields.get("ErrorCode"),
        init_request=request,
    )
