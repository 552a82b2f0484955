"""The SQLite recorder's reads of one stream's rows (loading it cold, its trail) and of
the chain, on its read connection; the recorder itself keeps its writes and its reads
of the log as a whole (its tail, `scan`), which a running server makes all the time."""

from collections.abc import Callable
from typing import Any
from uuid import UUID

from ..ledger.entries import PlacedRow, StreamRow
from .merkle_reads import CHAIN

__all__ = ["LogReads"]


class LogReads:
    """Reads for `ChainedSQLiteRecorder`, on its read connection (`_read`)."""

    events_table_name: str
    snapshots_table: str
    _read: Callable[[str, tuple[Any, ...]], list[Any]]

    def select_after(self, stream: UUID, version: int) -> list[StreamRow]:
        """One stream's events after `version`, oldest first.

        On one plain autocommit connection, in one statement: the pool's
        BEGIN/SELECT/ROLLBACK and row objects cost ten times the query. WAL lets it read
        beside the writer.
        """
        return self._read(
            f"SELECT originator_version, topic, state FROM {self.events_table_name} "
            "WHERE originator_id = ? AND originator_version > ? ORDER BY originator_version",
            (stream.hex, version),
        )

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        """The newest snapshot of a stream, read like `select_after`."""
        rows = self._read(
            f"SELECT originator_version, topic, state FROM {self.snapshots_table} "
            "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1",
            (stream.hex,),
        )
        return rows[0] if rows else None

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, oldest first, with their
        positions: one query, so events and positions come from one snapshot."""
        return self._read(
            f"SELECT rowid, originator_version, topic, state FROM {self.events_table_name} "
            "WHERE originator_id = ? AND rowid <= ? ORDER BY originator_version",
            (stream.hex, upto),
        )

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        query = f"SELECT position, digest FROM {CHAIN} WHERE position BETWEEN ? AND ? ORDER BY 1"
        return [(r[0], bytes(r[1])) for r in self._read(query, (start, stop))]

    def max_chained(self) -> int:
        return int(self._read(f"SELECT max(position) FROM {CHAIN}", ())[0][0] or 0)
