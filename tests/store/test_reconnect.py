"""A PostgreSQL connection that drops between two commands is opened again: the reads
and the insert retry on eventsourcing's `InterfaceError`/`OperationalError` as its own
recorder does, so the next command succeeds."""

from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.domain import Code

from tests.store.dropped import terminate_connections

__all__: list[str] = []


def test_a_command_after_the_connections_dropped_succeeds(postgres_url: str) -> None:
    store = Store(postgres_url)
    with Tidings.over(store) as t:
        t.open_account("tester", "pw")
        svtrid = t.accept("tester", "before", "op").svtrid
        # given: the server ended every connection the store had open
        assert terminate_connections(store, postgres_url)

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
