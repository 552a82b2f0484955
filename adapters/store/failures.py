"""A database driver's errors, turned into ours at the edge of the store.

The drivers are the store's business: only this package imports them. `storage_errors`
turns a `sqlite3`, `psycopg` or `eventsourcing` persistence error raised inside it into
a `StorageError`, the driver's error kept as its cause, so a caller never meets it. An
error that says the store cannot answer starts an outage (`outage.OUTAGE`), logged once;
the next call that goes through ends it.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.persistence import PersistenceError

from ..errors import StorageError
from .outage import OUTAGE, unreachable

__all__ = ["storage_errors"]

_DRIVER_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a database driver's error raised inside into a `StorageError`."""
    try:
        yield
    except _DRIVER_ERRORS as error:
        if unreachable(error):
            OUTAGE.failed(error)
        raise StorageError(f"the database failed: {type(error).__name__}: {error}") from error
    OUTAGE.passed()
