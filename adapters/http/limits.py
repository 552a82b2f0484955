"""The server's limits against a hostile world, and how deep a document may nest.

Every limit has a default meant for production and a `tidings serve` option of the
same name; README's "Running it in production" lists them with what each answers.

The depth checks run on the raw bytes, before any parser builds a tree, so a document
nested a hundred thousand levels costs one linear scan and never reaches a recursion
limit.
"""

import re
import xml.parsers.expat
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits", "too_deep_json", "too_deep_xml"]


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The limits a server runs with, in seconds, bytes and counts (failures per
    `auth_window` seconds)."""

    head_timeout: float = 10.0
    max_head: int = 64 * 1024
    body_timeout: float = 30.0
    keep_alive: int = 5
    max_connections: int = 2048
    backlog: int = 2048
    # Above the domain's 32 levels for operation data and init requests, so that rule
    # gives its own answer (2101); this one only keeps parsers from recursing.
    max_depth: int = 64
    auth_failures_per_address: int = 30
    auth_failures_per_login: int = 30
    auth_window: float = 60.0
    auth_floor: float = 0.1
    ready_interval: float = 5.0


DEFAULT_LIMITS = Limits()

# What can open or close a nesting level or a string; everything else is skipped in C.
_SIGNIFICANT = re.compile(rb'[][{}"\\]')
_OPEN, _CLOSE, _QUOTE, _ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def too_deep_json(raw: bytes, limit: int) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit`.

    One pass over the brackets, quotes and backslashes (brackets inside strings do not
    count), stopping at the first level past the limit; malformed text is not judged
    here (False unless deep): the decoder refuses it as it would."""
    depth, in_string, escaped = 0, False, -1
    for match in _SIGNIFICANT.finditer(raw):
        at = match.start()
        if at == escaped:
            continue
        byte = raw[at]
        if in_string:
            if byte == _ESCAPE:
                escaped = at + 1
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


class _Deep(Exception):
    pass


class _Refused(Exception):
    pass


def too_deep_xml(raw: bytes | str, limit: int) -> bool:
    """Whether the XML document `raw` nests elements deeper than `limit`.

    The scan stops at the first element past the limit, builds no tree, and expands no
    entity (a document declaring one is left to the parser, which refuses it); a
    malformed document is not judged here (False)."""
    parser = xml.parsers.expat.ParserCreate()
    depth = 0

    def start(*_: object) -> None:
        nonlocal depth
        depth += 1
        if depth > limit:
            raise _Deep

    def end(*_: object) -> None:
        nonlocal depth
        depth -= 1

    def refuse(*_: object) -> None:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(raw, True)
    except _Deep:
        return True
    except (_Refused, xml.parsers.expat.ExpatError, ValueError):
        return False
    return False
