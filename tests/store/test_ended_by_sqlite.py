"""When SQLite ends a transaction itself (a trigger's `RAISE(ROLLBACK)`; a full disk may
too), the store's write lock lets the failure through as it is, not as a failed
`ROLLBACK` of a transaction or a savepoint that is gone, keeps nothing of it, and is
free again."""

import sqlite3

import pytest
from tidings.adapters.errors import StorageError
from tidings.adapters.library import Tidings
from tidings.domain import Code

from tests.store.opened import opened

# A lost race (a constraint SQLite answers) is decided again under the write lock, where
# the trigger then ends the transaction the lock holds.
_TRIGGER = (
    "CREATE TRIGGER refuse_queued BEFORE INSERT ON stored_events"
    " WHEN NEW.topic LIKE '%NotificationQueued%'"
    " BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END"
)


def _run(db: str, statement: str) -> None:
    connection = sqlite3.connect(db)
    try:
        connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_a_transaction_sqlite_ended_under_the_lock_fails_alone_and_frees_the_lock(
    sqlite_url: str,
) -> None:
    with opened(sqlite_url) as (tidings, _, _):
        tidings.open_account("tester", "123456")
        pending = tidings.accept("tester", "cl-1", "op")
        _run(sqlite_url, _TRIGGER)

        with pytest.raises(StorageError) as failed:
            tidings.end(pending.svtrid, 1000, "OK")

        # then: the failure is told in SQLite's words, not as a savepoint or a
        # transaction that is gone
        assert "refused by a trigger" in str(failed.value)
        assert tidings.poll("tester").code == Code.QUEUE_EMPTY  # nothing was kept
        _run(sqlite_url, "DROP TRIGGER refuse_queued")
        with Tidings(sqlite_url) as other:  # the lock and the writers' turn are free
            other.accept("tester", "cl-2", "op")
        tidings.end(pending.svtrid, 1000, "OK")
        assert tidings.poll("tester").code == Code.OK
