"""The guessing throttle of a server with several worker processes: one budget for all,
its failures in a SQLite file in the server's own directory (`FailureFile`: short-lived
counts, not events, written without fsync). A check is one read; only a failure writes.
Guesses in flight on other workers at the same moment are not seen (docs/decisions.md,
Operations).
"""

import math
import time
from collections.abc import Callable
from pathlib import Path

from ..store.failure_file import FailureFile
from .throttle import client_key

__all__ = ["SharedThrottle"]


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
