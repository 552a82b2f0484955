"""The WAPI endpoint: `POST /wapi/xml` and `POST /wapi/json`.

Every request gets a WAPI answer with HTTP 200; an unexpected failure answers 2400 and
is logged. The checks run in WAPI's order: the document (20xx), authentication (2050,
alike for an unknown login and a wrong token, and throttled: past the budget 2050 with
`Retry-After`, the token unchecked), the allow-list (2051), suspension (2053), and only
then the command (2010) and its parameters (21xx), so an unauthenticated client learns
nothing about accounts or commands.
"""

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from starlette.types import Receive, Scope, Send
from tidings.adapters import telemetry
from tidings.domain import Code
from tidings.domain.serverrun import PING_ASYNC, ping_ending

from ..errors import OutcomeUnknown
from ..library import Conflict, Rejected, RemoteClient, StorageError, Tidings
from ..logs import REQUEST_ID
from ..metrics import AUTH_FAILURES, THROTTLED
from ..wapi.auth import token_matches
from ..wapi.request import MAX_BODY, Dialect, WapiError, WapiReply, WapiRequest, parse_request
from ..wapi.response import notify_fields
from ..wapi.response import render_reply as render
from .access_log import HUNG_UP, ID_HEADER, access_line, first_id, noted
from .body import BodyTooSlow, ClientGone, Deadlines, TooLarge, Unfinished
from .context import Context
from .limits import settle_unfinished

__all__ = ["PING_ASYNC", "WapiEndpoint", "answer", "ping_ending"]

# Enum members read once: reading one off its class runs `EnumType.__getattr__`.
_PENDING, _OK, _AUTH_FAILED = Code.PENDING, Code.OK, Code.AUTH_FAILED
_COMMAND_FAILED, _TOO_LARGE = Code.COMMAND_FAILED, Code.TOO_LARGE
# The `x-wapi-code` header of each code, written once.
_CODE_HEADER: dict[int, bytes] = {code: b"%d" % code for code in Code}
_POLL = frozenset({"poll-req", "notify-poll-req"})
_ACK = frozenset({"poll-ack", "notify-poll-ack"})
_MEDIA = {Dialect.XML: "text/xml; charset=utf-8", Dialect.JSON: "application/json"}
_log = logging.getLogger("tidings.wapi")
_NOTHING_READ = WapiError(Code.PARSE_ERROR)  # echoes neither clTRID nor command


def _reply(
    code: Code,
    svtrid: str,
    now: datetime,
    request: WapiRequest | WapiError,  # what it echoes (clTRID, command)
    text: str | None = None,
    data: dict[str, Any] | None = None,
) -> WapiReply:
    return WapiReply(
        code=code,
        result=text or code.text,
        timestamp=int(now.timestamp()),
        svtrid=svtrid,
        cltrid=request.cltrid,
        command=request.command,
        data=data,
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
) -> WapiReply:
    """Authenticate and run one well-formed request, on the event loop (only an
    authenticated client learns about the command)."""
    command = request.command.lower()
    # token_matches does the same work for an unknown login, so timing tells nothing;
    # the domain's access rule says which answer refuses (2050, 2051, 2053).
    client = RemoteClient(
        proof=lambda account: token_matches(account, request.user, request.auth, now), ip=ip
    )
    svtrid = ""  # ours, minted when the answer needs it (a pending operation has its own)
    try:
        if command == PING_ASYNC:
            # Ended by the due-work runner, which follows the log (`push.due`).
            pending = await tidings.accept_async(
                request.user, request.cltrid or "", PING_ASYNC, client=client
            )
            return _reply(_PENDING, pending.svtrid, pending.timestamp, request)
        svtrid = tidings.new_svtrid()
        if command in _POLL:
            polled = await tidings.poll_async(request.user, svtrid=svtrid, client=client)
            head = polled.notification
            data = None if head is None else {"notify": notify_fields(head)}
            return _reply(polled.code, svtrid, now, request, polled.text, data)
        # What an authenticated client is answered when this is no poll-ack with an id.
        wanted = _ack_id(request) if command in _ACK else Code.UNKNOWN_COMMAND
        if not isinstance(wanted, Code):
            acked = await tidings.ack_async(request.user, wanted, client=client)
            return _reply(acked.code, svtrid, now, request, acked.text)
        await tidings.admit_async(request.user, client)
    except Rejected as rejected:
        if rejected.code == _AUTH_FAILED:
            AUTH_FAILURES.labels("wapi").inc()
        return _reply(rejected.code, svtrid or tidings.new_svtrid(), now, request, rejected.text)
    except Conflict:  # other writers kept winning: nothing was written, the client retries
        return _reply(_COMMAND_FAILED, svtrid or tidings.new_svtrid(), now, request)
    except OutcomeUnknown:
        raise  # it may have been saved: not a failure (`WapiEndpoint`)
    except StorageError:  # the store cannot answer (logged once per outage): nothing written
        return _reply(_COMMAND_FAILED, svtrid or tidings.new_svtrid(), now, request)
    return _reply(_OK if command == "ping" else wanted, svtrid, now, request)


class WapiEndpoint:
    """The ASGI app of one dialect's endpoint, served in front of the app's middleware:
    it applies inline what the middleware would (the request id, the access event, the
    body deadline), and the body cap (2007), the throttle and the metrics."""

    def __init__(self, dialect: Dialect, context: Context) -> None:
        self.dialect = dialect
        self._context = context
        self._media = _MEDIA[dialect].encode()
        self._deadlines = Deadlines(context.settings.limits.body_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type, length, sent_id = _headers(scope)
        rid = first_id(scope, sent_id)
        token = REQUEST_ID.set(rid)
        traced = telemetry.request(scope) if telemetry.ON else None
        started = time.perf_counter()
        seen: dict[str, object] = {"status": HUNG_UP}
        rid_header = (ID_HEADER, rid.encode("ascii"))
        try:
            try:
                body: bytes | None = await _read_body(receive, length, self._deadlines)
            except TooLarge:
                body = None
            ip = client[0] if (client := scope.get("client")) else None
            reply, extra = await self.handle(body, content_type, ip, scope)
            document = render(reply, self.dialect)
            code = reply.code
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-length", b"%d" % len(document)),
                        (b"content-type", self._media),
                        (b"x-wapi-code", _CODE_HEADER.get(code) or b"%d" % code),  # logs, proxies
                        *extra,
                        rid_header,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": document})
            seen = {"status": 200, "wapi_code": int(code)}  # as a number, not `Code`
            noted(scope, "svtrid", reply.svtrid)
        except Unfinished as error:
            seen["status"] = await settle_unfinished(scope, send, error, [rid_header])
        except OutcomeUnknown as error:  # no WAPI code says "maybe": no WAPI answer
            text = f"{error}; read it back before sending it again\n".encode()
            plain = [(b"content-type", b"text/plain"), rid_header]
            await send({"type": "http.response.start", "status": 504, "headers": plain})
            await send({"type": "http.response.body", "body": text})
            seen["status"] = 504
        except BaseException:
            seen["status"] = 500
            raise
        finally:
            REQUEST_ID.reset(token)
            access_line(scope, seen, started, traced)

    async def handle(
        self, body: bytes | None, content_type: str, ip: str | None, scope: Scope
    ) -> tuple[WapiReply, list[tuple[bytes, bytes]]]:
        """The reply to `body` (None: past the cap) and the extra headers to send with it."""
        started = time.monotonic()
        tidings = self._context.tidings
        gate = self._context.gate
        now = self._context.settings.clock()
        try:
            if body is None:
                return _reply(_TOO_LARGE, tidings.new_svtrid(), now, _NOTHING_READ), []
            parsed = parse_request(self.dialect, body, content_type)
        except WapiError as wrong:
            return _reply(wrong.code, tidings.new_svtrid(), now, wrong), []
        except Exception:  # a reader bug: 2400, not a 500
            _log.exception("reading a WAPI request failed")
            return _reply(_COMMAND_FAILED, tidings.new_svtrid(), now, _NOTHING_READ), []
        noted(scope, "login", parsed.user)
        wait = gate.retry_after(parsed.user, ip)
        if wait is not None:
            THROTTLED.labels("wapi").inc()
            await gate.refused(started)
            refusal = _reply(_AUTH_FAILED, tidings.new_svtrid(), now, parsed)
            return refusal, [(b"retry-after", b"%d" % wait)]
        try:
            reply = await answer(tidings, parsed, ip, now)
        except OutcomeUnknown:
            raise  # answered without a WAPI code (`__call__`)
        except Exception:
            _log.exception("WAPI %s failed", parsed.command)
            return _reply(_COMMAND_FAILED, tidings.new_svtrid(), now, parsed), []
        if reply.code == _AUTH_FAILED:
            await gate.failed(parsed.user, ip, started)
        else:
            gate.passed(parsed.user, ip)
        return reply, []


def _headers(scope: Scope) -> tuple[str, int | None, bytes | None]:
    """A request's type, declared length and sent id, in one pass (the first counts)."""
    content_type = length = sent_id = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            if content_type is None:
                content_type = value
        elif name == b"content-length":
            if length is None:
                length = value
        elif name == ID_HEADER and sent_id is None:
            sent_id = value
    text = "" if content_type is None else content_type.decode("latin-1")
    return text, int(length) if length is not None and length.isdigit() else None, sent_id


async def _read_body(receive: Receive, declared: int | None, deadlines: Deadlines) -> bytes:
    """The whole body; `TooLarge` past `MAX_BODY` (at once for a declared length over
    it), `BodyTooSlow` past the deadline, `ClientGone` when the client hangs up."""
    if declared is not None and declared > MAX_BODY:
        raise TooLarge
    reading = deadlines.start()
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if reading.expired and task is not None and not task.uncancel():
                    raise BodyTooSlow from None
                raise
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        deadlines.done(reading)
