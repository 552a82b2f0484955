"""The JSON API for backends: accounts, operations, the audit trail, for an operator's
bearer token (each change recorded as that operator's action). One table, `ENDPOINTS`,
drives both the routing and the OpenAPI document (`GET /openapi.json`, generated from the
very types the handlers decode and encode); errors answer `ApiError`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tidings.domain import Code, Notification, RetryPolicy
from tidings.domain.operator import ADMIN, Actor

from ..errors import OutcomeUnknown
from ..library import Conflict, Pending, Rejected, StorageError, Tidings, TrailEntry
from ..metrics import THROTTLED
from ..numbers import LARGEST, whole_number
from ..push.views import (
    DeliveryView,
    EndpointView,
    Redelivered,
    Redelivery,
    Resumed,
    ResumeTarget,
)
from ..views import AccountView, OpenedAccount
from .api_types import (
    AccountList,
    AckedUpTo,
    AckUpToId,
    AllowedIps,
    ApiError,
    ChannelSetting,
    Closure,
    Done,
    Ending,
    NewAccount,
    NewOperation,
    NewPassword,
    NewStep,
    OperationView,
    QueueView,
    SigningSecret,
    Suspension,
    TrailEntryView,
    decode_body,
    operation_view,
    queue_view,
    trail_view,
)
from .body import TooLarge, read_body
from .context import Context, bearer

__all__ = ["ENDPOINTS", "MAX_API_BODY", "Endpoint", "api_routes", "http_error", "openapi_document"]

MAX_API_BODY = 1024 * 1024
_STATUS = {
    Code.AUTH_FAILED: 401,
    Code.ACCOUNT_SUSPENDED: 403,
    Code.OBJECT_NOT_FOUND: 404,
    Code.OBJECT_EXISTS: 409,
    Code.STATUS_PROHIBITS: 409,
    Code.TOO_LARGE: 413,
    Code.TOO_COMPLEX: 400,
    Code.PARSE_ERROR: 400,
    Code.ENCODING_MISMATCH: 400,
    Code.COMMAND_FAILED: 503,
}
Params = dict[str, str]
_T = TypeVar("_T")
# The parameters that hold the caller's operator name and the route's summary (no path
# or query parameter is).
_CALLER = "\0operator"
_SUMMARY = "\0summary"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: `run(tidings, params, decoded body)` runs in a worker thread."""

    method: str
    path: str
    summary: str
    answer: Any
    run: Callable[[Tidings, Params, Any], Any]
    body: type | None = None
    status: int = 200
    query: tuple[str, ...] = ()  # the query parameters it reads, all optional integers


def _by(p: Params) -> Actor:
    return Actor(p[_CALLER], p[_SUMMARY])


def _found(value: _T | None, what: str) -> _T:
    if value is None:
        raise Rejected(Code.OBJECT_NOT_FOUND, f"{what} does not exist")
    return value


def _number(p: Params, name: str, default: int) -> int:
    raw = p.get(name)
    if raw is None:
        return default
    value = whole_number(raw)
    if value is None:
        raise Rejected(
            Code.INVALID_PARAMETER, f"{name} is a whole number 0-{LARGEST}, not {raw[:40]!r}"
        )
    return value


def _accounts(t: Tidings, p: Params, _: None) -> AccountList:
    page = t.accounts(after=_number(p, "after", 0), limit=_number(p, "limit", 100))
    return AccountList(accounts=page.accounts, next=page.next)


def _queue(t: Tidings, p: Params, _: None) -> QueueView:
    login = p["login"]
    _found(t.account(login), f"account {login!r}")
    limit = _number(p, "limit", 10)
    if not 0 <= limit <= 1000:
        raise Rejected(Code.INVALID_PARAMETER, "limit is 0-1000")
    return queue_view(login, t.mailbox(login), limit)


def _trail(t: Tidings, key: str) -> list[TrailEntry]:
    login, slash, ident = key.rpartition("/")
    number = whole_number(ident) if slash else None
    return (
        t.trail(key)
        or (number is not None and t.trail(notification=(login, number)))
        or t.trail(cltrid=key)
    )


def _bulk_ack(t: Tidings, p: Params, body: AckUpToId) -> AckedUpTo:
    # A named operator's token may name only itself: another would put words in its mouth.
    caller = p[_CALLER]
    by = body.operator or caller
    if by != caller and caller != ADMIN:
        raise Rejected(Code.INVALID_PARAMETER,
                       f"operator is this token's own, {caller!r}, not {by[:40]!r}")  # fmt: skip
    return AckedUpTo(acked=t.bulk_ack(p["login"], body.up_to, by=by))


def _step(t: Tidings, p: Params, body: NewStep) -> Done:
    t.step(p["svtrid"], body.text)
    return Done(Code.OK, Code.OK.text)


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/api/accounts", "Open an account", OpenedAccount,
             lambda t, p, b: t.open_account(b.login, b.password, channel=b.channel,
                                            retry_policy=b.retry_policy,
                                            allowed_ips=b.allowed_ips, by=_by(p)),
             NewAccount, 201),
    Endpoint("GET", "/api/accounts", "List accounts, a page at a time (in the order "
             "they were opened)", AccountList, _accounts, query=("after", "limit")),
    Endpoint("GET", "/api/accounts/{login}/queue", "An account's poll queue: count, "
             "oldest, the first notifications", QueueView, _queue, query=("limit",)),
    Endpoint("POST", "/api/accounts/{login}/queue/ack", "Ack the poll queue up to an id "
             "(an operator's action)", AckedUpTo, _bulk_ack, AckUpToId),
    Endpoint("POST", "/api/accounts/{login}/test", "Send the account a test notification "
             "through its delivery method", Notification,
             lambda t, p, _: t.send_test(p["login"], by=_by(p))),
    Endpoint("GET", "/api/accounts/{login}", "Read an account", AccountView,
             lambda t, p, _: _found(t.account(p["login"]), f"account {p['login']!r}")),
    Endpoint("PUT", "/api/accounts/{login}/channel", "Set the delivery channel", AccountView,
             lambda t, p, b: t.configure_channel(p["login"], b.channel, by=_by(p)),
             ChannelSetting),
    Endpoint("PUT", "/api/accounts/{login}/retry-policy", "Set the push retry policy",
             AccountView, lambda t, p, b: t.set_retry_policy(p["login"], b, by=_by(p)),
             RetryPolicy),
    Endpoint("PUT", "/api/accounts/{login}/allowed-ips", "Set the IP allow-list", AccountView,
             lambda t, p, b: t.set_allowed_ips(p["login"], b.allowed_ips, by=_by(p)),
             AllowedIps),
    Endpoint("PUT", "/api/accounts/{login}/password", "Change the password", AccountView,
             lambda t, p, b: t.change_password(p["login"], b.password, by=_by(p)),
             NewPassword),
    Endpoint("POST", "/api/accounts/{login}/suspend", "Suspend an account", AccountView,
             lambda t, p, b: t.suspend(p["login"], b.reason, by=_by(p)), Suspension),
    Endpoint("POST", "/api/accounts/{login}/resume", "Resume an account", AccountView,
             lambda t, p, _: t.resume(p["login"], by=_by(p))),
    Endpoint("POST", "/api/accounts/{login}/close", "Close an account for good (its queue "
             "and trail are kept)", AccountView,
             lambda t, p, b: t.close_account(p["login"], b.reason, by=_by(p)), Closure),
    Endpoint("POST", "/api/accounts/{login}/secret", "Rotate the signing secret",
             SigningSecret, lambda t, p, _: SigningSecret(t.rotate_secret(p["login"], by=_by(p)))),
    Endpoint("POST", "/api/operations", "Accept an operation (1001)", Pending,
             lambda t, _, b: t.accept(b.login, b.cltrid, b.command, init_request=b.init_request),
             NewOperation, 201),
    Endpoint("GET", "/api/operations/pending", "Operations accepted and not ended",
             list[OperationView],
             lambda t, _, __: [operation_view(s) for s in t.pending_operations()]),
    Endpoint("GET", "/api/operations/{svtrid}", "Read an operation", OperationView,
             lambda t, p, _: operation_view(_found(t.operation(p["svtrid"]),
                                                   f"operation {p['svtrid']!r}"))),
    Endpoint("POST", "/api/operations/{svtrid}/steps", "Record a step", Done, _step, NewStep),
    Endpoint("POST", "/api/operations/{svtrid}/end", "End an operation: queues its "
             "notification", Notification,
             lambda t, p, b: t.end(p["svtrid"], b.code, b.result, data=b.data,
                                   batch_state=b.batch_state), Ending),
    Endpoint("GET", "/api/trail/{key:path}", "Audit trail of a svTRID, a clTRID or "
             "<login>/<notification id>", list[TrailEntryView],
             lambda t, p, _: [trail_view(e) for e in _trail(t, p["key"])]),
]  # fmt: skip

# Push delivery: what was pushed, what gave up, redelivery, endpoint health.
ENDPOINTS += [
    Endpoint("GET", "/api/accounts/{login}/deliveries", "Pushed notifications, oldest first",
             list[DeliveryView], lambda t, p, _: t.deliveries(p["login"])),
    Endpoint("GET", "/api/accounts/{login}/deliveries/gave-up", "Deliveries that gave up",
             list[DeliveryView], lambda t, p, _: t.deliveries(p["login"], status="gave_up")),
    Endpoint("POST", "/api/accounts/{login}/redeliver", "Send deliveries again: given-up "
             "ones, and delivered ones too with `delivered` (recorded as resent)",
             Redelivered, lambda t, p, b: Redelivered(requeued=t.redeliver(
                 p["login"], b.notification_id, since=b.since, delivered=b.delivered,
                 by=_by(p))),
             Redelivery),
    Endpoint("GET", "/api/accounts/{login}/endpoints", "Health of the push endpoints",
             list[EndpointView], lambda t, p, _: t.endpoints(p["login"])),
    Endpoint("GET", "/api/endpoints", "Health of every account's push endpoints",
             list[EndpointView], lambda t, _, __: t.all_endpoints()),
    Endpoint("GET", "/api/endpoints/paused", "Every account's paused push endpoints",
             list[EndpointView], lambda t, _, __: t.all_endpoints(paused_only=True)),
    Endpoint("POST", "/api/accounts/{login}/endpoints/resume", "Resume paused endpoints",
             Resumed, lambda t, p, b: Resumed(resumed=t.resume_endpoint(p["login"], b.target,
                                                                       by=_by(p))),
             ResumeTarget),
]  # fmt: skip


def _error(code: Code, text: str | None = None, status: int | None = None) -> Response:
    status = status or _STATUS.get(code, 422)
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    body = msgspec.json.encode(ApiError(int(code), text or code.text))
    return Response(body, status, headers=headers, media_type="application/json")


def _throttled(retry_after: int) -> Response:
    THROTTLED.labels("api").inc()
    response = _error(Code.AUTH_FAILED, "too many failed authentications: retry later", 429)
    response.headers["retry-after"] = str(retry_after)
    return response


def _handler(endpoint: Endpoint, context: Context) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        let = await bearer(request, context, "api", named=True)
        if let.retry_after is not None:
            return _throttled(let.retry_after)
        operator = let.operator
        if operator is None:
            return _error(Code.AUTH_FAILED)
        try:
            body = None
            if endpoint.body is not None:
                raw = await read_body(request, MAX_API_BODY)
                body = decode_body(raw, endpoint.body, context.settings.limits.max_depth)
            params = {name: request.query_params[name] for name in endpoint.query
                      if name in request.query_params}  # fmt: skip
            params.update(request.path_params)
            params[_CALLER], params[_SUMMARY] = operator, endpoint.summary
            result = await run_in_threadpool(endpoint.run, context.tidings, params, body)
        except TooLarge:
            return _error(Code.TOO_LARGE)
        except Rejected as rejected:
            return _error(rejected.code, rejected.text)
        except Conflict as conflict:
            return _error(Code.COMMAND_FAILED, str(conflict))
        except OutcomeUnknown as unknown:  # it may have been saved: not a failure
            return _error(Code.COMMAND_FAILED, f"{unknown}; read it back before retrying", 504)
        except StorageError:  # the store cannot answer (logged once per outage)
            return _error(Code.COMMAND_FAILED, "the store cannot answer now: nothing was done")
        encoded = msgspec.json.encode(result)
        return Response(encoded, endpoint.status, media_type="application/json")

    handle.__name__ = f"{endpoint.method.lower()}_{endpoint.path}"
    return handle


def api_routes(context: Context) -> list[Route]:
    """The routes of `ENDPOINTS`, bound to a server, and `/openapi.json`."""
    routes = [Route(e.path, _handler(e, context), methods=[e.method]) for e in ENDPOINTS]
    return [Route("/openapi.json", _openapi, methods=["GET"]), *routes]


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's own errors (404, 405, ...) as `ApiError` JSON under `/api`, plain text
    elsewhere."""
    assert isinstance(error, HTTPException)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(error.detail, error.status_code, headers=error.headers)
    text = f"{error.detail}: {request.method} {request.url.path}"
    answer = _error(Code.UNKNOWN_COMMAND, text, error.status_code)
    answer.headers.update(error.headers or {})
    return answer


_REF = "#/components/schemas/{name}"
_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ENDPOINTS` (JSON Schema 2020-12 schemas)."""
    types = [ApiError, *(t for e in ENDPOINTS for t in (e.answer, e.body) if t is not None)]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    schema_of = dict(zip(map(id, types), schemas, strict=True))
    error = schema_of[id(ApiError)]
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", endpoint.path)  # starlette's {key:path}
        answers = [(endpoint.status, schema_of[id(endpoint.answer)])]
        responses = {
            str(status): {"description": HTTPStatus(status).phrase, **_json(schema)}
            for status, schema in [*answers, *((status, error) for status in _ERRORS)]
        }
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "operationId": f"{endpoint.method.lower()}{re.sub(r'[^A-Za-z]+', '_', path)}",
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"\{(\w+)\}", path)
            ]
            + [
                {"name": name, "in": "query", "required": False, "schema": {"type": "integer"}}
                for name in endpoint.query
            ],
            "responses": responses,
            "security": [{"bearer": []}],
        }
        if endpoint.body is not None:
            operation["requestBody"] = {"required": True, **_json(schema_of[id(endpoint.body)])}
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tidings JSON API",
            "version": "1",
            "description": "Accounts, operations and audit trails for backends. WAPI itself "
            "is served at POST /wapi/xml and /wapi/json, Merchants-style jobs at "
            "/merchants/products and /merchants/files.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def _openapi(_: Request) -> Response:
    return Response(msgspec.json.encode(openapi_document()), media_type="application/json")
