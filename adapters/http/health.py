"""Readiness: `/readyz` says the store can commit, by a heartbeat write at most once per
`interval` however often it is probed (`store.environment.beat`); 503 with the reason
while that write fails.
"""

import logging
import os
import socket
import time
from collections.abc import Callable

import anyio

from ..store.environment import beat, environment, is_postgres

__all__ = ["Readiness"]

_log = logging.getLogger("tidings.server")
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
