"""`storage_errors`: a driver's error raised inside the store as a `StorageError`."""

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError

from ..errors import StorageError
from .outage import OUTAGE, unreachable

__all__ = ["storage_errors"]

_DRIVER_ERRORS = (sqlite3.Error, psycopg.Error, PersistenceError)


class _StorageErrors:
    # A class, not a generator (whose end raises StopIteration): it wraps every command.

    __slots__ = ("_opening",)

    def __init__(self, opening: bool) -> None:
        self._opening = opening  # the store is being opened: its opener tells of a failure

    def __enter__(self) -> None:
        pass

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: Any
    ) -> None:
        if error is None:
            if not OUTAGE.steady:
                OUTAGE.passed()
        elif isinstance(error, _DRIVER_ERRORS):
            if unreachable(error) and not self._opening:  # an outage starts: logged once
                OUTAGE.failed(error)
            raise StorageError(f"the database failed: {type(error).__name__}: {error}") from error


_STORAGE_ERRORS, _OPENING_ERRORS = _StorageErrors(opening=False), _StorageErrors(opening=True)


def storage_errors(*, opening: bool = False) -> AbstractContextManager[None]:
    """Turn a database driver's error raised inside into a `StorageError`. An error
    saying the store cannot answer starts an outage (`outage.OUTAGE`), unless `opening`
    the store (its opener tells of that failure)."""
    return _OPENING_ERRORS if opening else _STORAGE_ERRORS
