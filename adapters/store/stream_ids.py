"""The stored id of a stream: a pure function of its `(category, key)` name, so every
process and reader finds the same stream. Most streams are stored under the `uuid5` of
`category/key`; an operation named by a server-minted svTRID under a version 8 id led by
its second and counter, so new operations share the index's last page
(docs/decisions.md, "Storage and the log").
"""

import hashlib
import struct
from uuid import UUID

from tidings.domain import OPERATION

__all__ = ["stream_digest"]

_NAMESPACE_BYTES = UUID("6b1d9c8e-2f1a-5c3e-9f47-0d1e2a3b4c5d").bytes
# The categories whose keys are svTRIDs, minted in time order.
_MINTED = frozenset({OPERATION.category})
_COUNTER_BITS = 28
# The id as a 128-bit number: `_KEPT` clears the version's nibble (byte 6) and the
# variant's two bits (byte 8); `_UUID5` sets version 5 and the variant, `_VARIANT` the
# variant alone.
_KEPT = ~(0xF0 << 72 | 0xC0 << 56) & (1 << 128) - 1
_UUID5 = 0x50 << 72 | 0x80 << 56
# A version 8 id's low half: the digest's, its variant's two bits set to 10.
_LOW_KEPT, _VARIANT_LOW = (1 << 62) - 1, 1 << 63
_COUNTER = (1 << _COUNTER_BITS) - 1
_LEAD_AND_LOW = struct.Struct(">IHHQ").pack


def _minted(key: str) -> tuple[int, int] | None:
    """The second and the counter an svTRID says it was minted at: three runs of decimal
    digits of 1-10, 1-10 and 1-20, joined by dots, and a second below 2**32; None for
    any other key (cut and tested: a regular expression cost twice as much)."""
    second, _, rest = key.partition(".")
    process, dot, counter = rest.partition(".")
    # A third dot stays in `counter`, which then is not decimal.
    if not (
        dot
        and 0 < len(second) <= 10
        and 0 < len(process) <= 10
        and 0 < len(counter) <= 20
        and (second + process + counter).isdecimal()
    ):
        return None
    minted = int(second)
    return (minted, int(counter) & _COUNTER) if minted < 1 << 32 else None


def stream_digest(category: str, key: str) -> bytes:
    """The 16 bytes of a stream's id: `uuid5(namespace, "category/key")`, or for an
    operation named by an svTRID a version 8 id led by the svTRID's second and counter."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + f"{category}/{key}".encode()).digest()
    minted = _minted(key) if category in _MINTED else None
    if minted is None:
        return ((int.from_bytes(digest[:16]) & _KEPT) | _UUID5).to_bytes(16)
    second, counter = minted
    # 32 bits of the second, then the counter's 28 bits around the version's nibble, then
    # the digest's second half with the variant's two bits.
    low = int.from_bytes(digest[8:16]) & _LOW_KEPT | _VARIANT_LOW
    return _LEAD_AND_LOW(second, counter >> 12, 0x8000 | counter & 0xFFF, low)
