"""The stored id of a stream: a pure function of its `(category, key)` name, so every
process, the audit tools and eventsourcing's readers find the same stream.

Most streams are stored under the `uuid5` of `category/key`. An operation's stream,
named by a server-minted svTRID (`<unix>.<process>.<counter>`, created in time order),
is stored under a time-ordered id instead: RFC 9562's custom version 8, the svTRID's
second in the first 32 bits, its process's counter (the low 28 bits) in the next, and
the name's SHA-1 digest in the rest. The log's primary-key index is ordered by stream
id: a `uuid5` would put every new operation at a random place of it, one page written
(and, once the index outgrows SQLite's page cache, read) per operation, more of them
the longer the log; ordered by second and counter, a batch's new operations share the
index's last page (docs/decisions.md, "Storage and the log").
"""

import hashlib
import re
from uuid import UUID

from tidings.domain import OPERATION

__all__ = ["stream_digest"]

_NAMESPACE_BYTES = UUID("6b1d9c8e-2f1a-5c3e-9f47-0d1e2a3b4c5d").bytes
# The categories whose keys are svTRIDs, minted in time order.
_MINTED = frozenset({OPERATION.category})
# An svTRID: its second, its process and the process's counter.
_SVTRID = re.compile(r"(\d{1,10})\.\d{1,10}\.(\d{1,20})")
_COUNTER_BITS = 28


def _minted(category: str, key: str) -> tuple[int, int] | None:
    """The second and the counter a stream's key says it was minted at, if it says so."""
    if category not in _MINTED:
        return None
    found = _SVTRID.fullmatch(key)
    if found is None or int(found[1]) >= 1 << 32:
        return None
    return int(found[1]), int(found[2]) & ((1 << _COUNTER_BITS) - 1)


def stream_digest(category: str, key: str) -> bytes:
    """The 16 bytes of a stream's id: `uuid5(namespace, "category/key")`, or for an
    operation named by an svTRID a version 8 id led by the svTRID's second and counter."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{category}/{key}".encode()).digest())
    minted = _minted(category, key)
    if minted is None:
        digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    else:
        second, counter = minted
        # 32 bits of the second, then the counter's 28 bits around the version's nibble.
        digest[:4] = second.to_bytes(4, "big")
        digest[4:6] = (counter >> 12).to_bytes(2, "big")
        digest[6] = 0x80 | (counter >> 8 & 0x0F)  # version 8
        digest[7] = counter & 0xFF
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return bytes(digest[:16])
