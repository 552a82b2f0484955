"""The peers `python -m bench` compares with, each driven the way its README shows.

- persist-queue `SQLiteAckQueue`: `put`, then `get` + `ack`. It opens its file in WAL
  and leaves `synchronous` at SQLite's default, FULL on this build, so its default is
  already our durability; "equal" sets FULL explicitly anyway.
- litequeue `LiteQueue`: `put`, then `pop` + `done`. It sets `synchronous=NORMAL`
  itself; "equal" runs `PRAGMA synchronous=FULL` on its connection after construction.
- raw sqlite3: one INSERT per commit at our durability, the limit for any design that
  commits each enqueue on its own.

With several clients (threads), each peer is shared the way its README allows:
persist-queue with `multithreading=True`; litequeue's one connection cannot hold two
transactions at once, so its callers take turns on a lock; raw sqlite3 gets a
connection per thread.

Peers are the `bench` extra, never runtime dependencies: imported here only.
"""

import itertools
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, cast

from .results import (
    JOURNAL_MODE,
    SYNCHRONOUS,
    Durability,
    notification_payload,
    read_durability,
    sqlite_query,
)

__all__ = ["LiteQueueSubject", "PersistQueueSubject", "SqliteInserts"]


def _our_durability(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA journal_mode={JOURNAL_MODE}")
    connection.execute(f"PRAGMA synchronous={SYNCHRONOUS}")


class _CommitsEachCall:
    """A peer commits each call in a transaction of its own and does not count them."""

    def transactions(self) -> None:
        return None


class PersistQueueSubject(_CommitsEachCall):
    """persist-queue's `SQLiteAckQueue` in a fresh directory."""

    name = "persist-queue"
    drains = True

    def __init__(self, directory: Path, durability: Durability, clients: int = 1):
        from persistqueue import SQLiteAckQueue

        self.durability, self.clients = durability, clients
        self._queue = SQLiteAckQueue(str(directory), multithreading=clients > 1)
        # Every write goes through this connection (under persist-queue's own lock).
        self._connection = cast(sqlite3.Connection, self._queue._putter)
        if durability == "equal":
            _our_durability(self._connection)
        self._numbers = itertools.count()

    def put(self, client: int) -> None:
        self._queue.put(notification_payload(next(self._numbers)))

    def take(self, client: int) -> None:
        item: dict[str, Any] = self._queue.get(block=False, raw=True)
        self._queue.ack(id=item["pqid"])

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection))

    def close(self) -> None:
        self._queue.close()


class LiteQueueSubject(_CommitsEachCall):
    """litequeue's `LiteQueue` on a fresh file."""

    name = "litequeue"
    drains = True

    def __init__(self, path: Path, durability: Durability, clients: int = 1):
        from litequeue import LiteQueue

        self.durability, self.clients = durability, clients
        self._queue = LiteQueue(str(path))
        self._connection: sqlite3.Connection = self._queue.conn
        if durability == "equal":
            _our_durability(self._connection)
        self._numbers = itertools.count()
        self._turn = threading.Lock()

    def put(self, client: int) -> None:
        body = json.dumps(notification_payload(next(self._numbers)))
        with self._turn:
            self._queue.put(body)

    def take(self, client: int) -> None:
        with self._turn:
            message = self._queue.pop()
            self._queue.done(message.message_id)

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection))

    def close(self) -> None:
        self._queue.close()


class SqliteInserts(_CommitsEachCall):
    """Single-row INSERTs on a fresh file, each its own transaction, at our durability."""

    name = "sqlite3"
    durability: Durability = "equal"
    drains = False

    def __init__(self, path: Path, clients: int = 1):
        self.clients = clients
        self._path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._connection().execute(
            "CREATE TABLE notification (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"
        )
        self._numbers = itertools.count()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: autocommit, so each INSERT commits (and fsyncs) alone.
            connection = sqlite3.connect(
                self._path, isolation_level=None, timeout=30, check_same_thread=False
            )
            _our_durability(connection)
            self._local.connection = connection
            self._opened.append(connection)
        return connection

    def put(self, client: int) -> None:
        body = json.dumps(notification_payload(next(self._numbers))).encode()
        self._connection().execute("INSERT INTO notification (body) VALUES (?)", (body,))

    def take(self, client: int) -> None:
        raise NotImplementedError("raw inserts are the enqueue limit only")

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection()))

    def close(self) -> None:
        for connection in self._opened:
            connection.close()
