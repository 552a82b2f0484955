"""Failed authentications in a SQLite file several server processes share
(`http.throttle`): short-lived counts, not events, written without fsync."""

import sqlite3
from pathlib import Path

__all__ = ["FailureFile"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (at REAL NOT NULL, client TEXT NOT NULL, login TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS failures_client ON failures (client, at);
CREATE INDEX IF NOT EXISTS failures_login ON failures (login, at);
CREATE INDEX IF NOT EXISTS failures_at ON failures (at);
"""


class FailureFile:
    """The failures in the file `path` (created if missing; make it before processes
    open it at once). Use from one thread; each statement is its own transaction."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def of_client(self, client: str, since: float, limit: int) -> list[float]:
        """When `client`'s latest failures after `since` happened, newest first, at most
        `limit` of them."""
        rows = self._db.execute(
            "SELECT at FROM failures WHERE client = ? AND at > ? ORDER BY at DESC LIMIT ?",
            (client, since, limit),
        ).fetchall()
        return [at for (at,) in rows]

    def of_login(self, login: str, client: str, since: float) -> tuple[int, float | None]:
        """How many failures `login` had after `since`, and the latest of them from
        `client` (None when it had none)."""
        count, last = self._db.execute(
            "SELECT count(*), max(CASE WHEN client = ? THEN at END) FROM failures"
            " WHERE login = ? AND at > ?",
            (client, login, since),
        ).fetchone()
        return int(count), last

    def add(self, at: float, client: str, login: str, *, forget_before: float) -> None:
        """Record a failure at `at`, dropping those at or before `forget_before`."""
        self._db.execute("DELETE FROM failures WHERE at <= ?", (forget_before,))
        self._db.execute(
            "INSERT INTO failures (at, client, login) VALUES (?, ?, ?)", (at, client, login)
        )

    def close(self) -> None:
        self._db.close()
