"""A PostgreSQL connection that drops between two commands is opened again: the reads
and the insert retry on eventsourcing's `InterfaceError`/`OperationalError` as its own
recorder does, so the next command succeeds."""

from contextlib import ExitStack

import psycopg
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.domain import Code

__all__: list[str] = []


def _terminate_connections(store: Store, url: str) -> list[int]:
    """End, on the server, every connection the store's pool holds; their process ids."""
    datastore = store.recorder.datastore
    with ExitStack() as borrowed:
        size = datastore.pool.get_stats()["pool_size"]
        pids = [
            borrowed.enter_context(datastore.get_connection()).info.backend_pid for _ in range(size)
        ]
    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as admin:
        for pid in pids:
            # Waits (up to 10 s) until the server process is gone.
            ended = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
            assert ended == (True,), f"connection {pid} outlived pg_terminate_backend"
    return pids


def test_a_command_after_the_connections_dropped_succeeds(postgres_url: str) -> None:
    store = Store(postgres_url)
    with Tidings.over(store) as t:
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "before", "op").svtrid
        # given: the server ended every connection the store had open
        assert _terminate_connections(store, postgres_url)

        # when: the next commands run (the first ones on a dead connection)
        ended = t.end(svtrid, 1000, "OK")
        answer = t.poll("tester", svtrid="after")

        # then: they succeeded, and what they wrote is there for a fresh process
        assert ended.id == 1
        assert answer.code == Code.OK and answer.notification is not None
        assert answer.notification.outcome == ended.outcome
        with Tidings(postgres_url) as cold:
            stored = cold.mailbox("tester").notifications
            assert [(n.id, n.outcome, n.retrieved_by) for n in stored] == [
                (1, ended.outcome, "after")
            ]
