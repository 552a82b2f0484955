"""The stored id of a stream: a pure function of its `(category, key)` name, so every
process, the audit tools and eventsourcing's readers find the same stream.

Most streams are stored under the `uuid5` of `category/key`. An operation's stream,
named by a server-minted svTRID (`<unix>.<process>.<counter>`, created in time order),
is stored under a time-ordered id instead: RFC 9562's custom version 8, the svTRID's
time in milliseconds in the first 48 bits (as a version 7 id has it) and the name's
SHA-1 digest in the rest. The log's primary-key index is ordered by stream id: a
`uuid5` would put every new operation at a random place of it, one page written (and,
once the index outgrows SQLite's page cache, read) per operation, more of them the
longer the log; time-ordered, a batch's new operations share the index's last pages
(docs/decisions.md, "Storage and the log").
"""

import hashlib
import re
from uuid import UUID

from tidings.domain import OPERATION

__all__ = ["stream_digest"]

_NAMESPACE_BYTES = UUID("6b1d9c8e-2f1a-5c3e-9f47-0d1e2a3b4c5d").bytes
# The categories whose keys are svTRIDs, minted in time order.
_MINTED = frozenset({OPERATION.category})
# An svTRID's time: whole seconds, as many digits as fit the id's 48 bits of milliseconds.
_MINTED_AT = re.compile(r"(\d{1,11})\.")
_MOST_MS = (1 << 48) - 1


def _minted_ms(category: str, key: str) -> int | None:
    """The time a stream's key says it was minted, in milliseconds, if it says one."""
    if category not in _MINTED:
        return None
    found = _MINTED_AT.match(key)
    if found is None:
        return None
    ms = int(found[1]) * 1000
    return ms if ms <= _MOST_MS else None


def stream_digest(category: str, key: str) -> bytes:
    """The 16 bytes of a stream's id: `uuid5(namespace, "category/key")`, or for an
    operation named by an svTRID a version 8 id led by the svTRID's time."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{category}/{key}".encode()).digest())
    ms = _minted_ms(category, key)
    if ms is None:
        version = 0x50
    else:
        digest[:6] = ms.to_bytes(6, "big")
        version = 0x80
    digest[6] = (digest[6] & 0x0F) | version
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return bytes(digest[:16])
