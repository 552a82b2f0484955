"""How the server and the worker write their log (`setup_logging`): every record to
stderr as readable lines or JSON lines; a record whose message is a dict is an event
(`event`), its keys its fields. While a request is served, `REQUEST_ID` holds its id and
every record logged meanwhile carries it."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from .redaction import redacted

__all__ = ["FORMS", "REQUEST_ID", "JsonLines", "Readable", "event", "setup_logging"]

FORMS = ("readable", "json")
REQUEST_ID: ContextVar[str | None] = ContextVar("tidings_request_id", default=None)


def event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log the event `name` with its fields (login, svtrid, notification, reason...);
    None fields are left out."""
    if logger.isEnabledFor(level):
        kept = {key: value for key, value in fields.items() if value is not None}
        request = REQUEST_ID.get()
        if request is not None:  # kept in the record, for handlers other than ours too
            kept.setdefault("request_id", request)
        logger.log(level, {"event": name, **kept})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    line: dict[str, Any] = {
        "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
        "level": record.levelname.lower(),
        "logger": record.name,
    }
    if isinstance(record.msg, dict):
        line.update(record.msg)
    else:
        line["message"] = record.getMessage()
    request = REQUEST_ID.get()
    if request is not None:
        line.setdefault("request_id", request)
    return line


class JsonLines(logging.Formatter):
    """One JSON object a line: `at`, `level`, `logger`, then the message (`message`) or
    the event's fields, and `error` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = _fields(record)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        # A driver's error may quote the database URL: its password never reaches a log.
        return redacted(json.dumps(line, ensure_ascii=False, default=str))


class Readable(logging.Formatter):
    """`<at> <LEVEL> <logger>: <message or event> key=value ...`, then the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = _fields(record)
        at, level, logger = line.pop("at"), line.pop("level"), line.pop("logger")
        head = line.pop("message", None) or line.pop("event", "")
        pairs = " ".join(f"{key}={_value(value)}" for key, value in line.items())
        text = f"{at} {level.upper()} {logger}: {head}" + (f" {pairs}" if pairs else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redacted(_escaped(text))


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    plain = text and text.isprintable() and not any(c in text for c in ' "=')
    return text if plain else json.dumps(text)


def _escaped(text: str) -> str:
    """`text` with every character a terminal acts on but the newline escaped: what a
    client sent (a path, a login, an error quoting it) can neither forge a line nor
    redraw the operator's terminal (a carriage return, an escape sequence)."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode() for c in text
    )


def setup_logging(level: str, form: str = "readable") -> None:
    """Every log record to stderr at `level` and above, in `form` (one of `FORMS`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if form == "json" else Readable())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
