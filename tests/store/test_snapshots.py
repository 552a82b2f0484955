"""Snapshots: loading a mailbox costs its backlog, not its history."""

from datetime import UTC, datetime

from tidings.adapters.library import Tidings
from tidings.domain import MAILBOX, Code

from tests.store.opened import opened


def test_a_cold_poll_reads_at_most_one_snapshot_interval(db_url: str) -> None:
    every, cycles = 40, 150  # 3 mailbox events per cycle: 450 events of history
    with opened(db_url, snapshot_every=every) as (t, store, _):
        t.open_account("tester", "pw")
        for i in range(cycles):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
            answer = t.poll("tester", svtrid=f"p{i}")
            assert answer.notification is not None
            t.ack("tester", str(answer.notification.id))
        t.end(t.accept("tester", "last", "op").svtrid, 1000, "OK")
        history = len(store.stream(MAILBOX, "tester"))
    assert history == 3 * cycles + 1

    with Tidings(db_url, snapshot_every=every) as cold:  # a fresh process: empty cache
        answer = cold.poll("tester", svtrid="cold")
        assert answer.code == Code.OK and answer.count == 1
        assert answer.notification is not None
        assert answer.notification.outcome.cltrid == "last"
        assert 0 < cold.stats().events_read <= every
        now = datetime.now(UTC)
        assert tuple(cold.state_at(MAILBOX, "tester", now).queue) == (
            cold.mailbox("tester").notifications
        )
