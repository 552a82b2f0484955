"""The WAPI endpoint: `POST /wapi/xml` and `POST /wapi/json`.

Every request gets a WAPI answer with HTTP 200, the protocol's own way of saying what
went wrong; an unexpected failure on our side answers 2400 and is logged. The checks run
in WAPI's order: the document (20xx), then authentication, which says the same for an
unknown login and a wrong token and changes no state (2050), the IP allow-list (2051),
suspension (2053), and only then the command (2010) and its parameters (21xx), so an
unauthenticated client learns nothing about accounts or commands. Failed
authentications are throttled per address and login (`throttle`): past the budget the
answer is 2050 with a `Retry-After`, without the token being checked; every 2050 takes
the same least time.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from msgspec.structs import replace
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from tidings.domain import Code
from tidings.domain.serverrun import PING_ASYNC, ping_ending

from ..library import Conflict, Rejected, RemoteClient, Tidings
from ..metrics import AUTH_FAILURES, THROTTLED
from ..wapi.auth import token_matches
from ..wapi.request import MAX_BODY, Dialect, WapiError, WapiReply, WapiRequest, parse_request
from ..wapi.response import notify_fields
from ..wapi.response import render_reply as render
from .body import TooLarge, Unfinished, client_ip, read_body
from .context import Context

__all__ = ["PING_ASYNC", "WapiEndpoint", "answer", "ping_ending"]

_POLL = frozenset({"poll-req", "notify-poll-req"})
_ACK = frozenset({"poll-ack", "notify-poll-ack"})
_MEDIA = {Dialect.XML: "text/xml; charset=utf-8", Dialect.JSON: "application/json"}
_log = logging.getLogger("tidings.wapi")


@dataclass(frozen=True, slots=True)
class _Answered:
    reply: WapiReply


def _reply(
    code: Code, svtrid: str, now: datetime, request: WapiRequest, text: str | None = None
) -> WapiReply:
    return WapiReply(
        code=code,
        result=text or code.text,
        timestamp=int(now.timestamp()),
        svtrid=svtrid,
        cltrid=request.cltrid,
        command=request.command,
    )


def _ack_id(request: WapiRequest) -> str | Code:
    """The id poll-ack names (`data.id`, any case), or the code saying why there is none."""
    ids = [value for key, value in request.data.items() if key.lower() == "id"]
    if not ids or ids[0] is None or ids[0] == "":
        return Code.MISSING_PARAMETER
    value = ids[0]
    if len(ids) > 1 or isinstance(value, list):  # XML reads a repeated <id> as a list
        return Code.DUPLICATE_ELEMENT
    if isinstance(value, bool) or not isinstance(value, str | int):
        return Code.INVALID_PARAMETER
    return str(value)  # the core judges malformed and unknown ids alike (2151)


async def answer(
    tidings: Tidings, request: WapiRequest, ip: str | None, now: datetime
) -> _Answered:
    """Authenticate and run one well-formed request, on the event loop: the library's
    commands are awaited, no thread waits for them (`Tidings._run_async`).

    ping-async, poll-req and poll-ack are one library command each, the client let in
    inside its unit of work; ping, an unknown command or a poll-ack without a usable id
    lets the client in first, so that only an authenticated client learns about them.
    """
    svtrid = tidings.new_svtrid()
    command = request.command.lower()
    # token_matches does the same work for an unknown login, so timing tells nothing;
    # the domain's access rule says which answer refuses (2050, 2051, 2053).
    client = RemoteClient(
        proof=lambda account: token_matches(account, request.user, request.auth, now), ip=ip
    )
    try:
        if command == PING_ASYNC:
            # Ended by the due-work runner, which follows the log (`push.due`).
            pending = await tidings.accept_async(
                request.user, request.cltrid or "", PING_ASYNC, client=client
            )
            return _Answered(_reply(Code.PENDING, pending.svtrid, pending.timestamp, request))
        if command in _POLL:
            polled = await tidings.poll_async(request.user, svtrid=svtrid, client=client)
            reply = _reply(polled.code, svtrid, now, request, polled.text)
            if polled.notification is not None:
                data = {"notify": notify_fields(polled.notification)}
                reply = replace(reply, data=data)
            return _Answered(reply)
        # What an authenticated client is answered when this is no poll-ack with an id.
        wanted = _ack_id(request) if command in _ACK else Code.UNKNOWN_COMMAND
        if not isinstance(wanted, Code):
            acked = await tidings.ack_async(request.user, wanted, client=client)
            return _Answered(_reply(acked.code, svtrid, now, request, acked.text))
        await tidings.admit_async(request.user, client)
    except Rejected as rejected:
        if rejected.code == Code.AUTH_FAILED:
            AUTH_FAILURES.labels("wapi").inc()
        return _Answered(_reply(rejected.code, svtrid, now, request, rejected.text))
    except Conflict:  # other writers kept winning: nothing was written, the client retries
        return _Answered(_reply(Code.COMMAND_FAILED, svtrid, now, request))
    return _Answered(_reply(Code.OK if command == "ping" else wanted, svtrid, now, request))


class WapiEndpoint:
    """The ASGI app of one dialect's endpoint. An app, not a request handler: Starlette
    wraps a handler in two more layers per request (its `request_response`, exception
    wrapper and send wrapper), which WAPI, answering every error itself, has no use for."""

    def __init__(self, dialect: Dialect, context: Context) -> None:
        self.dialect = dialect
        self._context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        started = time.monotonic()
        tidings = self._context.tidings
        gate = self._context.gate
        now = self._context.settings.clock()
        try:
            body = await read_body(request, MAX_BODY)
            parsed = parse_request(self.dialect, body, request.headers.get("content-type", ""))
        except (TooLarge, WapiError) as error:
            code = error.code if isinstance(error, WapiError) else Code.TOO_LARGE
            reply = WapiReply(
                code=code,
                result=code.text,
                timestamp=int(now.timestamp()),
                svtrid=tidings.new_svtrid(),
                cltrid=error.cltrid if isinstance(error, WapiError) else None,
                command=error.command if isinstance(error, WapiError) else None,
            )
            return self._respond(reply)
        except Unfinished:
            raise  # no one to answer, or answered by the body deadline
        except Exception:  # a reader bug must not become a 500; the fuzz tests look for 2400
            _log.exception("reading a WAPI request failed")
            return self._respond(
                WapiReply(
                    code=Code.COMMAND_FAILED,
                    result=Code.COMMAND_FAILED.text,
                    timestamp=int(now.timestamp()),
                    svtrid=tidings.new_svtrid(),
                )
            )
        ip = client_ip(request)
        wait = gate.retry_after(parsed.user, ip)
        if wait is not None:
            THROTTLED.labels("wapi").inc()
            await gate.refused(started)
            refusal = _reply(Code.AUTH_FAILED, tidings.new_svtrid(), now, parsed)
            return self._respond(refusal, {"retry-after": str(wait)})
        try:
            answered = await answer(tidings, parsed, ip, now)
        except Exception:
            _log.exception("WAPI %s failed", parsed.command)
            return self._respond(_reply(Code.COMMAND_FAILED, tidings.new_svtrid(), now, parsed))
        if answered.reply.code == Code.AUTH_FAILED:
            await gate.failed(parsed.user, ip, started)
        else:
            gate.passed(parsed.user, ip)
        return self._respond(answered.reply)

    def _respond(self, reply: WapiReply, headers: dict[str, str] | None = None) -> Response:
        response = Response(
            render(reply, self.dialect), media_type=_MEDIA[self.dialect], headers=headers
        )
        response.headers["x-wapi-code"] = str(reply.code)  # for the access log and proxies
        return response
