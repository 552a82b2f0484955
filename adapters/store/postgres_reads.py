"""The PostgreSQL recorder's own reads of the log (beside eventsourcing's): a stream's
newest snapshot, a stream's events with their positions, the chain."""

from typing import Any
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

from ..ledger.entries import PlacedRow, StreamRow
from .outage import reconnecting
from .postgres_sql import Statements

__all__ = ["LogReads"]


class LogReads:
    """Reads for `ChainedPostgresRecorder`, on its pool, `_sql` and snapshots table."""

    datastore: Any
    snapshots_table: str
    _sql: Statements

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
