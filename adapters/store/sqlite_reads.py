"""The SQLite recorder's reads of the log's rows and chain for audit and replay, which
walk the whole log (beside the recorder's own reads, which commands run)."""

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from ..ledger.entries import LogRow, PlacedRow
from .merkle_reads import CHAIN

__all__ = ["LogReads"]


class LogReads:
    """Reads for `ChainedSQLiteRecorder`, on its read connection (`_read`)."""

    events_table_name: str
    _read: Callable[[str, tuple[Any, ...]], list[Any]]

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, oldest first, with their
        positions: one query, so events and positions come from one snapshot."""
        return self._read(
            f"SELECT rowid, originator_version, topic, state FROM {self.events_table_name} "
            "WHERE originator_id = ? AND rowid <= ? ORDER BY originator_version",
            (stream.hex, upto),
        )

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Log rows with positions in [start, stop] (of `topics`, when given), in order,
        as stored: what `verify` and `replay` walk the whole log with.

        One query, its rows as the driver gives them, not eventsourcing's
        `select_notifications`, which builds a UUID and a frozen notification per row:
        replay's fold runs more than twice as fast over this (docs/decisions.md)."""
        only = f" AND topic IN ({', '.join('?' * len(topics))})" if topics else ""
        return self._read(
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid BETWEEN ? AND ?{only} ORDER BY rowid",
            (start, stop, *topics),
        )

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        query = f"SELECT position, digest FROM {CHAIN} WHERE position BETWEEN ? AND ? ORDER BY 1"
        return [(r[0], bytes(r[1])) for r in self._read(query, (start, stop))]

    def max_chained(self) -> int:
        return int(self._read(f"SELECT max(position) FROM {CHAIN}", ())[0][0] or 0)
