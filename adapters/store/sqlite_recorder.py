"""The SQLite recorder: eventsourcing's tables, plus the chain and the tree written in the
events' transaction, on our own writer connection (cheaper than eventsourcing's
transaction: docs/decisions.md).
"""

import fcntl
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ..ledger.entries import GENESIS, Row, TailRow, chain_links, hex_id
from .environment import SQLITE_BUSY
from .merkle_tables import CHAIN, ChainedRecorder, Db, Tables

__all__ = ["ChainedSQLiteRecorder", "WriterTurns"]

_T = TypeVar("_T")

# The writer's page cache (KiB), larger than SQLite's default, and its WAL checkpointed
# less often than SQLite's 1,000 pages: docs/decisions.md.
_WRITER_CACHE_KIB, _CHECKPOINT_PAGES = 8192, 4000
# Rows an INSERT statement of `_insert` writes at most: few enough that the statements of
# every count fit the driver's statement cache (128 a connection) for both tables.
_ROWS = 32


@functools.cache
def _statement(head: str, width: int, rows: int) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} VALUES {', '.join([row] * rows)}"


def _insert(connection: sqlite3.Connection, head: str, width: int, values: list[Any]) -> None:
    """Insert rows of `width` columns given one after another in `values`, up to `_ROWS`
    a statement (cheaper than `executemany`'s statement a row: docs/decisions.md)."""
    step = _ROWS * width
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        connection.execute(_statement(head, width, len(chunk) // width), chunk)


def _sqlite_db(connection: sqlite3.Connection) -> Db:
    def many(query: str, rows: list[tuple[Any, ...]]) -> None:
        connection.executemany(query, rows)

    return Db(lambda query, params: connection.execute(query, params).fetchall(), many)


class _TakenAsIntegrityError:
    """SQLite's refusal of a taken (stream, version) as eventsourcing's `IntegrityError`."""

    def __enter__(self) -> None: ...

    def __exit__(self, kind: Any, error: BaseException | None, trace: Any) -> None:
        if isinstance(error, sqlite3.IntegrityError):
            raise IntegrityError(str(error)) from error


class WriterTurns:
    """The queue the writers of one SQLite database (`db_name`: a path or a `file:` URI)
    take turns in: a `flock` on a file beside it, which wakes a waiter at once, taken
    before SQLite's write lock, whose busy handler sleeps and lets a process that
    commits in a loop starve another (tests/store/test_fairness.py)."""

    def __init__(self, db_name: str) -> None:
        self._path = f"{db_name.removeprefix('file:').split('?', 1)[0]}-writers"
        self._file: int | None = None

    def take(self) -> None:
        if self._file is None:
            self._file = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def give(self) -> None:
        assert self._file is not None
        fcntl.flock(self._file, fcntl.LOCK_UN)

    @contextmanager
    def turn(self) -> Iterator[None]:
        self.take()
        try:
            yield
        finally:
            self.give()

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None


class ChainedSQLiteRecorder(ChainedRecorder, SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder and tables, plus the chain table. `before_commit`:
    called with each write's log positions before it commits."""

    snapshots_table = "stored_snapshots"
    before_commit: Callable[[list[int]], None] | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            # `nodes`: the Merkle tree's, in the chain's rows (see merkle_tables).
            f"CREATE TABLE IF NOT EXISTS {CHAIN} "
            "(position INTEGER PRIMARY KEY, digest BLOB NOT NULL, nodes BLOB)",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reader_connection: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._writer_db: Db | None = None  # the writer as the tree's `Db` (`_tree_db`)
        self._data_version: int | None = None
        self._held = False  # inside `locked`: writes join its transaction
        self._turns = WriterTurns(self.datastore.pool.db_name)
        self._head = (  # where the log ends and the chain's last digest, in one read
            f"SELECT (SELECT max(rowid) FROM {self.events_table_name}), "
            f"(SELECT digest FROM {CHAIN} ORDER BY position DESC LIMIT 1)"
        )
        self._events_insert = (
            f"INSERT INTO {self.events_table_name} "
            "(rowid, originator_id, originator_version, topic, state)"
        )
        self.tree = Tables("", self.events_table_name, "rowid", postgres=False)
        self.create_table_statements += self.tree.create()

    def _connect(self) -> sqlite3.Connection:
        # Bytes bound as they are (`bytes.__bytes__` is the very object, process-wide): with
        # no adapter, sqlite3 makes two attribute lookups per bytes parameter, one raising.
        sqlite3.register_adapter(bytes, bytes.__bytes__)
        # Autocommit: we issue BEGIN ourselves. WAL (set on the file by eventsourcing)
        # lets readers work beside the writer; FULL fsyncs the WAL at every commit.
        connection = sqlite3.connect(
            self.datastore.pool.db_name,
            uri=True,
            isolation_level=None,
            timeout=SQLITE_BUSY,
            check_same_thread=False,
        )
        connection.execute("PRAGMA synchronous=FULL")
        # A batch's multi-row INSERTs each keep a statement journal (one may fail halfway
        # and is undone alone): in memory, not a temporary file written at every batch.
        connection.execute("PRAGMA temp_store=MEMORY")
        return connection

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = writer = self._connect()
            writer.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
            writer.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        return self._writer

    def close_connections(self) -> None:
        for connection in (self._reader_connection, self._writer):
            if connection is not None:
                connection.close()
        self._reader_connection = self._writer = self._writer_db = None
        self._turns.close()

    def append(self, events: Sequence[Row], snapshots: Sequence[Row]) -> list[int]:
        connection = self._writer_connection()
        if self._held:
            return self._write_held(connection, events, snapshots)
        self._turns.take()
        try:
            with _TakenAsIntegrityError():
                # IMMEDIATE: take the write lock now, so the tail read below cannot go stale.
                connection.execute("BEGIN IMMEDIATE")
                try:
                    positions = self._append(connection, events, snapshots)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        finally:
            self._turns.give()
        return positions

    def _write_held(
        self, connection: sqlite3.Connection, events: Sequence[Row], snapshots: Sequence[Row]
    ) -> list[int]:
        with _TakenAsIntegrityError():  # a savepoint undoes a failed write, not the block
            connection.execute("SAVEPOINT write")
            try:
                positions = self._append(connection, events, snapshots)
                connection.execute("RELEASE write")
            except BaseException as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK TO write")
                    connection.execute("RELEASE write")
                elif isinstance(error, sqlite3.IntegrityError):
                    # SQLite ended the whole transaction (a trigger's RAISE(ROLLBACK)):
                    # not a lost race to decide again in a block that is gone.
                    raise sqlite3.OperationalError(str(error)) from error
                raise  # SQLite's own words (a full disk), not a savepoint that is gone
        return positions

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' turn, then SQLite's write lock, for a block; an `append`
        inside joins its transaction, committed at the block's end."""
        connection = self._writer_connection()
        self._turns.take()
        try:
            # IMMEDIATE: take the write lock now, so nothing read under it goes stale.
            connection.execute("BEGIN IMMEDIATE")
            self._held = True
            try:
                yield
                self._held = False
                connection.execute("COMMIT")
            except BaseException:
                self._held = False
                if connection.in_transaction:  # e.g. the disk is full: nothing is kept
                    connection.execute("ROLLBACK")
                raise
        finally:
            self._turns.give()

    def _append(
        self, connection: sqlite3.Connection, events: Sequence[Row], snapshots: Sequence[Row]
    ) -> list[int]:
        last, digest = connection.execute(self._head).fetchone()
        tail, previous = last or 0, bytes(digest) if digest is not None else GENESIS
        positions = list(range(tail + 1, tail + 1 + len(events)))
        rows: list[Any] = []
        for position, (stream, version, topic, state) in zip(positions, events, strict=True):
            # `hex_id`, inlined: the store's rows hold hex, eventsourcing's a UUID.
            sid = stream if isinstance(stream, str) else stream.hex
            rows += (position, sid, version, topic, state)
        _insert(connection, self._events_insert, 5, rows)
        links, entries = chain_links(previous, positions, events)
        nodes = self.tree.grow(self._tree_db(), entries, (previous, links[-1][1]))
        rows = []
        for (position, digest), n in zip(links, nodes, strict=True):
            rows += (position, digest, n)
        _insert(connection, f"INSERT INTO {CHAIN}", 3, rows)
        if snapshots:
            # Same transaction as the events: a snapshot never runs ahead of its stream.
            connection.executemany(
                f"INSERT OR IGNORE INTO {self.snapshots_table} VALUES (?, ?, ?, ?)",
                [
                    (hex_id(stream), version, topic, state)
                    for stream, version, topic, state in snapshots
                ],
            )
        if self.before_commit is not None:
            self.before_commit(positions)
        return positions

    def _tree_db(self) -> Db:
        if self._writer_db is None:
            self._writer_db = _sqlite_db(self._writer_connection())
        return self._writer_db

    def _tree_transaction(self, body: Callable[[Db], _T]) -> _T:
        with self.locked():
            return body(self._tree_db())

    def tree_rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._read(query, params)

    def pragma(self, statement: str) -> Any:
        """The first value a PRAGMA gives on the writer connection."""
        return self._writer_connection().execute(statement).fetchone()[0]

    def changed(self) -> bool:
        """Whether another connection may have committed since the last call."""
        version: int = self._writer_connection().execute("PRAGMA data_version").fetchone()[0]
        changed = version != self._data_version
        self._data_version = version
        return changed

    def tail(self, after: int, limit: int) -> list[TailRow]:
        rows = self._writer_connection().execute(
            f"SELECT originator_id, originator_version, rowid FROM {self.events_table_name} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        )
        return rows.fetchall()

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        """Rows of a query on the read connection, shared by every thread in turn."""
        with self._read_lock:
            if self._reader_connection is None:
                self._reader_connection = self._connect()
            return self._reader_connection.execute(query, params).fetchall()
