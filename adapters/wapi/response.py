"""Writing WAPI documents: responses in either dialect, notifications for poll and push.

The shapes are those of the specs' examples (see `wapi`): `<response>` with one-space
indentation and no XML declaration, fields in the order `code`, `result`, `timestamp`,
`clTRID`, `svTRID`, `command`, `data`; absent `clTRID`/`command` and empty `data` are left
out. JSON is `{"response": {...}}` with the same names and integer `code`/`timestamp`.
"""

import re
from datetime import datetime
from typing import Any

import msgspec
from tidings.domain import Notification

from .request import NOT_XML, Dialect, WapiReply

__all__ = ["notify_fields", "render_notify", "render_reply"]

_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def notify_fields(notification: Notification, *, id_name: str = "id") -> dict[str, Any]:
    """The fields of a notification in WAPI order: poll-req's `notify` (lowercase `id`)
    or, with `id_name="ID"`, a pushed `<notify>`."""
    outcome = notification.outcome
    fields: dict[str, Any] = {
        "code": outcome.code,
        "result": outcome.result,
        "timestamp": _unix(outcome.timestamp),
        "clTRID": outcome.cltrid,
        "svTRID": outcome.svtrid,
        "command": outcome.command,
    }
    if outcome.data:
        fields["data"] = outcome.data
    fields[id_name] = notification.id
    return fields


def _reply_fields(reply: WapiReply) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": reply.code, "result": reply.result}
    fields["timestamp"] = reply.timestamp
    if reply.cltrid is not None:
        fields["clTRID"] = reply.cltrid
    fields["svTRID"] = reply.svtrid
    if reply.command is not None:
        fields["command"] = reply.command
    if reply.data:
        fields["data"] = reply.data
    return fields


def _xml_name(key: Any) -> str:
    name = str(key)
    return name if _XML_NAME.fullmatch(name) else "_" + re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _xml_value(value: Any) -> Any:
    """Values as XML text; characters XML cannot carry are replaced. `data` keys are XML
    names since the domain refuses any other (`tidings.domain.document`); `_xml_name`
    only still rewrites those of notifications stored before that rule, so an old log
    can never produce a document a client cannot parse."""
    if isinstance(value, dict):
        return {_xml_name(k): _xml_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_xml_value(item) for item in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return NOT_XML.sub("\ufffd", str(value))


def _escaped(text: str) -> str:
    """Character data as XML writers escape it (xml.sax.saxutils.escape)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def _element(out: list[str], name: str, value: Any, depth: int) -> None:
    """`value` (as `_xml_value` gives it) as element `name`, indented one space a level:
    a list as one element per item; a dict as child elements, one per line (an empty
    list leaves its child out); None or an empty dict as an empty element; text escaped.
    The layout xmltodict's `unparse(pretty=True, indent=" ", full_document=False)` writes."""
    pad = " " * depth
    end = "\n" if depth else ""
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, dict):
            children = [(k, v) for k, v in item.items() if not (isinstance(v, list) and not v)]
            if children:
                out.append(f"{pad}<{name}>\n")
                for key, child in children:
                    _element(out, key, child, depth + 1)
                out.append(f"{pad}</{name}>{end}")
                continue
            item = None
        if item is None:
            out.append(f"{pad}<{name}></{name}>{end}")
        else:
            text = item if isinstance(item, str) else str(item)
            out.append(f"{pad}<{name}>{_escaped(text)}</{name}>{end}")


def _xml(root: str, fields: dict[str, Any]) -> bytes:
    out: list[str] = []
    _element(out, root, _xml_value(fields), 0)
    return "".join(out).encode("utf-8")


def render_reply(reply: WapiReply, dialect: Dialect) -> bytes:
    """A response document, UTF-8, in the dialect of the request."""
    fields = _reply_fields(reply)
    if dialect is Dialect.XML:
        return _xml("response", fields)
    return msgspec.json.encode({"response": fields})


def render_notify(notification: Notification) -> bytes:
    """A pushed notification: always XML, `<notify>` ending with `<ID>`."""
    return _xml("notify", notify_fields(notification, id_name="ID"))
