"""A Merchants-style asynchronous endpoint, so the JobResult path runs end to end.

`POST`/`PUT` `/merchants/products` (single jobs) and `/merchants/files` (batches) take an
XML or JSON document, authenticate by `x-ApplicationId` (the login) and `x-Token` (the
password), record the request as the operation's `InitRequest` (`x-Token` and
`Authorization` redacted: the log is kept for ever), answer `202` with the job `Id`
(its svTRID) and end the job after the server's job delay, as the document's top-level
fields say (`domain.serverrun`; a namespace is ignored).
"""

import hmac
import json
import time
from typing import Any
from xml.parsers import expat

import defusedxml.ElementTree as SafeET
import msgspec
import xmltodict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings.domain import Code, InitRequest, Rejection
from tidings.domain.account import AccountState
from tidings.domain.document import too_deep
from tidings.domain.operation import OperationState
from tidings.domain.serverrun import FILES, JOB_COMMANDS, PRODUCTS, Ending, job_outcome
from tidings.domain.serverrun import job_ending as _job_ending

from ..errors import OutcomeUnknown
from ..library import Conflict, Rejected, RemoteClient, StorageError
from ..metrics import AUTH_FAILURES, THROTTLED
from ..wapi.auth import password_sha1
from ..wapi.xml_request import refusing_parser
from .body import TooLarge, client_ip, is_text, read_body
from .context import Context
from .limits import SENT_NAMES

__all__ = ["JOB_COMMANDS", "MAX_JOB_BODY", "job_ending", "merchants_routes", "too_deep_xml"]

MAX_JOB_BODY = 1024 * 1024
_SECRET_HEADERS = frozenset({"x-token", "authorization"})
_STATUS = {
    Code.AUTH_FAILED: 401,
    Code.IP_NOT_ALLOWED: 403,
    Code.ACCOUNT_SUSPENDED: 403,
    Code.COMMAND_FAILED: 503,  # the store, not the client: nothing was saved, retry
    Code.TOO_LARGE: 413,
}


def _is_json(content_type: str) -> bool:
    return "json" in content_type.lower()


def _top_level(body: str, content_type: str) -> dict[str, str]:
    """The document's top-level text fields; ValueError for a malformed document."""
    if _is_json(content_type):
        try:
            document = json.loads(body)
        except RecursionError as error:
            raise ValueError("document too deep") from error
        except json.JSONDecodeError:
            raise
        except ValueError as error:  # Python's own words name a function to call
            raise ValueError("a number has too many digits") from error
        if not isinstance(document, dict):
            raise ValueError("the document is not a JSON object")
        return {k: _scalar(v) for k, v in document.items()}
    root = SafeET.fromstring(body, forbid_dtd=True)
    # An element's local name: a namespace (`{urn:...}ErrorCode`) does not change the field
    return {
        child.tag.rpartition("}")[2]: child.text or ""
        for child in root
        if isinstance(child.tag, str)
    }


# Stands for a JSON value that is not a string or a number where one is needed.
_NOT_SCALAR = "\0not a string or a number"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _NOT_SCALAR


def job_ending(operation: OperationState) -> Ending:
    """How an accepted job ends, read again from its recorded request."""
    accepted = operation.accepted
    request = accepted.init_request if accepted else None
    try:
        fields = None if request is None else _top_level(request.body, request.content_type)
    except Exception:  # accepted documents parsed; this guards a store edited by hand
        fields = None
    return _job_ending(operation, fields)


def _answer(content_type: str, status: int, fields: dict[str, Any], root: str) -> Response:
    if _is_json(content_type):
        return Response(msgspec.json.encode(fields), status, media_type="application/json")
    body = str(xmltodict.unparse({root: fields}))  # as WAPI's and JobResult's documents
    return Response(body.encode(), status, media_type="application/xml")


def _error(
    content_type: str, code: Code, text: str | None = None, status: int | None = None
) -> Response:
    status = status or _STATUS.get(code, 400)
    return _answer(content_type, status, {"Code": int(code), "Text": text or code.text}, "Error")


def _unavailable(content_type: str, error: StorageError) -> Response:
    if isinstance(error, OutcomeUnknown):
        text, status = f"{error}; read it back before retrying", 504
    else:
        text, status = "the store cannot answer now: nothing was done", None
    return _error(content_type, Code.COMMAND_FAILED, text, status)


def _throttled(content_type: str, retry_after: int) -> Response:
    THROTTLED.labels("merchants").inc()
    text = "too many failed authentications: retry later"
    response = _error(content_type, Code.AUTH_FAILED, text, 429)
    response.headers["retry-after"] = str(retry_after)
    return response


class _Deep(Exception):
    pass


def too_deep_xml(raw: bytes | str, limit: int) -> bool:
    """Whether the XML document `raw` nests elements deeper than `limit`: one expat scan
    before any parser, no tree, no entity expanded; False for a malformed document (or
    one with a DTD or an entity: the parser refuses it)."""
    parser = refusing_parser()
    depth = 0

    def start(*_: object) -> None:
        nonlocal depth
        depth += 1
        if depth > limit:
            raise _Deep

    def end(*_: object) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(raw, True)
    except _Deep:
        return True
    except (ValueError, expat.ExpatError):
        return False
    return False


def _token_ok(account: AccountState | None, token: str) -> bool:
    digest = password_sha1(token).encode()
    known = account.password_sha1.encode() if account is not None else b"0" * 40
    return hmac.compare_digest(digest, known) and account is not None


def _headers(request: Request) -> tuple[tuple[str, str], ...]:
    """The request's headers as the client spelled their names, the secret ones redacted."""
    raw = request.headers.raw
    sent: list[bytes] = request.scope.get(SENT_NAMES, [])
    names = sent if len(sent) == len(raw) else [name for name, _ in raw]
    headers = []
    for name, (_, value) in zip(names, raw, strict=True):
        text = name.decode("latin-1")
        shown = "[redacted]" if text.lower() in _SECRET_HEADERS else value.decode("latin-1")
        headers.append((text, shown))
    return tuple(headers)


def _submit(command: str, context: Context) -> Any:
    async def submit(request: Request) -> Response:
        started = time.monotonic()
        content_type = request.headers.get("content-type", "application/xml")
        tidings, gate = context.tidings, context.gate
        try:
            body = await read_body(request, MAX_JOB_BODY)
        except TooLarge:
            return _error(content_type, Code.TOO_LARGE)
        login = request.headers.get("x-applicationid", "")
        ip = client_ip(request)
        wait = gate.retry_after(login, ip)
        if wait is not None:
            await gate.refused(started)
            return _throttled(content_type, wait)
        token = request.headers.get("x-token", "")
        client = RemoteClient(
            proof=lambda account: _token_ok(account, token) and bool(login), ip=ip
        )
        try:
            await tidings.admit_async(login, client)
        except Rejected as rejected:
            if rejected.code == Code.AUTH_FAILED:
                AUTH_FAILURES.labels("merchants").inc()
                await gate.failed(login, ip, started)
            else:  # the credentials were right (2051, 2053)
                gate.passed(login, ip)
            return _error(content_type, rejected.code, rejected.text)
        except StorageError as error:  # logged once per outage
            return _unavailable(content_type, error)
        gate.passed(login, ip)
        limit = context.settings.limits.max_depth
        json_body = _is_json(content_type)
        if too_deep(body, "body", limit=limit) if json_body else too_deep_xml(body, limit):
            return _error(content_type, Code.TOO_COMPLEX)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _error(content_type, Code.ENCODING_MISMATCH)
        try:
            fields = _top_level(text, content_type)
        except Exception as error:  # any parser's complaint is the client's 2000
            return _error(content_type, Code.PARSE_ERROR, f"{Code.PARSE_ERROR.text}: {error}")
        if not is_text(*fields, *fields.values()):  # the job's ending could not be saved
            return _error(content_type, Code.ENCODING_MISMATCH)
        if fields.get("ErrorData") == _NOT_SCALAR:  # it would end the job as the stand-in
            return _error(content_type, Code.INVALID_PARAMETER, "ErrorData is a string or a number")
        outcome = job_outcome(command, fields)
        if isinstance(outcome, Rejection):  # a State or ErrorCode that cannot be
            return _error(content_type, outcome.code, outcome.text)
        init = InitRequest(
            method=request.method,
            uri=str(request.url),
            content_type=content_type,
            client_ip=ip or "",
            headers=_headers(request),
            body=text,
        )
        try:
            # Ended by the due-work runner, which follows the log (`push.due`).
            pending = await tidings.accept_async(login, "", command, init_request=init)
        except Rejected as rejected:
            return _error(content_type, rejected.code, rejected.text)
        except Conflict:  # other writers kept winning: nothing was written, the client retries
            return _error(content_type, Code.COMMAND_FAILED)
        except StorageError as error:  # logged once per outage
            return _unavailable(content_type, error)
        return _answer(content_type, 202, {"Id": pending.svtrid}, "Job")

    return submit


def merchants_routes(context: Context) -> list[Route]:
    return [
        Route("/merchants/products", _submit(PRODUCTS, context), methods=["POST", "PUT"]),
        Route("/merchants/files", _submit(FILES, context), methods=["POST", "PUT"]),
    ]
