"""The WAPI wire format: request documents in, response and notify documents out.

A request, XML (form field `request` or raw body) or JSON (with or without the
`{"request": ...}` wrapper)::

    <request>
     <user>tester</user>
     <auth>fb82be1466331148816bdbac855a6b1bd4e24b81</auth>
     <command>ping-async</command>
     <clTRID>AvrX87Kqk6h3</clTRID>
    </request>

and its response::

    <response>
     <code>1001</code>
     <result>Request pending</result>
     <timestamp>1286957874</timestamp>
     <clTRID>AvrX87Kqk6h3</clTRID>
     <svTRID>1286957874.1271.15706</svTRID>
     <command>ping-async</command>
    </response>

The operation's `<notify>`, once it ends, holds the same fields with the ending's code,
result and timestamp, then its `<ID>` (`<id>` inside poll-req's `<data>`).

We are exact in what we send (`response`: the shapes above, one-space indentation, no
XML declaration; JSON `{"response": {...}}` with integer `code`/`timestamp`) and liberal
in what we accept: field names in any case, `data` as an object, absent or an empty
list, a `test` flag as a boolean, a number or a string.

A plain JSON text (no backslash, at most `MAX_NODES` characters and `MAX_DEPTH`
brackets) is decoded in C when that provably reads as the careful way: it has no
repeated key when it has as many colons as its tree written again (C drops repeats).
"""

import json
import re
from enum import StrEnum
from typing import Any, NoReturn, TypedDict

import msgspec
from tidings.domain import Code
from tidings.domain.document import too_deep
from tidings.domain.operation import MAX_CLTRID

from .form import FormError, request_document
from .xml_request import FIELDS, MAX_DEPTH, MAX_NODES, XmlRefused, read_request, usual_fields

__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "NOT_XML",
    "Dialect",
    "WapiError",
    "WapiReply",
    "WapiRequest",
    "parse_request",
]

MAX_BODY = 64 * 1024

# A field's name as clients spell it -> its name in lowercase (`_fields`).
_SPELLED = {**{name: name for name in FIELDS}, "clTRID": "cltrid"}
# The fields of a request read without the checks of the rarer ones (`_plain_request`).
_PLAIN = frozenset({"user", "auth", "command", "cltrid", "data"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
# Characters XML 1.0 cannot carry at all, not even escaped.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode


class _Refused(TypedDict):  # each `xml_request.Reason`'s code: mypy refuses one left out
    parse: Code
    complex: Code
    duplicate: Code


_REFUSED = _Refused(
    parse=Code.PARSE_ERROR, complex=Code.TOO_COMPLEX, duplicate=Code.DUPLICATE_ELEMENT
)


class Dialect(StrEnum):
    XML = "xml"
    JSON = "json"


class WapiError(Exception):
    """A request WAPI answers with an error code; `cltrid` and `command` as understood
    before the error, echoed when known."""

    def __init__(
        self, code: Code, *, cltrid: str | None = None, command: str | None = None
    ) -> None:
        super().__init__(f"{code.value} {code.text}")
        self.code = code
        self.cltrid = cltrid
        self.command = command


# Read once: reading a member off its class runs `EnumType.__getattr__`.
_XML, _JSON = Dialect.XML, Dialect.JSON


class WapiRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A well-formed request. `cltrid` is None when the client sent none."""

    user: str
    auth: str
    command: str
    cltrid: str | None = None
    data: dict[str, Any] = {}
    test: bool = False


class WapiReply(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    rename={"cltrid": "clTRID", "svtrid": "svTRID"},
):
    """A response; `cltrid`/`command` None are left out, `data` None or empty too. The
    JSON document is this struct encoded (`response.render_reply`)."""

    code: int
    result: str
    timestamp: int
    cltrid: str | None = None
    svtrid: str
    command: str | None = None
    data: dict[str, Any] | None = None


class _Usual(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    user: str
    auth: str
    command: str
    clTRID: str | None = None
    data: dict[str, Any] | None = None


class _UsualDocument(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    request: _Usual


_decode_usual = msgspec.json.Decoder(_UsualDocument).decode


def _fail(code: Code) -> NoReturn:
    raise WapiError(code)


def _count_nodes(root: Any) -> None:
    stack = [root]
    nodes = 0
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            _fail(Code.TOO_COMPLEX)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        _fail(Code.DUPLICATE_ELEMENT)
    return members


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _plain_json(text: str) -> Any:
    """The document decoded in C when the proof (module docstring) covers it, else None."""
    if len(text) > MAX_NODES or "\\" in text or text.count("{") + text.count("[") > MAX_DEPTH:
        return None
    try:
        document = _decode_json(text)
    except msgspec.DecodeError:
        return None
    return document if _encode_json(document).count(b":") == text.count(":") else None


def _json_members(text: str) -> Any:
    document = _plain_json(text)
    careful = document is None
    if careful:  # Python's parser, repeated keys refused (2004), then depth and size (2008)
        try:
            document = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except RecursionError:
            _fail(Code.TOO_COMPLEX)
        except ValueError:
            _fail(Code.PARSE_ERROR)
        if too_deep(document, "request"):
            _fail(Code.TOO_COMPLEX)
        _count_nodes(document)
    if not isinstance(document, dict):
        _fail(Code.PARSE_ERROR)
    inner = document.get("request")
    members = inner if isinstance(inner, dict) else document
    if careful:  # a plain text's strings are all UTF-8 already
        _utf8_everywhere(members)
    return members


def _utf8_everywhere(node: Any) -> None:
    """2102 for strings that cannot be sent back as UTF-8 (JSON's lone surrogates)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                _fail(Code.ENCODING_MISMATCH)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _fields(members: Any) -> dict[str, Any]:
    """The request's own fields by lowercase name; 2004 when one comes twice."""
    if not isinstance(members, dict):
        return {}
    found: dict[str, Any] = {}
    for key, value in members.items():
        name = _SPELLED.get(key)
        if name is None:
            name = key.lower()
            if name not in _SPELLED:
                continue
        if name in found:
            _fail(Code.DUPLICATE_ELEMENT)
        found[name] = value
    return found


def _echo(value: Any) -> str | None:
    """A clTRID or command as it can be echoed: str, a JSON integer as text, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _text(value: Any, missing: Code) -> str:
    if value is None or value == "":
        _fail(missing)
    if not isinstance(value, str):
        _fail(Code.INVALID_PARAMETER)
    return value


def _data(value: Any) -> dict[str, Any]:
    if value in (None, [], {}) or (isinstance(value, str) and not value.strip()):
        return {}  # also <data>\n </data>
    if isinstance(value, dict):
        return value
    _fail(Code.INVALID_PARAMETER)


def _test(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    _fail(Code.INVALID_PARAMETER)


def _request(members: Any) -> WapiRequest:
    fields = _fields(members)
    plain = _plain_request(fields)
    if plain is not None:
        return plain
    present = "cltrid" in fields
    # <clTRID/> is present and empty: echoed as such.
    cltrid = "" if present and fields["cltrid"] is None else _echo(fields.get("cltrid"))
    try:
        user = _text(fields.get("user"), Code.MISSING_USER)
        auth = _text(fields.get("auth"), Code.MISSING_AUTH)
        command = _text(fields.get("command"), Code.MISSING_COMMAND)
        if present and cltrid is None:
            _fail(Code.INVALID_PARAMETER)
        if cltrid is not None and len(cltrid) > MAX_CLTRID:
            _fail(Code.CLTRID_TOO_LONG)
        if cltrid is not None and NOT_XML.search(cltrid):
            _fail(Code.INVALID_PARAMETER)
        data, test = _data(fields.get("data")), _test(fields.get("test"))
    except WapiError as error:
        unfit = cltrid is not None and (len(cltrid) > MAX_CLTRID or NOT_XML.search(cltrid))
        echo = None if unfit else cltrid
        raise WapiError(error.code, cltrid=echo, command=_echo(fields.get("command"))) from None
    return WapiRequest(user=user, auth=auth, command=command, cltrid=cltrid, data=data, test=test)


def _plain_request(fields: dict[str, Any]) -> WapiRequest | None:
    """What `_request` makes of the usual fields when each is usable as it is, in fewer
    steps; None for anything else, which `_request` judges."""
    user, auth, command = fields.get("user"), fields.get("auth"), fields.get("command")
    cltrid = fields.get("cltrid")
    data = fields.get("data")
    if (
        isinstance(user, str)
        and user
        and isinstance(auth, str)
        and auth
        and isinstance(command, str)
        and command
        and fields.keys() <= _PLAIN
        and (cltrid is None or isinstance(cltrid, str))
        and (data is None or isinstance(data, dict))
    ):
        if cltrid is None:
            if "cltrid" in fields:  # <clTRID/>: echoed empty
                cltrid = ""
        elif len(cltrid) > MAX_CLTRID or NOT_XML.search(cltrid):
            return None
        return WapiRequest(user=user, auth=auth, command=command, cltrid=cltrid, data=data or {})
    return None


def _usual(document: bytes) -> WapiRequest | None:
    """The usual JSON request (these fields in this spelling, inside `{"request": ...}`)
    decoded in C under the proof, when `_plain_request` would take its fields; else None."""
    # Its length in bytes is at least its length in characters.
    if len(document) > MAX_NODES or b"\\" in document:
        return None
    if document.count(b"{") + document.count(b"[") > MAX_DEPTH:
        return None
    try:
        usual = _decode_usual(document)
    except msgspec.DecodeError:
        return None
    # A field written null reads as its default, which is not written again: the colons
    # then differ, and the careful way reads it.
    if _encode_json(usual).count(b":") != document.count(b":"):
        return None
    request = usual.request
    if not (request.user and request.auth and request.command):
        return None
    cltrid = request.clTRID
    if cltrid is not None and (len(cltrid) > MAX_CLTRID or NOT_XML.search(cltrid)):
        return None
    return WapiRequest(
        user=request.user,
        auth=request.auth,
        command=request.command,
        cltrid=cltrid,
        data=request.data or {},
    )


def parse_request(dialect: Dialect, body: bytes, content_type: str) -> WapiRequest:
    """Read a request from an HTTP body of the given content type.

    Raises WapiError: 2007 over MAX_BODY; 2009 empty; 2102 not UTF-8; 2000 not a
    well-formed document, a DTD, an entity or an external reference; 2008 too deep or
    too large a tree; 2004 a field twice; 2001/2002/2003 no user/auth/command; 2005 a
    clTRID over 64 characters; 2101 a field of the wrong type.
    """
    if len(body) > MAX_BODY:
        _fail(Code.TOO_LARGE)
    try:
        document = request_document(body, content_type)
    except FormError as error:
        _fail(error.code)
    usual = _usual(document) if dialect is _JSON else _plain_request(usual_fields(document))
    if usual is not None:
        return usual
    try:
        # What "utf-8-sig" reads (one leading BOM dropped), in C: that codec is Python.
        text = document.decode("utf-8")
        if text.startswith("\ufeff"):
            text = text[1:]
    except UnicodeDecodeError:
        _fail(Code.ENCODING_MISMATCH)
    if dialect is _XML:
        try:
            members = read_request(text)
        except XmlRefused as refused:
            _fail(_REFUSED[refused.reason])
    else:
        members = _json_members(text)
    return _request(members)
