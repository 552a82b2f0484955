"""Writing WAPI responses in either dialect (the shapes: `request`'s docstring); the
notification's fields and the XML writer are those of a pushed `<notify>` (`push.payload`).
"""

from typing import Any

import msgspec
from msgspec.structs import replace

from ..push.payload import notify_fields, xml_document
from .request import Dialect, WapiReply

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


class _JsonDocument(msgspec.Struct, frozen=True):
    response: WapiReply


_encode_json = msgspec.json.Encoder().encode


def render_reply(reply: WapiReply, dialect: Dialect) -> bytes:
    """A response document, UTF-8, in the dialect of the request."""
    if dialect is Dialect.XML:
        return xml_document("response", _reply_fields(reply))
    if reply.data is not None and not reply.data:  # an empty `data` is left out too
        reply = replace(reply, data=None)
    # The struct's own encoding: `_reply_fields` in C (the same names, order and omissions).
    return _encode_json(_JsonDocument(reply))
