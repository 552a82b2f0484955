"""The PostgreSQL recorder's own reads of the log (beside eventsourcing's and
`merkle_tables.RecorderReads`), and the tree's transactions."""

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from psycopg.sql import SQL

from ..ledger.entries import LogRow, StreamRow, TailRow, hex_id
from .merkle_tables import Db, RecorderReads
from .outage import reconnecting
from .postgres_append import Head
from .postgres_sql import Batch, Prepared, Statements, postgres_db

_T = TypeVar("_T")

__all__ = ["LogReads"]


class LogReads(RecorderReads):
    """Reads for `ChainedPostgresRecorder`, on its pool and `_sql`."""

    datastore: Any
    _sql: Statements
    _prepared: Prepared
    _contended_until: float  # see `postgres_recorder.CONTENDED_FOR`
    _head: Head | None
    _end: Callable[[tuple[Any, ...]], Head]
    select_events: Any  # eventsourcing's
    select_notifications: Any

    def changed(self) -> bool:
        """PostgreSQL has no cheap change counter: `tail` is always read."""
        return True

    @reconnecting
    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return postgres_db(curs).rows(query, params)

    def _tree_transaction(self, body: Callable[[Db], _T]) -> _T:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The lock every insert takes: the tree cannot move under us.
            curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self._sql.events))
            return body(postgres_db(curs))

    def tree_rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return postgres_db(curs).rows(query, params)

    @reconnecting
    def tail(self, after: int, limit: int) -> list[TailRow]:
        """(stream, version, position) of the first `limit` log entries after `after`;
        where the log ends is read in the same round trip, for the next append (not
        while appends go the server's way: `CONTENDED_FOR`)."""
        contended = time.monotonic() < self._contended_until
        with self.datastore.get_connection() as conn:
            batch = Batch(conn, self._prepared, writes=False)
            batch.execute(self._sql.tail, (after, limit))
            if not contended:
                batch.execute(self._sql.read_end, (self.tree.kept_size(),))
            found = batch.sets()
        rows = found[0]
        if not contended:
            self._head = self._end(found[1][0])
        return [(stream.hex, version, position) for stream, version, position in rows]

    def select_after(self, stream: UUID, version: int) -> list[StreamRow]:
        events = self.select_events(stream, gt=version)
        return [(e.originator_version, e.topic, e.state) for e in events]

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Log rows in [start, stop] (of `topics`, when given), as stored, by
        eventsourcing's own read (docs/decisions.md)."""
        return [
            (n.id, hex_id(n.originator_id), n.originator_version, n.topic, n.state)
            for n in self.select_notifications(start, stop - start + 1, stop, topics=topics)
        ]
