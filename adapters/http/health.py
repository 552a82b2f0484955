"""Readiness: `/readyz` says the store can commit, by a heartbeat write at most once per
`interval` however often it is probed (`beat`: one row per server process in
`tidings_heartbeat`, outside the log, on a connection of its own); 503 with the reason
while that write fails.
"""

import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable

import anyio

from ..store.environment import environment, is_postgres
from ..store.schema_check import connect

__all__ = ["Readiness", "beat"]

_log = logging.getLogger("tidings.server")
_TIMEOUT = 5  # seconds a heartbeat may wait for a lock or a connection
_TABLE = "tidings_heartbeat"
_CREATE = f"CREATE TABLE IF NOT EXISTS {_TABLE} (server TEXT PRIMARY KEY, at DOUBLE PRECISION)"
_BEAT = (
    f"INSERT INTO {_TABLE} (server, at) VALUES ({{0}}, {{0}}) "
    "ON CONFLICT (server) DO UPDATE SET at = excluded.at"
)


def beat(db: str, server: str, timeout: float) -> None:
    """Write `server`'s heartbeat into the store at `db` (a SQLite path or a PostgreSQL
    URL), waiting at most `timeout` seconds for a connection or a lock. Raises the
    driver's error when the write fails (the reason the store is not ready)."""
    if is_postgres(db):
        _beat_postgres(db, server, timeout)
    else:
        _beat_sqlite(db, server, timeout)


def _beat_sqlite(db: str, server: str, timeout: float) -> None:
    connection = sqlite3.connect(db, timeout=timeout, isolation_level=None)
    try:
        connection.execute(_CREATE)
        connection.execute(_BEAT.format("?"), (server, time.time()))
    finally:
        connection.close()


def _beat_postgres(db: str, server: str, timeout: float) -> None:
    env = environment(db)
    with connect(env, timeout) as connection:
        connection.execute(f"SET lock_timeout = '{int(timeout)}s'")
        connection.execute(f'SET search_path TO "{env["POSTGRES_SCHEMA"]}"')
        connection.execute(_CREATE)
        connection.execute(_BEAT.format("%s"), (server, time.time()))


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
            beat(self._db, self._server, _TIMEOUT)
        except Exception as error:
            reason = f"the store cannot commit: {_said(error, self._db)}"
            _log.warning("not ready: %s", reason)
            return reason
        return None


def _said(error: Exception, db: str) -> str:
    """The error's first line, never with the database password in it."""
    text = (str(error).strip().splitlines() or [""])[0]
    if is_postgres(db):
        password = environment(db)["POSTGRES_PASSWORD"]
        if password:
            text = text.replace(password, "***")
    return f"{type(error).__name__}: {text}"
