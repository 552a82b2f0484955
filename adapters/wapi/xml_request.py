"""Reading a WAPI XML request: one pass of expat, safe before anything is built.

The request is a handful of elements two or three levels deep, so it is read straight
into the members the request's fields are taken from: an element with child elements
becomes a dict (a name met twice, a list, in order), any other its text (whitespace
kept, so a clTRID is echoed exactly) or None when it has none; attributes, comments and
processing instructions are dropped, and so is text beside child elements. Names are
as written (`p:id`, a default namespace ignored), as xmltodict reads them.

Safety, before and while decoding: the body's size is capped by the caller (`MAX_BODY`);
a DTD, an entity declaration or an external reference refuses the document (defusedxml's
`forbid_dtd`, `forbid_entities`, `forbid_external`), so no entity can expand; past
`MAX_DEPTH` levels or `MAX_NODES` elements nothing more is built, and the document is
refused as too complex once expat has read it through (a document that is also not
well-formed is refused as such). The root must be `request` in no namespace, and no
field may come twice among its children (any case), names taken with their namespaces
as a namespace-aware parser sees them.

Why expat directly (the parser under both defusedxml and xmltodict, which the reader
called one after the other): one parse instead of two, no parser object built in
Python per request; the figure is in docs/decisions.md.
"""

from typing import Any
from xml.parsers import expat

from tidings.domain.document import DEPTH

__all__ = ["MAX_DEPTH", "MAX_NODES", "XmlRefused", "read_request"]

# Real requests are a handful of elements two or three levels deep; these bounds only
# stop documents built to burn CPU or recursion. The depth is the domain's rule for a
# WAPI request, counted here element by element as the document is read.
MAX_DEPTH = DEPTH["request"]
MAX_NODES = 1000

FIELDS = frozenset({"user", "auth", "command", "cltrid", "data", "test"})
# Between a namespace, a local name and a prefix in the names expat gives: a character
# no XML document can hold, so no namespace name contains it.
_SEPARATOR = "\x01"


class XmlRefused(Exception):
    """The document is refused; `reason` says why: "parse" (not well-formed, a DTD, an
    entity, an external reference, or not a `request`), "complex" (too deep or too many
    elements) or "duplicate" (a field twice)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Forbidden(Exception):
    """A DTD, an entity declaration or an external reference: raised from expat's
    handler, so expat stops at once."""


def _forbid(*_: Any) -> int:
    raise _Forbidden


class _Reader:
    """expat's handlers: the members of the root, built element by element."""

    __slots__ = ("complex", "depth", "fields", "nodes", "open", "root", "root_name")

    def __init__(self) -> None:
        self.depth = 0
        self.nodes = 0
        self.complex = False
        # Open elements: [name as written, child members (None: none yet), text parts].
        self.open: list[list[Any]] = []
        self.root: Any = None
        self.root_name: str | None = None  # None: in a namespace
        self.fields: list[str] = []  # the root's children that name a field, lowercased

    def start(self, name: str, _: Any) -> None:
        self.depth += 1
        self.nodes += 1
        if self.complex:
            return
        if self.depth > MAX_DEPTH or self.nodes > MAX_NODES:
            self.complex = True
            self.open.clear()
            return
        if _SEPARATOR in name:
            _, local, *prefix = name.split(_SEPARATOR)
            written, plain = (f"{prefix[0]}:{local}" if prefix else local), None
        else:
            written = plain = name
        if self.depth == 2 and plain is not None and plain.lower() in FIELDS:
            self.fields.append(plain.lower())
        elif self.depth == 1:
            self.root_name = plain
        self.open.append([written, None, None])

    def end(self, _: str) -> None:
        self.depth -= 1
        if self.complex:
            return
        name, children, text = self.open.pop()
        value = children if children is not None else ("".join(text) if text else None)
        if not self.open:
            self.root = value
            return
        parent = self.open[-1]
        siblings = parent[1]
        if siblings is None:
            parent[1] = {name: value}
        elif name not in siblings:
            siblings[name] = value
        elif isinstance(siblings[name], list):
            siblings[name].append(value)
        else:
            siblings[name] = [siblings[name], value]

    def text(self, data: str) -> None:
        if self.open:
            top = self.open[-1]
            if top[2] is None:
                top[2] = [data]
            else:
                top[2].append(data)


def read_request(text: str) -> Any:
    """The members of a `<request>` document (see the module's docstring); `XmlRefused`
    saying why it is refused."""
    reader = _Reader()
    parser = expat.ParserCreate(None, _SEPARATOR)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.ordered_attributes = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    try:
        parser.Parse(text, True)
    except (expat.ExpatError, _Forbidden, ValueError):
        raise XmlRefused("parse") from None
    if reader.complex:
        raise XmlRefused("complex")
    if reader.root_name != "request":
        raise XmlRefused("parse")
    if len(reader.fields) != len(set(reader.fields)):
        raise XmlRefused("duplicate")
    return reader.root
