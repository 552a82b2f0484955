"""Reading a WAPI XML request: one pass of expat, safe before anything is built.

The members are read straight from expat's events: an element with child elements
becomes a dict (a name met twice, a list, in order), any other its text (whitespace
kept) or None; attributes, comments, processing instructions and text beside child
elements are dropped; names as written (`p:id`, a default namespace ignored), as
xmltodict reads them. A DTD, an entity declaration or an external reference refuses the
document (as defusedxml's `forbid_*`); past `MAX_DEPTH` levels or `MAX_NODES` elements
nothing more is built. Why expat directly: docs/decisions.md.
"""

import re
from typing import Any, Literal
from xml.parsers import expat

from tidings.domain.document import DEPTH

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "Reason",
    "XmlRefused",
    "read_request",
    "refusing_parser",
    "usual_fields",
]

# Bounds that only stop documents built to burn CPU or recursion.
MAX_DEPTH = DEPTH["request"]
MAX_NODES = 1000

# Why a document is refused (`XmlRefused.reason`).
Reason = Literal["parse", "complex", "duplicate"]
FIELDS = frozenset({"user", "auth", "command", "cltrid", "data", "test"})
# Between a namespace, a local name and a prefix in the names expat gives: a character
# no XML document can hold, so no namespace name contains it.
_SEPARATOR = "\x01"


# The usual request: these fields in this spelling and order, nothing else but blanks
# between them, each text of characters expat gives back as they are (printable ASCII
# but markup, `&` and `>`, so no reference and no `]]>`).
_BLANKS = rb"[ \t\r\n]*"
_TEXT = rb"[\x20-\x25\x27-\x3b\x3d\x3f-\x7e]"
_USUAL = re.compile(
    rb"%(s)s<request>%(s)s<user>(?P<user>%(t)s+)</user>%(s)s<auth>(?P<auth>%(t)s+)</auth>"
    rb"%(s)s<command>(?P<command>%(t)s+)</command>%(s)s"
    rb"(?:<clTRID>(?P<cltrid>%(t)s*)</clTRID>%(s)s)?</request>%(s)s" % {b"s": _BLANKS, b"t": _TEXT}
)


def usual_fields(document: bytes) -> dict[str, str]:
    """The fields of the usual request by lowercase name, read without a parser as
    `read_request` reads them (an empty clTRID as ""); empty for any other document."""
    found = _USUAL.fullmatch(document)
    if found is None:
        return {}
    return {
        name: text.decode("ascii") for name, text in found.groupdict().items() if text is not None
    }


class XmlRefused(Exception):
    """The document is refused; `reason` says why: "parse" (not well-formed, a DTD, an
    entity, an external reference, or not a `request`), "complex" (too deep or too many
    elements) or "duplicate" (a field twice)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


class _Forbidden(ValueError):
    pass


def _forbid(*_: Any) -> int:
    raise _Forbidden


def refusing_parser(separator: str | None = None) -> expat.XMLParserType:
    """An expat parser (`separator`: expat's namespace separator) that raises ValueError
    at a DTD, an entity declaration or an external reference, as defusedxml's `forbid_*`."""
    parser = expat.ParserCreate(None, separator)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    return parser


class _Reader:
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
    """The members of a `<request>` document (module docstring), or `XmlRefused`."""
    reader = _Reader()
    parser = refusing_parser(_SEPARATOR)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.ordered_attributes = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(text, True)
    except (expat.ExpatError, ValueError):
        raise XmlRefused("parse") from None
    if reader.complex:
        raise XmlRefused("complex")
    if reader.root_name != "request":
        raise XmlRefused("parse")
    if len(reader.fields) != len(set(reader.fields)):
        raise XmlRefused("duplicate")
    return reader.root
