"""The access log: one JSON line per request on the `tidings.access` logger."""

import json
import logging
import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..redaction import redacted

__all__ = ["AccessLog", "JsonLines"]

_log = logging.getLogger("tidings.access")
_HUNG_UP = 499  # "client closed request", nginx's word for it


class JsonLines(logging.Formatter):
    """Formats a record whose message is a dict as one JSON object per line; other
    records become `{"at", "level", "logger", "message"}`."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, dict):
            line = dict(record.msg)
        else:
            line = {
                "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                line["error"] = self.formatException(record.exc_info)
        # A driver's error may quote the database URL: its password never reaches a log.
        return redacted(json.dumps(line, ensure_ascii=False, default=str))


class AccessLog:
    """ASGI middleware: method, path, status, WAPI code (when there is one), duration,
    client. Query strings are left out: they may carry tokens. A request nobody was
    answered (the client hung up first) is logged with nginx's status 499; one the app
    failed on, 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Off (a level above info): not a line's worth of work per request either.
        if scope["type"] != "http" or not _log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, object] = {"status": _HUNG_UP}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name == b"x-wapi-code":
                        seen["wapi_code"] = int(value)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            seen["status"] = 500
            raise
        finally:
            client = scope.get("client")
            _log.info(
                {
                    "at": datetime.now(UTC).isoformat(),
                    "method": scope["method"],
                    "path": scope["path"],
                    **seen,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client[0] if client else None,
                }
            )
