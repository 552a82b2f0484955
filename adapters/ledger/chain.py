"""The hash chain over the notification log, written in the same transaction as events.

Each log position gets `digest = sha256(previous digest || position || stream id ||
version || topic || state)` in a table `tidings_chain`, inserted by the recorder inside
the insert transaction of the events, while the writer holds the log's write lock
(SQLite's single writer, PostgreSQL's `LOCK TABLE ... IN EXCLUSIVE MODE`), so the chain
has exactly one order. Editing or deleting a stored row breaks the chain from that
position on; `verify` finds the first break.
"""

import hashlib
from collections.abc import Sequence
from uuid import UUID

from .merkle import entry_bytes

__all__ = [
    "GENESIS",
    "LogRow",
    "PlacedRow",
    "StreamRow",
    "TailRow",
    "chain_links",
    "hex_id",
    "link",
    "stream_bytes",
]

GENESIS = bytes(32)
StreamRow = tuple[int, str, bytes]  # version, topic, state
PlacedRow = tuple[int, int, str, bytes]  # position, version, topic, state
TailRow = tuple[str, int, int]  # stream id in hex, version, position
LogRow = tuple[int, str, int, str, bytes]  # position, stream id in hex, version, topic, state


def link(
    previous: bytes, position: int, stream: bytes, version: int, topic: str, state: bytes
) -> bytes:
    """The digest of one log entry, committing to the digest before it: SHA-256 of the
    previous digest and the entry's canonical bytes (`merkle.entry_bytes`)."""
    return hashlib.sha256(previous + entry_bytes(position, stream, version, topic, state)).digest()


def chain_links(
    previous: bytes, ids: Sequence[int], rows: Sequence[tuple[UUID | str, int, str, bytes]]
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """The chain rows (position, digest) of stored `rows` (stream id, version, topic,
    state) at `ids`, and their entries (position, canonical bytes): built once here,
    hashed by the chain and the tree."""
    links, entries = [], []
    for position, (stream, version, topic, state) in zip(ids, rows, strict=True):
        entry = entry_bytes(position, stream_bytes(stream), version, topic, state)
        previous = hashlib.sha256(previous + entry).digest()
        links.append((position, previous))
        entries.append((position, entry))
    return links, entries


def stream_bytes(stream: UUID | str) -> bytes:
    """A stream id's 16 bytes, as the chain and the tree hash them (SQLite's recorder
    gives hex, PostgreSQL's a UUID)."""
    return stream.bytes if isinstance(stream, UUID) else bytes.fromhex(stream)


def hex_id(stream: UUID | str) -> str:
    """A stream id in hex, as SQLite stores it (PostgreSQL's recorder gives a UUID)."""
    return stream.hex if isinstance(stream, UUID) else stream
