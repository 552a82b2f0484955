"""The PostgreSQL recorder: eventsourcing's tables, plus the chain and the tree, an append
one transaction in one round trip (`postgres_sql.Batch`). Knowing where the log ends, the
process gives positions and hashes itself, guarded against another writer's append;
not knowing (or `CONTENDED_FOR` after a guard failed), the server computes the append
(`postgres_append`). Why: docs/decisions.md.
"""

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar, cast

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Composed, Identifier

from ..ledger.entries import GENESIS, Row, TailRow, chain_links
from .environment import quoted
from .merkle_tables import ChainedRecorder, Db, Tables
from .outage import BoundedReads, reconnecting, settled
from .postgres_append import Head, Look, ServerAppend, chained, found, moved_on, placed
from .postgres_sql import Batch, Statements, byteas, columns, ints, postgres_db, transaction, uuids

__all__ = ["ChainedPostgresRecorder"]

_T = TypeVar("_T")
# After a guard failed (another writer appended), appends go the server's way for this
# long (seconds): while another process keeps appending the guard mostly fails.
CONTENDED_FOR = 1.0
# `Statements.news`'s parameters: the position after which to read, the streams read
# (a uuid[] literal) and the versions read (a bigint[] literal), how many rows at most.
Check = tuple[int, str, str, int]


class ChainedPostgresRecorder(ChainedRecorder, BoundedReads, PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, plus the chain table. `before_commit`: called
    with each write's log positions before it commits (its rows and COMMIT then go in
    two round trips)."""

    snapshots_table = "tidings_snapshots"
    before_commit: Callable[[list[int]], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: Any = None  # inside `locked`: its connection, which writes join
        # Where the log ended after this process's last append, or as `tail` last saw
        # it; None: unknown, read under the lock at the next append.
        self._head: Head | None = None
        # After the guard failed, appends read the end under the lock until then.
        self._contended_until = 0.0
        # The append under way once its COMMIT may be sent: connection, server process,
        # how to find it in the log, the head after it when known.
        self._sent: tuple[Any, int, Look, Head | None] | None = None
        self._news: list[TailRow] | None = None  # what the last `append_checked` read
        schema = quoted(self.datastore.schema) + "."
        self.tree = Tables(schema, self.events_table_name, "notification_id", postgres=True)
        self._sql = Statements(self.datastore.schema, self.events_table_name, self.tree)
        self._prepared = self._sql.prepared(self.snapshots_table)
        # eventsourcing's `_lock_table` and `_notify_channel`, rendered once.
        self._lock = ";".join(cast(Composed, q).as_string(None) for q in self.lock_table_statements)
        self._notify = SQL("NOTIFY {}").format(Identifier(self.channel_name)).as_string(None)
        self.sql_create_statements += [Composed([SQL(q)]) for q in self.tree.create()]
        self.sql_create_statements.append(Composed([SQL(self._sql.create_chain)]))
        self._server = ServerAppend(self._sql, self.snapshots_table, self.tree)
        self._prepared.learn(self._server.call)
        self.sql_create_statements.append(self._server.create)

    @reconnecting
    def _insert(
        self, events: Sequence[Row], snapshots: Sequence[Row], check: Check | None = None
    ) -> list[int]:
        """`_write`, retried on a lost connection, settled by `_landed`."""
        self._sent, self._news = None, None
        try:
            return self._write(events, snapshots, check)
        except (InterfaceError, OperationalError) as error:
            return self._landed(error)

    def _landed(self, error: Exception) -> list[int]:
        """After `error` on a write's connection: the positions of the append `_sent`
        names when its connection died once the COMMIT may have been sent and the log
        says it committed (`outage.settled`); else raises `error`."""
        sent = self._sent
        if sent is None or not sent[0].closed:
            raise error
        found = settled(self.datastore, sent[1], sent[2])
        if found is None:
            raise error
        ids, self._head = found
        return ids

    def _write(
        self, events: Sequence[Row], snapshots: Sequence[Row], check: Check | None
    ) -> list[int]:
        if not events:
            return []
        head, self._head = self._head, None  # not trusted while it changes
        if time.monotonic() < self._contended_until:
            head = None  # another writer keeps appending: the guard would mostly fail
        # Encoded before the lock is taken: while it is held, other writers wait.
        encoded = columns(events), columns(snapshots)
        with self.datastore.get_connection() as conn, moved_on():
            placed = None
            if head is not None:
                try:
                    placed = self._client_append(conn, events, encoded, check, head)
                except psycopg.errors.DivisionByZero:  # the guard: the log moved on
                    self._contended_until = time.monotonic() + CONTENDED_FOR
            if placed is None:
                placed = self._placed_by_server(conn, events, encoded, check)
            if placed is None:  # the server cannot: read the end under the lock first
                placed = self._client_append(conn, events, encoded, check, None)
        ids, self._head = placed
        return ids

    def _client_append(
        self,
        conn: Any,
        events: Sequence[Row],
        encoded: tuple[list[str], list[str]],
        check: Check | None,
        head: Head | None,
    ) -> tuple[list[int], Head]:
        """The client's append after `head`, guarded (None: the end read under the lock)."""
        with transaction(conn, self._prepared) as batch:
            batch.execute(self._lock)
            self._look(batch, check)
            if head is None:
                head = self._end(batch.rows(self._sql.read_end, (self.tree.kept_size(),))[0])
            else:
                batch.execute(self._sql.guard, (head[0],))
            placed = self._append(batch, events, head, encoded)
            self._sent = conn, conn.info.backend_pid, chained(self._sql, *placed), None
            self._observe(batch, placed[0])
        self._heard(batch, check)
        return placed

    def _look(self, batch: Batch, check: Check | None) -> None:
        if check is not None:
            batch.execute(self._sql.news, check)

    def _heard(self, batch: Batch, check: Check | None) -> None:
        if check is not None:
            self._news = [(stream.hex, version, at) for stream, version, at in batch.answered[0]]

    def _placed_by_server(
        self,
        conn: Any,
        events: Sequence[Row],
        encoded: tuple[list[str], list[str]],
        check: Check | None,
    ) -> tuple[list[int], Head] | None:
        """The append computed by the server under the lock (`tidings_append`). None,
        nothing written, when a checkpoint would fall due (the client signs it) or the
        tree does not end where the log does."""
        every = self.tree.sign_every()
        if every == 0:
            return None
        try:
            with transaction(conn, self._prepared) as batch:
                batch.execute(self._lock)
                self._look(batch, check)
                batch.execute(self._notify)
                params = (*encoded[0], *encoded[1], self.tree.enabled, every)
                batch.execute(self._server.call, params)
                self._sent = conn, conn.info.backend_pid, found(self._sql, events), None
                if self.before_commit is not None:
                    batch.send()
                    self.before_commit(placed(batch.answered[-1][0], len(events), self.tree)[0])
        except psycopg.errors.RaiseException:
            return None
        self._heard(batch, check)
        return placed(batch.answered[-1][0], len(events), self.tree)

    def _end(self, row: tuple[Any, ...]) -> Head:
        last, digest, size, at, hashes = row
        head = last, bytes(digest) if digest is not None else GENESIS
        self.tree.keep(head[1], last, size, at, hashes)
        return head

    def _observe(self, batch: Batch, ids: list[int]) -> None:
        if self.before_commit is not None:
            batch.send()
            self.before_commit(ids)

    def _append(
        self,
        batch: Batch,
        events: Sequence[Row],
        head: Head,
        encoded: tuple[list[str], list[str]],
    ) -> tuple[list[int], Head]:
        """Gather the statements of an append after `head` (the log's last position and
        chain digest); the positions and the new head."""
        last, previous = head
        batch.execute(self._notify)
        ids = list(range(last + 1, last + 1 + len(events)))
        links, entries = chain_links(previous, ids, events)
        nodes = self.tree.grow(batch.db(), entries, (previous, links[-1][1]))
        batch.execute(
            self._sql.place(self.snapshots_table),
            (
                last,
                *encoded[0],
                ints([position for position, _ in links]),
                byteas([digest for _, digest in links]),
                byteas(cast(list[bytes], nodes)) if self.tree.enabled else None,
                *encoded[1],
                ids[-1],
            ),
        )
        return ids, links[-1]

    def close_connections(self) -> None:
        pass  # reads and writes use eventsourcing's pool

    def append(self, events: Sequence[Row], snapshots: Sequence[Row]) -> list[int]:
        if self._held is None:
            inserted: list[int] = self._insert(events, snapshots)
            return inserted
        conn, encoded = self._held, (columns(events), columns(snapshots))
        try:
            with conn.transaction():  # a savepoint in `locked`'s
                batch = Batch(conn, self._prepared)
                head = self._end(batch.rows(self._sql.read_end, (self.tree.kept_size(),))[0])
                ids, after = self._append(batch, events, head, encoded)
                self._observe(batch, ids)
                batch.send()
        except psycopg.IntegrityError as error:
            raise IntegrityError(str(error)) from error
        # Its COMMIT is sent when `locked` ends: a connection lost there is settled then.
        self._sent = conn, conn.info.backend_pid, chained(self._sql, ids, after), after
        return ids

    def append_checked(
        self,
        events: Sequence[Row],
        snapshots: Sequence[Row],
        read: Collection[tuple[str, int]],
        after: int,
        limit: int,
    ) -> tuple[list[int], list[TailRow] | None]:
        streams, versions = uuids([r[0] for r in read]), ints([r[1] for r in read])
        ids = self._insert(events, snapshots, (after, streams, versions, limit))
        return ids, self._news

    def holding(self) -> bool:
        return self._held is not None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold eventsourcing's table lock for a block; an `append` inside joins its
        transaction. A connection lost once the COMMIT may have been sent is settled."""
        ending, self._held = self._hold_lock()
        self._sent = None
        try:
            with ending:
                try:
                    yield
                finally:
                    self._held = None
        except (InterfaceError, OperationalError) as error:
            self._landed(error)
            return
        if self._sent is not None:  # committed
            self._head = self._sent[3]

    @reconnecting
    def _hold_lock(self) -> tuple[ExitStack, Any]:
        """A connection holding the table lock, and the stack that ends both."""
        with ExitStack() as stack:
            conn = stack.enter_context(self.datastore.get_connection())
            self._prepared.ready(conn)  # outside the transaction (`Prepared`)
            stack.enter_context(conn.transaction())
            with conn.cursor() as curs:
                self._lock_table(curs)
            return stack.pop_all(), conn

    def changed(self) -> bool:
        return True  # PostgreSQL has no cheap change counter: `tail` is always read

    def tree_rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return postgres_db(curs).rows(query, params)

    _read = reconnecting(tree_rows)

    def _tree_transaction(self, body: Callable[[Db], _T]) -> _T:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The lock every insert takes: the tree cannot move under us.
            curs.execute(f"LOCK TABLE {self._sql.events} IN EXCLUSIVE MODE")
            return body(postgres_db(curs))

    @reconnecting
    def tail(self, after: int, limit: int) -> list[TailRow]:
        """`Recorder.tail`, reading where the log ends in the same round trip, for the
        next append (unless appends go the server's way: `CONTENDED_FOR`)."""
        contended = time.monotonic() < self._contended_until
        with self.datastore.get_connection() as conn:
            batch = Batch(conn, self._prepared, writes=False)
            batch.execute(self._sql.tail, (after, limit))
            if not contended:
                batch.execute(self._sql.read_end, (self.tree.kept_size(),))
            found = batch.sets()
        if not contended:
            self._head = self._end(found[1][0])
        return [(stream.hex, version, position) for stream, version, position in found[0]]
