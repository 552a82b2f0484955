"""The PostgreSQL recorder's own reads of the log (beside eventsourcing's): a stream's
newest snapshot, a stream's events with their positions, the chain; and the tree's
transactions."""

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from ..ledger.checkpoint import Checkpoint
from ..ledger.entries import LogRow, PlacedRow, StreamRow, TailRow, hex_id
from .merkle_reads import tree_lags
from .merkle_tables import Db, Tables
from .outage import reconnecting
from .postgres_append import Head
from .postgres_sql import Batch, Prepared, Statements, postgres_db

_T = TypeVar("_T")

__all__ = ["LogReads"]


class LogReads:
    """Reads for `ChainedPostgresRecorder`, on its pool, `_sql` and snapshots table."""

    datastore: Any
    snapshots_table: str
    tree: Tables
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
    def _select(self, query: Composed, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params)
            return list(curs.fetchall())

    def select_snapshot(self, stream: UUID) -> StreamRow | None:
        """The newest snapshot of a stream."""
        rows = self._select(
            SQL(
                "SELECT originator_version, topic, state FROM {}.{} WHERE originator_id = %s "
                "ORDER BY originator_version DESC LIMIT 1"
            ).format(Identifier(self.datastore.schema), Identifier(self.snapshots_table)),
            (stream,),
        )
        if not rows:
            return None
        return rows[0]["originator_version"], rows[0]["topic"], bytes(rows[0]["state"])

    def select_placed(self, stream: UUID, upto: int) -> list[PlacedRow]:
        """One stream's events at log positions up to `upto`, oldest first, with their
        positions: one query, so events and positions come from one snapshot."""
        rows = self._select(
            SQL(
                "SELECT notification_id, originator_version, topic, state FROM {} "
                "WHERE originator_id = %s AND notification_id <= %s ORDER BY originator_version"
            ).format(self._sql.events),
            (stream, upto),
        )
        return [
            (r["notification_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            for r in rows
        ]

    def chain(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        rows = self._select(
            SQL(
                "SELECT position, digest FROM {} WHERE position BETWEEN %s AND %s ORDER BY position"
            ).format(self._sql.chain),
            (start, stop),
        )
        return [(r["position"], bytes(r["digest"])) for r in rows]

    def max_chained(self) -> int:
        rows = self._select(SQL("SELECT max(position) AS m FROM {}").format(self._sql.chain), ())
        return int(rows[0]["m"] or 0)

    # --- the Merkle tree and checkpoints (merkle_tables.py) ------------------------------
    def ensure_tree(self) -> None:
        """Catch the tree up with the log, under the write lock, when it lags."""
        if self.tree.enabled and tree_lags(self.tree, self.tree_rows):
            self._tree_transaction(self.tree.catch_up)

    def sign_head(self) -> Checkpoint | None:
        """Sign the tree as it stands, if not yet signed; the latest checkpoint."""
        return self._tree_transaction(self.tree.sign_head)

    def _tree_transaction(self, body: Callable[[Db], _T]) -> _T:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The lock every insert takes: the tree cannot move under us.
            curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self._sql.events))
            return body(postgres_db(curs))

    def tree_rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of a query on the tree's tables (`Tables` words it)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return postgres_db(curs).rows(query, params)

    @reconnecting
    def tail(self, after: int, limit: int) -> list[TailRow]:
        """(stream, version, position) of the first `limit` log entries after `after`.

        Where the log ends is read in the same round trip: when another writer appended,
        this process learns the head its next append goes after, outside the lock, and
        that append still goes out in one round trip. Not while appends go the server's
        way after a failed guard (`CONTENDED_FOR`): none would use it."""
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
        """One stream's events after `version`, oldest first."""
        events = self.select_events(stream, gt=version)
        return [(e.originator_version, e.topic, e.state) for e in events]

    def scan(self, start: int, stop: int, topics: Sequence[str] = ()) -> list[LogRow]:
        """Log rows with positions in [start, stop] (of `topics`, when given), in order,
        as stored: eventsourcing's own read of the log (what `verify` and `replay` walk
        it with).

        A plain query with tuple rows would be faster, but neither reaches replay's
        target, so the library's read stays (docs/decisions.md)."""
        return [
            (n.id, hex_id(n.originator_id), n.originator_version, n.topic, n.state)
            for n in self.select_notifications(start, stop - start + 1, stop, topics=topics)
        ]
