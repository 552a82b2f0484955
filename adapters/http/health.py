"""Liveness and readiness.

`/healthz` says the process serves and the store answers a read; `/readyz` says the
store can commit: it writes a heartbeat row (`tidings_heartbeat`, one per server
process, beside the event log and outside it, so the hash-chained log does not fill
with heartbeats) on a connection of its own, at most once per `interval` seconds
however often it is probed, and answers 503 with the reason while that write fails
(disk full, read-only file system, a role that lost its rights, a database gone).
"""

import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable

import anyio

from ..store.application import environment, is_postgres

__all__ = ["Readiness"]

_log = logging.getLogger("tidings.server")
_TABLE = "tidings_heartbeat"
_CREATE = f"CREATE TABLE IF NOT EXISTS {_TABLE} (server TEXT PRIMARY KEY, at DOUBLE PRECISION)"
_BEAT = (
    f"INSERT INTO {_TABLE} (server, at) VALUES ({{0}}, {{0}}) "
    "ON CONFLICT (server) DO UPDATE SET at = excluded.at"
)
_TIMEOUT = 5  # seconds a heartbeat may wait for a lock or a connection


class Readiness:
    """Whether the store at `db` can commit, found by a heartbeat write at most every
    `interval` seconds (`clock`: monotonic seconds)."""

    def __init__(
        self, db: str, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._interval = interval
        self._clock = clock
        self._server = f"{socket.gethostname()}/{os.getpid()}"
        self._checked: float | None = None
        self._reason: str | None = None
        self._lock = anyio.Lock()
        self.heartbeats = 0  # writes tried: shows that probes share them

    async def reason(self) -> str | None:
        """None when the store committed a heartbeat within `interval`; else why not."""
        async with self._lock:  # concurrent probes wait for one heartbeat, not one each
            now = self._clock()
            if self._checked is None or now - self._checked >= self._interval:
                self._reason = await anyio.to_thread.run_sync(self._beat)
                self._checked = self._clock()
            return self._reason

    def _beat(self) -> str | None:
        self.heartbeats += 1
        try:
            if is_postgres(self._db):
                self._beat_postgres()
            else:
                self._beat_sqlite()
        except Exception as error:
            reason = f"the store cannot commit: {_said(error, self._db)}"
            _log.warning("not ready: %s", reason)
            return reason
        return None

    def _beat_sqlite(self) -> None:
        connection = sqlite3.connect(self._db, timeout=_TIMEOUT, isolation_level=None)
        try:
            connection.execute(_CREATE)
            connection.execute(_BEAT.format("?"), (self._server, time.time()))
        finally:
            connection.close()

    def _beat_postgres(self) -> None:
        import psycopg

        env = environment(self._db)
        with psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=_TIMEOUT,
            autocommit=True,
        ) as connection:
            connection.execute(f"SET lock_timeout = '{_TIMEOUT}s'")
            connection.execute(f'SET search_path TO "{env["POSTGRES_SCHEMA"]}"')
            connection.execute(_CREATE)
            connection.execute(_BEAT.format("%s"), (self._server, time.time()))


def _said(error: Exception, db: str) -> str:
    """The error's first line, never with the database password in it."""
    text = (str(error).strip().splitlines() or [""])[0]
    if is_postgres(db):
        password = environment(db)["POSTGRES_PASSWORD"]
        if password:
            text = text.replace(password, "***")
    return f"{type(error).__name__}: {text}"
