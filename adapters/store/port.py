"""What the store needs of a recorder, which eventsourcing builds from a topic string
(mypy checks both against `Recorder`). Positions are the log's notification ids, in
commit order (PostgreSQL's may skip one; none appears below the last read later).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import Notification

from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import LogRow, PlacedRow, Row, StreamRow, TailRow
from .merkle_tables import Tables

__all__ = ["CheckedAppends", "Recorder"]


class Recorder(Protocol):
    """The event log of one database: appends with their chain and tree, and the reads
    that load streams, follow other writers and walk the log. The database's errors
    surface as eventsourcing's `PersistenceError` family."""

    tree: Tables  # the tree's and checkpoints' tables (`signer`, `enabled` set by the store)
    snapshots_table: str  # named by eventsourcing's snapshot store

    def append(self, events: Sequence[Row], snapshots: Sequence[Row]) -> list[int]:
        """Append `events` and their snapshots, rows as stored (`entries.Row`), in one
        transaction (`locked`'s, inside it), with chain links and tree nodes; their log
        positions. eventsourcing's `IntegrityError`, nothing written, when a (stream,
        version) is taken."""

    def locked(self) -> AbstractContextManager[None]:
        """Hold the log's write lock for a block; an `append` inside commits at its end."""

    def ensure_tree(self) -> None:
        """Catch the tree up with the log, under the write lock, when it lags."""

    def sign_head(self) -> Checkpoint | None:
        """Sign the tree as it stands, if not yet signed; the latest checkpoint."""

    def changed(self) -> bool:
        """Whether another connection may have committed since the last call (always
        True where the database keeps no cheap counter: PostgreSQL)."""

    def tail(self, after: int, limit: int) -> list[TailRow]:
        """(stream, version, position) of the first `limit` entries after `after`."""

    def max_notification_id(self) -> int | None:
        """The last position of the log (None: the log is empty)."""

    def select_after(self, stream: UUID, version: int) -> list[StreamRow]:
        """A stream's events after `version`, in order."""

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        """A stream's newest snapshot, if any."""

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """A stream's events at positions up to `upto`, with their positions."""

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Rows at positions in [start, stop] (of `topics`, when given), as stored."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """eventsourcing's read of the log: up to `limit` notifications from `start`."""

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """The chain's (position, digest) links in [start, stop]."""

    def max_chained(self) -> int:
        """The last position the chain covers (0: none)."""

    def tree_rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one of the tree's read queries (`Tables`' SQL); its rows."""

    def close_connections(self) -> None:
        """Close the recorder's own connections (the pool is eventsourcing's)."""


@runtime_checkable
class CheckedAppends(Protocol):
    """A recorder whose look at the log rides with an append (PostgreSQL, where a look
    costs a round trip): `Store.refresh` outside the lock defers to the save."""

    def holding(self) -> bool:
        """Whether this process is inside `locked`."""

    def append_checked(
        self,
        events: Sequence[Row],
        snapshots: Sequence[Row],
        read: Collection[tuple[str, int]],
        after: int,
        limit: int,
    ) -> tuple[list[int], list[TailRow] | None]:
        """`append`, failing with `IntegrityError` (nothing written) when a stream of
        `read` (stream, version) has an event past that version; and, read under the
        lock, the first `limit` entries after `after` that precede it (None: unknown)."""


if TYPE_CHECKING:
    # Both recorders satisfy the protocol: mypy checks these two assignments.
    from .postgres_recorder import ChainedPostgresRecorder
    from .sqlite_recorder import ChainedSQLiteRecorder

    _SQLITE: type[Recorder] = ChainedSQLiteRecorder
    _POSTGRES: type[Recorder] = ChainedPostgresRecorder
    _CHECKED: type[CheckedAppends] = ChainedPostgresRecorder
