"""The access log: one event per request on the `tidings.access` logger, and the request
id every request carries: its usable `X-Request-Id` (1-128 visible ASCII characters),
else one minted here; echoed in the answer, and held in `logs.REQUEST_ID` meanwhile."""

import itertools
import logging
import os
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tidings.adapters import telemetry

from ..logs import REQUEST_ID

__all__ = ["HUNG_UP", "ID_HEADER", "AccessLog", "access_line", "first_id", "noted"]

_log = logging.getLogger("tidings.access")
HUNG_UP = 499  # "client closed request", nginx's word for it
ID_HEADER = b"x-request-id"
_LONGEST_ID = 128
_NOTES = "tidings.access"


class _Minted:
    """16 hex digits: a random half drawn per process (again in a forked child), a counter."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix = secrets.randbits(32) << 32
        self.counter = itertools.count(secrets.randbelow(1 << 32))

    def next(self) -> str:
        # The 8 bytes' hex, not a formatted string: half the work.
        return (self.prefix | next(self.counter) & 0xFFFFFFFF).to_bytes(8).hex()


_minted = _Minted()


def first_id(scope: Scope, sent: bytes | None) -> str:
    """The request's id, decided once per request (kept in the scope); `sent`: its first
    `X-Request-Id` header."""
    notes = scope.setdefault(_NOTES, {})
    known = notes.get("request_id")
    if known is not None:
        return str(known)
    if sent is not None and 0 < len(sent) <= _LONGEST_ID and all(33 <= b <= 126 for b in sent):
        notes["request_id"] = chosen = sent.decode("ascii")
    else:
        notes["request_id"] = chosen = _minted.next()
    return chosen


def noted(scope: Scope, name: str, value: object) -> None:
    """Add a field (login, svtrid) to the request's access line."""
    scope.setdefault(_NOTES, {})[name] = value


class AccessLog:
    """ASGI middleware: the request id, then one access event (no query string: it may
    carry tokens); 499 for a request nobody was answered, 500 for one the app failed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = first_id(scope, next((v for n, v in scope["headers"] if n == ID_HEADER), None))
        token = REQUEST_ID.set(rid)
        traced = telemetry.request(scope)
        header = (ID_HEADER, rid.encode("ascii"))
        started = time.perf_counter()
        seen: dict[str, object] = {"status": HUNG_UP}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                # (WAPI's answers, with their code, leave through `WapiEndpoint`.)
                seen["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            seen["status"] = 500
            raise
        finally:
            REQUEST_ID.reset(token)
            access_line(scope, seen, started, traced)


def access_line(
    scope: Scope, seen: dict[str, object], started: float, traced: telemetry.Request | None
) -> None:
    """The access event of one request: `seen` holds its status (and WAPI code),
    `started` its `time.perf_counter()` at the start (after `first_id`); `traced`: its
    span, ended here."""
    notes = dict(scope[_NOTES])
    rid = notes.pop("request_id")
    if traced is not None:
        telemetry.close_request(traced, scope, {**seen, **notes, "request_id": rid})
    if _log.isEnabledFor(logging.INFO):
        client = scope.get("client")
        _log.info(
            {
                "event": "request",
                "method": scope["method"],
                "path": scope["path"],
                **seen,
                **notes,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
                "request_id": rid,
            }
        )
