"""Writing WAPI responses in either dialect (the shapes: `request`'s docstring); the
notification's fields and the XML writer are those of a pushed `<notify>` (`push.payload`).
"""

import re
from typing import Any

import msgspec
from msgspec.structs import replace

from ..push.payload import notify_fields, xml_document
from .request import NOT_XML, Dialect, WapiReply

__all__ = ["notify_fields", "render_reply"]


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


# A character `xml_document` would escape or replace: text without one is written as it is.
_UNPLAIN = re.compile(f"[&<>]|{NOT_XML.pattern}")


def _plain_xml(reply: WapiReply) -> bytes | None:
    """The `<response>` of a reply without `data` whose texts need neither escaping nor
    replacing, written directly as `xml_document` writes it; else None."""
    cltrid, command = reply.cltrid, reply.command
    texts = f"{reply.result}{reply.svtrid}{cltrid or ''}{command or ''}"
    if reply.data or _UNPLAIN.search(texts):
        return None
    head = f"<response>\n <code>{reply.code}</code>\n <result>{reply.result}</result>\n"
    lines = [head, f" <timestamp>{reply.timestamp}</timestamp>\n"]
    if cltrid is not None:
        lines.append(f" <clTRID>{cltrid}</clTRID>\n")
    lines.append(f" <svTRID>{reply.svtrid}</svTRID>\n")
    if command is not None:
        lines.append(f" <command>{command}</command>\n")
    lines.append("</response>")
    return "".join(lines).encode("utf-8")


class _JsonDocument(msgspec.Struct, frozen=True):
    response: WapiReply


_encode_json = msgspec.json.Encoder().encode
_XML = Dialect.XML  # read once: reading a member off its class runs `EnumType.__getattr__`


def render_reply(reply: WapiReply, dialect: Dialect) -> bytes:
    """A response document, UTF-8, in the dialect of the request."""
    if dialect is _XML:
        return _plain_xml(reply) or xml_document("response", _reply_fields(reply))
    if reply.data is not None and not reply.data:  # an empty `data` is left out too
        reply = replace(reply, data=None)
    # The struct's own encoding: `_reply_fields` in C (the same names, order and omissions).
    return _encode_json(_JsonDocument(reply))
