"""The hash chain over the notification log, written in the same transaction as events.

Each log position gets `digest = sha256(previous digest || position || stream id ||
version || topic || state)` in a table `tidings_chain`, inserted by the recorder inside
the insert transaction of the events, while the writer holds the log's write lock
(SQLite's single writer, PostgreSQL's `LOCK TABLE ... IN EXCLUSIVE MODE`), so the chain
has exactly one order. Editing or deleting a stored row breaks the chain from that
position on; `verify` finds the first break.

The recorders also answer reads the library needs and eventsourcing does not give: the
events of one stream with their log positions (trails), a raw scan of the log in pages
(`verify`, `replay`), and the operations still open.

Open operations (accepted, not yet ended) are kept in a table of their own,
`tidings_open_operations (svtrid, position of the acceptance)`, written in the events'
transaction: a server starting up resumes them without reading the whole log. A database
from before the table existed gets it filled from the log once, under the write lock
(`ensure_open_operations`).

Why the open operations are written here and not by an `eventsourcing.projection`
projection with a tracking record: (1) a `ProjectionRunner` follows the log through the
recorder's `subscribe`, which eventsourcing 9.5.6's SQLite recorder, our default, does
not have (`NotImplementedError`); (2) a projection commits its view and tracking record
in a transaction of its own, one more fsync per batch: a commit of one row and a
tracking record took 0.42-0.56 ms here (WAL, `synchronous=FULL`, 300 commits, three
runs, load 2.5, 2026-11-30), while an enqueue at one client, which pays two commits
(accept, end), took 1.24-1.63 ms (`tidings bench --quick`, 615-808 ops/s, same day), so
an enqueue would take half as long again or more; (3) `pending_operations` would have
to wait for the projection to catch up before answering, where the table written with
the events is never behind them.
"""

import hashlib
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ..audit.merkle import entry_bytes
from .merkle_tables import Tables, stream_bytes

__all__ = [
    "GENESIS",
    "OPEN_OPERATIONS",
    "Backfill",
    "LogRow",
    "Openings",
    "PlacedRow",
    "StreamRow",
    "TailRow",
    "chain_links",
    "hex_id",
    "link",
    "tree_lags",
]

GENESIS = bytes(32)
StreamRow = tuple[int, str, bytes]  # version, topic, state
PlacedRow = tuple[int, int, str, bytes]  # position, version, topic, state
TailRow = tuple[str, int, int]  # stream id in hex, version, position
LogRow = tuple[int, str, int, str, bytes]  # position, stream id in hex, version, topic, state

OPEN_OPERATIONS = "tidings_open_operations"


class Openings:
    """What a write does to the open operations: `opened` pairs an svTRID with the index,
    among the written events, of its acceptance; `closed` lists svTRIDs that ended."""

    __slots__ = ("closed", "opened")

    def __init__(self) -> None:
        self.opened: list[tuple[str, int]] = []
        self.closed: list[str] = []


# How the backfill tells the two events apart, and reads an acceptance's svTRID.
Backfill = tuple[str, str, Callable[[bytes], str]]  # accepted topic, ended topic, svtrid_of


def link(
    previous: bytes, position: int, stream: bytes, version: int, topic: str, state: bytes
) -> bytes:
    """The digest of one log entry, committing to the digest before it: SHA-256 of the
    previous digest and the entry's canonical bytes (`merkle.entry_bytes`)."""
    return hashlib.sha256(previous + entry_bytes(position, stream, version, topic, state)).digest()


def chain_links(
    previous: bytes, ids: Sequence[int], events: Sequence[StoredEvent]
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """The chain rows (position, digest) of `events` at `ids`, and their entries
    (position, canonical bytes): built once here, hashed by the chain and the tree."""
    links, entries = [], []
    for position, event in zip(ids, events, strict=True):
        entry = entry_bytes(
            position,
            stream_bytes(event.originator_id),
            event.originator_version,
            event.topic,
            event.state,
        )
        previous = hashlib.sha256(previous + entry).digest()
        links.append((position, previous))
        entries.append((position, entry))
    return links, entries


def tree_lags(tree: Tables, rows: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]) -> bool:
    """Whether the log holds entries after the tree's last."""
    found = tree.last_position(rows)
    after = f"SELECT 1 FROM {tree.events} WHERE {tree.position} > ? LIMIT 1"
    return bool(rows(tree.sql(after), (found,)))


def hex_id(stream: UUID | str) -> str:
    """A stream id in hex, as SQLite stores it (PostgreSQL's recorder gives a UUID)."""
    return stream.hex if isinstance(stream, UUID) else stream
