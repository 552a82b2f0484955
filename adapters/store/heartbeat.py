"""The readiness heartbeat: one row per server process in `tidings_heartbeat`, outside the
log, on a connection of its own."""

import sqlite3
import time

from .environment import environment, is_postgres
from .schema_check import connect

__all__ = ["beat"]

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
