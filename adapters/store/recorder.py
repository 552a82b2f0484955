"""What the SQLite and the PostgreSQL recorders share: the statements that differ only in
their SQL text, on the tables `Tables` names."""

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import LogRow, PlacedRow, Row, StreamRow, rows_of
from .merkle_tables import Db, Tables

__all__ = ["ChainedRecorder"]


class ChainedRecorder:
    """What both recorders share, on the tables `tree` names: reads of one stream, of
    the log and of the chain (`_read` runs a query with `?` placeholders and answers
    tuple rows), and the tree's transactions (`_tree_transaction` runs a body under the
    write lock)."""

    tree: Tables
    snapshots_table: str
    _read: Callable[[str, tuple[Any, ...]], list[Any]]
    tree_rows: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]
    _tree_transaction: Callable[[Callable[[Db], Any]], Any]
    append: Callable[[Sequence[Row], Sequence[Row]], list[int]]

    def write(self, events: Sequence[StoredEvent], snapshots: Sequence[StoredEvent]) -> list[int]:
        """`append` for eventsourcing's `StoredEvent`s."""
        return self.append(rows_of(events), rows_of(snapshots))

    def _sid(self, stream: UUID) -> UUID | str:
        return stream if self.tree.postgres else stream.hex

    def select_after(self, stream: UUID, version: int) -> list[StreamRow]:
        """A stream's events after `version`, in order."""
        tree = self.tree
        query = (
            f"SELECT originator_version, topic, state FROM {tree.events} "
            "WHERE originator_id = ? AND originator_version > ? ORDER BY originator_version"
        )
        return self._read(tree.sql(query), (self._sid(stream), version))

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        tree, table = self.tree, self.snapshots_table
        if tree.postgres:
            table = '"' + table.replace('"', '""') + '"'
        rows = self._read(
            tree.sql(
                f"SELECT originator_version, topic, state FROM {tree.prefix}{table} "
                "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1"
            ),
            (self._sid(stream),),
        )
        return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, oldest first, with their
        positions: one query, so events and positions come from one snapshot."""
        tree = self.tree
        rows = self._read(
            tree.sql(
                f"SELECT {tree.position}, originator_version, topic, state FROM {tree.events} "
                f"WHERE originator_id = ? AND {tree.position} <= ? ORDER BY originator_version"
            ),
            (self._sid(stream), upto),
        )
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Rows at positions in [start, stop] (of `topics`, when given), as stored:
        no object a row (docs/decisions.md)."""
        tree, at = self.tree, self.tree.position
        sid = "replace(originator_id::text, '-', '')" if tree.postgres else "originator_id"
        only = f" AND topic IN ({', '.join('?' * len(topics))})" if topics else ""
        query = (
            f"SELECT {at}, {sid}, originator_version, topic, state FROM {tree.events} "
            f"WHERE {at} BETWEEN ? AND ?{only} ORDER BY {at}"
        )
        return self._read(tree.sql(query), (start, stop, *topics))

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        query = f"SELECT position, digest FROM {self.tree.tree} WHERE position BETWEEN ? AND ? "
        rows = self._read(self.tree.sql(query + "ORDER BY position"), (start, stop))
        return [(r[0], bytes(r[1])) for r in rows]

    def max_chained(self) -> int:
        return int(self._read(f"SELECT max(position) FROM {self.tree.tree}", ())[0][0] or 0)

    def ensure_tree(self) -> None:
        """Catch the tree up with the log, under the write lock, when it lags."""
        tree = self.tree
        if not tree.enabled:
            return
        after = tree.sql(f"SELECT 1 FROM {tree.events} WHERE {tree.position} > ? LIMIT 1")
        if self.tree_rows(after, (tree.last_position(self.tree_rows),)):
            self._tree_transaction(tree.catch_up)

    def sign_head(self) -> Checkpoint | None:
        """Sign the tree as it stands, if not yet signed; the latest checkpoint."""
        signed: Checkpoint | None = self._tree_transaction(self.tree.sign_head)
        return signed
