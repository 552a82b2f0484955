"""The PostgreSQL append: sent in one round trip after where this process last saw the
log end, yet correct when another writer appended meanwhile; all or nothing when
something fails after the events' INSERT; the locked path survives lost connections."""

from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from tidings.adapters.audit.integrity import verify
from tidings.adapters.errors import StorageError
from tidings.adapters.store.application import Store
from tidings.adapters.store.chain import Openings

from tests.store.dropped import terminate_connections

__all__: list[str] = []


def _events(count: int) -> list[StoredEvent]:
    stream = uuid4()
    return [StoredEvent(stream, n, "Probe", b"\x80") for n in range(1, count + 1)]


def _schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def test_appends_interleaved_by_two_writers_keep_one_gapless_chained_log(
    postgres_url: str,
) -> None:
    first, second = Store(postgres_url), Store(postgres_url)
    try:
        # when: each appends after a log the other has moved on since it last looked
        placed = [
            first.recorder.write(_events(2), [], Openings()),
            second.recorder.write(_events(1), [], Openings()),
            first.recorder.write(_events(3), [], Openings()),
            second.recorder.write(_events(1), [], Openings()),
            second.recorder.write(_events(2), [], Openings()),
        ]
        # then: positions follow each other with no gap and the chain verifies
        assert placed == [[1, 2], [3], [4, 5, 6], [7], [8, 9]]
        assert verify(first) == (9, None)
    finally:
        first.close()
        second.close()


def test_a_failure_after_the_events_insert_leaves_nothing(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        store.recorder.write(_events(3), [], Openings())
    finally:
        store.close()
    # given: a row of the tree's frontier was deleted by hand, so growing the tree fails
    # once the events' statement is already queued in the transaction
    with psycopg.connect(postgres_url.split("?", 1)[0], autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{_schema(postgres_url)}".tidings_tree WHERE leaf = 1')
    store = Store(postgres_url, tree=False)  # opens without catching the tree up
    store.recorder.tree.enabled = True
    try:
        # when: an append is tried
        with pytest.raises(StorageError, match="the Merkle tree lacks rows"):
            store.recorder.write(_events(1), [], Openings())
        # then: nothing of it was committed
        assert store.max_position() == 3
        assert store.recorder.max_chained() == 3
    finally:
        store.close()


def test_a_locked_append_after_the_connections_dropped_succeeds(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        store.recorder.write(_events(1), [], Openings())
        # given: the server ended every connection the store had open
        assert terminate_connections(store, postgres_url)
        # when: the next append runs under the lock (a retry after a lost race)
        with store.locked():
            placed = store.recorder.write(_events(2), [], Openings())
        # then: it took its lock on a fresh connection and was committed
        assert placed == [2, 3]
        assert verify(store) == (3, None)
    finally:
        store.close()
