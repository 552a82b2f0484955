"""The peers `tidings bench` compares with, each driven the way its README shows.

- persist-queue `SQLiteAckQueue`: `put`, then `get` + `ack`. It opens its file in WAL
  and leaves `synchronous` at SQLite's default, FULL on this build, so its default is
  already our durability; "equal" sets FULL explicitly anyway.
- litequeue `LiteQueue`: `put`, then `pop` + `done`. It sets `synchronous=NORMAL`
  itself; "equal" runs `PRAGMA synchronous=FULL` on its connection after construction.
- raw sqlite3: one INSERT per commit at our durability, the limit for any design that
  commits each enqueue on its own.

Peers are the `bench` extra, never runtime dependencies: imported here only.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any, cast

from .bench_results import (
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


class PersistQueueSubject:
    """persist-queue's `SQLiteAckQueue` in a fresh directory."""

    name = "persist-queue"
    drains = True

    def __init__(self, directory: Path, durability: Durability):
        from persistqueue import SQLiteAckQueue

        self.durability = durability
        self._queue = SQLiteAckQueue(str(directory))
        # One connection serves put and get unless multithreading=True (not the default).
        self._connection = cast(sqlite3.Connection, self._queue._putter)
        if durability == "equal":
            _our_durability(self._connection)
        self._next = 0

    def enqueue(self, count: int) -> None:
        for n in range(self._next, self._next + count):
            self._queue.put(notification_payload(n))
        self._next += count

    def drain(self, count: int) -> None:
        for _ in range(count):
            item: dict[str, Any] = self._queue.get(block=False, raw=True)
            self._queue.ack(id=item["pqid"])

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection))

    def close(self) -> None:
        self._queue.close()


class LiteQueueSubject:
    """litequeue's `LiteQueue` on a fresh file."""

    name = "litequeue"
    drains = True

    def __init__(self, path: Path, durability: Durability):
        from litequeue import LiteQueue

        self.durability = durability
        self._queue = LiteQueue(str(path))
        self._connection: sqlite3.Connection = self._queue.conn
        if durability == "equal":
            _our_durability(self._connection)
        self._next = 0

    def enqueue(self, count: int) -> None:
        for n in range(self._next, self._next + count):
            self._queue.put(json.dumps(notification_payload(n)))
        self._next += count

    def drain(self, count: int) -> None:
        for _ in range(count):
            message = self._queue.pop()
            self._queue.done(message.message_id)

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection))

    def close(self) -> None:
        self._queue.close()


class SqliteInserts:
    """Single-row INSERTs on a fresh file, each its own transaction, at our durability."""

    name = "sqlite3"
    durability: Durability = "equal"
    drains = False

    def __init__(self, path: Path):
        # isolation_level=None: autocommit, so each INSERT commits (and fsyncs) by itself.
        self._connection = sqlite3.connect(path, isolation_level=None)
        _our_durability(self._connection)
        self._connection.execute(
            "CREATE TABLE notification (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"
        )
        self._next = 0

    def enqueue(self, count: int) -> None:
        for n in range(self._next, self._next + count):
            body = json.dumps(notification_payload(n)).encode()
            self._connection.execute("INSERT INTO notification (body) VALUES (?)", (body,))
        self._next += count

    def drain(self, count: int) -> None:
        raise NotImplementedError("raw inserts are the enqueue limit only")

    def durability_in_force(self) -> tuple[str, str]:
        return read_durability(sqlite_query(self._connection))

    def close(self) -> None:
        self._connection.close()
