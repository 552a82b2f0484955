"""The errors tidings raises: one root, so a caller can catch everything of ours at once.

    TidingsError
     ├─ Rejected      the core refused a command (`.code`, `.text`); nothing changed
     ├─ Conflict      other writers kept changing the same streams; nothing was written,
     │                try again (not a `Rejected`: the command itself was fine)
     └─ StorageError  the database could not be opened, read or written

A driver's own exception (`sqlite3`, `psycopg`, `eventsourcing`) never reaches a caller:
`storage_errors` turns it into a `StorageError`, the driver's error kept as its cause.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.persistence import PersistenceError
from tidings.domain import Code, Rejection

__all__ = ["Conflict", "Rejected", "StorageError", "TidingsError", "storage_errors"]

_DRIVER_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)


class TidingsError(Exception):
    """The root of every error tidings raises."""


class Rejected(TidingsError):
    """The core refused a command. `code` and `text` say why (see `tidings.domain.Code`)."""

    def __init__(self, code: Code, text: str):
        super().__init__(f"{int(code)} {text}")
        self.code = code
        self.text = text

    @classmethod
    def of(cls, rejection: Rejection) -> "Rejected":
        return cls(rejection.code, rejection.text)


class Conflict(TidingsError):
    """Other writers kept changing the same streams; nothing was written. Try again."""


class StorageError(TidingsError):
    """The database could not be opened, read or written; the driver's error is the
    `__cause__`. What was being saved was not saved."""


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a database driver's error raised inside into a `StorageError`."""
    try:
        yield
    except _DRIVER_ERRORS as error:
        raise StorageError(f"the database failed: {type(error).__name__}: {error}") from error
