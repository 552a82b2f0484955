"""The guessing throttle of a server with several worker processes: one budget for all,
its failures in a SQLite file in the server's own directory (`FailureFile`: short-lived
counts, not events, written without fsync). A check is one read; only a failure writes.
Guesses in flight on other workers at the same moment are not seen (docs/decisions.md,
Operations).
"""

import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from .throttle import client_key

__all__ = ["FailureFile", "SharedThrottle"]


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


class SharedThrottle:
    """`throttle.Throttle`'s rule over failures kept in the SQLite file `path`, shared by
    every process that opens it. `clock`: seconds on a clock all of them share."""

    def __init__(
        self,
        path: Path,
        *,
        per_address: int,
        per_login: int,
        window: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_address = per_address
        self.per_login = per_login
        self.window = window
        self._clock = clock
        self._file = FailureFile(path)  # called from the event loop only
        self._held: dict[str, int] = {}  # client -> its guesses let through, not yet settled
        self._held_logins: dict[str, list[str]] = {}  # login -> the clients of those
        self.failures = 0
        self.refusals = 0

    def retry_after(self, login: str, address: str | None) -> int | None:
        """As `Throttle.retry_after`, over every process's failures."""
        client = client_key(address)
        now = self._clock()
        since = now - self.window
        waits: list[float] = []
        mine = self._file.of_client(client, since, self.per_address)
        if len(mine) + self._held.get(client, 0) >= self.per_address:
            full = len(mine) == self.per_address
            waits.append(mine[-1] + self.window - now if full else 1.0)
        count, last = self._file.of_login(login, client, since)
        held = self._held_logins.get(login, [])
        if count + len(held) >= self.per_login and (last is not None or client in held):
            waits.append(last + self.window - now if last is not None else 1.0)
        if waits:
            self.refusals += 1
            return max(1, math.ceil(max(waits)))
        self._held[client] = self._held.get(client, 0) + 1
        self._held_logins.setdefault(login, []).append(client)
        return None

    def failed(self, login: str, address: str | None) -> None:
        """Count one failed authentication, for every process."""
        self.failures += 1
        client = client_key(address)
        self._settle(login, client)
        now = self._clock()
        self._file.add(now, client, login, forget_before=now - self.window)

    def passed(self, login: str, address: str | None) -> None:
        """The guess let through authenticated: it is no failure."""
        self._settle(login, client_key(address))

    def _settle(self, login: str, client: str) -> None:
        held = self._held.get(client, 0)
        if held <= 1:
            self._held.pop(client, None)
        else:
            self._held[client] = held - 1
        clients = self._held_logins.get(login)
        if clients is not None and client in clients:
            clients.remove(client)
            if not clients:
                del self._held_logins[login]
