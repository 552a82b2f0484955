"""The server's limits against a hostile world, and how deep a document may nest.

Every limit has a default meant for production and a `tidings serve` option (README,
"Running it in production"):

| limit | default | option |
|---|---|---|
| a request's head must arrive within | 10 s | `--head-timeout` |
| and be no larger than | 64 KiB | `--max-head` |
| its body, after the head, within | 30 s | `--body-timeout` |
| an idle keep-alive connection is closed after | 5 s | `--keep-alive` |
| open connections (beyond: 503 to each request) | 2,048 | `--max-connections` |
| connections waiting to be accepted (listen backlog) | 2,048 | `--backlog` |
| nesting of an API or Merchants body | 64 levels | `--max-depth` |
| failed authentications per client address | 30 a minute | `--auth-failures` |
| failed authentications per login | 30 a minute | `--auth-failures` |
| a refused authentication is answered after at least | 0.1 s | `--auth-floor` |
| readiness writes a heartbeat at most every | 5 s | `--ready-interval` |

The depth checks run on the raw bytes, before any parser builds a tree, so a document
nested a hundred thousand levels costs one linear scan and never reaches a recursion
limit.
"""

import re
import xml.parsers.expat
from dataclasses import dataclass
from itertools import accumulate

__all__ = ["DEFAULT_LIMITS", "Limits", "too_deep_json", "too_deep_xml"]


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The limits a server runs with (seconds, counts); see the table above."""

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

# A JSON string, escapes included: brackets inside one do not nest anything.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def too_deep_json(raw: bytes, limit: int) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit`.

    Malformed text is not judged here (False): the decoder refuses it as it would."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    if len(brackets) <= limit:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


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
