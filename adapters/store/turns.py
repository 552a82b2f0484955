"""The queue the writers of one SQLite file take turns in.

Writers first queue for a lock file beside the database (`flock`, which wakes a waiter as
soon as the holder lets go) and only then take SQLite's write lock: SQLite's own busy
handler polls with sleeps of up to 100 ms, so a process that commits in a loop would take
the lock again and again while another one sleeps (two processes on one account: one
starved, as tests/store/test_fairness.py shows). The store's recorder and
the views of its projections queue here alike, so a view's short write never sends the
store's writer into those sleeps.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WriterTurns"]


class WriterTurns:
    """Turns at writing one SQLite database (`db_name` as eventsourcing's pool has it:
    a path or a `file:` URI)."""

    def __init__(self, db_name: str) -> None:
        self._path = f"{db_name.removeprefix('file:').split('?', 1)[0]}-writers"
        self._file: int | None = None

    def take(self) -> None:
        """Wait for this holder's turn (the lock file is opened on first use)."""
        if self._file is None:
            self._file = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def give(self) -> None:
        """Let the next writer in the queue have its turn."""
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
