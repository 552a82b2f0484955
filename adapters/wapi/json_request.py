"""Reading a JSON request in C when that is provably what the careful reading gives
(`request._careful_json`, which decides everything else).

Both fast readings rest on one proof, for a text with no backslash (every string is its
text verbatim: no lone surrogate, no colon but those the text shows), of at most
`MAX_NODES` characters (each node starts at a character of its own) and at most
`MAX_DEPTH` brackets (no deeper than that): the tree has no repeated key when the text
has as many colons as the tree written again (C keeps one of a key's repeats and drops
the others, with their colons). Whatever C refuses or reads otherwise (NaN, 1e400) goes
the careful way.
"""

from typing import Any

import msgspec

from .xml_request import MAX_DEPTH, MAX_NODES

__all__ = ["Usual", "plain_json", "usual_json"]

_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode


class Usual(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """The usual request: these fields in this spelling, inside `{"request": ...}`."""

    user: str
    auth: str
    command: str
    clTRID: str | None = None
    data: dict[str, Any] | None = None


class _UsualDocument(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    request: Usual


_decode_usual = msgspec.json.Decoder(_UsualDocument).decode


def _provable(text: str) -> bool:
    return (
        len(text) <= MAX_NODES
        and "\\" not in text
        and text.count("{") + text.count("[") <= MAX_DEPTH
    )


def usual_json(document: bytes) -> Usual | None:
    """The usual request read straight into its struct (UTF-8 checked by C, no BOM);
    None for any other document, or one the proof does not cover. Its fields' values
    are not judged here (an empty user, a long clTRID)."""
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
    return usual.request


def plain_json(text: str) -> Any:
    """The document decoded in C (any JSON), when the proof covers it; None: read it the
    careful way."""
    if not _provable(text):
        return None
    try:
        document = _decode_json(text)
    except msgspec.DecodeError:
        return None
    if _encode_json(document).count(b":") != text.count(":"):
        return None
    return document
