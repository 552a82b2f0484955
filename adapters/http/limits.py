"""The server's limits against a hostile world (each a `tidings serve` option, listed in
README), and the XML depth scan: expat, before any parser builds a tree, so a deeply
nested document costs one linear scan (the depth rule is `domain.document`'s).
"""

import xml.parsers.expat
from dataclasses import dataclass

from tidings.domain.document import DEPTH

__all__ = ["DEFAULT_LIMITS", "Limits", "too_deep_xml"]


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
    # The nesting of an API or Merchants body (the domain's "body" depth).
    max_depth: int = DEPTH["body"]
    auth_failures_per_address: int = 30
    auth_failures_per_login: int = 30
    auth_window: float = 60.0
    auth_floor: float = 0.1
    ready_interval: float = 5.0


DEFAULT_LIMITS = Limits()


class _Deep(Exception):
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
        raise ValueError("a DTD or an entity")  # left to the parser, which refuses it

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(raw, True)
    except _Deep:
        return True
    except (xml.parsers.expat.ExpatError, ValueError):
        return False
    return False
