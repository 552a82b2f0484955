"""On PostgreSQL a batch's look at what other writers appended rides with its save
(`Store.refresh`, `ChainedPostgresRecorder.append_checked`): still, no command decides
on a state another writer moved before the command began, whether it writes or only
reads. The same bodies run on SQLite, where the look comes first."""

from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from tidings.adapters.errors import Rejected
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Store
from tidings.adapters.store.postgres_recorder import ChainedPostgresRecorder
from tidings.domain import Code

__all__: list[str] = []


def test_a_write_that_rests_on_a_state_another_writer_moved_is_decided_again(
    db_url: str,
) -> None:
    with Tidings(db_url) as a, Tidings(db_url) as b:
        a.open_account("tester", "pw")
        # given: B has the active account cached (its accept read it)
        assert b.accept("tester", "first", "op").code == Code.PENDING
        # when: A suspends it; then B accepts, which reads the account, writes elsewhere
        a.suspend("tester", "unpaid")
        with pytest.raises(Rejected) as refused:
            b.accept("tester", "second", "op")
        # then: B decided on the suspended account
        assert refused.value.code == Code.ACCOUNT_SUSPENDED


def test_a_read_sees_what_another_writer_committed_before_it(db_url: str) -> None:
    with Tidings(db_url) as a, Tidings(db_url) as b:
        a.open_account("tester", "pw")
        ended = a.end(a.accept("tester", "from-a", "op").svtrid, 1000, "OK")
        # given: B has the one-notification mailbox cached
        assert b.mailbox("tester").count == 1
        # when: A acks it
        assert a.ack("tester", ended.id).code == Code.ACKED
        # then: B's next read, which saves nothing, sees the queue empty
        assert b.mailbox("tester").count == 0
        assert b.poll("tester", svtrid="b-1").code == Code.QUEUE_EMPTY


def test_an_append_checked_against_a_moved_stream_writes_nothing(postgres_url: str) -> None:
    store = Store(postgres_url, tree=False)
    try:
        recorder = store.recorder
        assert isinstance(recorder, ChainedPostgresRecorder)
        moved, other = uuid4().hex, uuid4().hex
        first = recorder.append([(moved, 1, "Probe", b"\x80"), (moved, 2, "Probe", b"\x81")], [])
        # when: an append read `moved` at version 1; it is at 2
        with pytest.raises(IntegrityError):
            recorder.append_checked([(other, 1, "Probe", b"\x82")], [], [(moved, 1)], 0, 10)
        # then: nothing was written
        assert recorder.max_notification_id() == first[-1]
        # and: read at version 2 it appends, with the entries after the position given
        ids, news = recorder.append_checked(
            [(other, 1, "Probe", b"\x82")], [], [(moved, 2)], first[0], 10
        )
        assert ids == [first[-1] + 1]
        assert news == [(moved, 2, first[-1])]
        # and: no more than the limit asked for
        _, few = recorder.append_checked([(other, 2, "Probe", b"\x83")], [], [], 0, 2)
        assert few is not None and len(few) == 2
    finally:
        store.close()
