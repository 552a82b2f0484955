"""eventsourcing's own readers read tidings' log: every event the lean command path wrote
(its rows straight, chain, tree and snapshots beside them) comes back through the
library's notification log reader and its stock recorder, decoded by our mapper."""

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper
from eventsourcing.system import NotificationLogReader
from eventsourcing.utils import Environment, EnvType
from tidings.adapters.ledger.entries import Envelope, MsgspecMapper
from tidings.adapters.library import Tidings
from tidings.adapters.store.environment import LOG, environment


class _Stock(Application[UUID]):
    """eventsourcing's application with its own recorder (not ours), reading our log."""

    name = LOG

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return MsgspecMapper()


def test_eventsourcings_notification_log_reader_gets_every_event(db_url: str) -> None:
    # given: a log written by concurrent-shaped use: accounts, operations ended, polls,
    # acks, and mailbox snapshots taken along the way
    with Tidings(db_url, snapshot_every=2) as tidings:
        for login in ("alice", "bob"):
            tidings.open_account(login, "password-123")
        for n in range(6):
            for login in ("alice", "bob"):
                pending = tidings.accept(login, f"cl-{n}", "domain-renew")
                tidings.end(pending.svtrid, 1000, "Command completed successfully")
            polled = tidings.poll("alice")
            assert polled.notification is not None
            tidings.ack("alice", polled.notification.id)
        ours = [(e.position, e.stream, e.version, e.event) for e in tidings.log()]

    # when: eventsourcing's stock recorder and reader read it
    env = {
        key: value
        for key, value in environment(db_url, create=False).items()
        if key != "APPLICATION_RECORDER_TOPIC"
    }
    app = _Stock(env=env)
    try:
        read = []
        for notification in NotificationLogReader(app.notification_log).read(start=1):
            envelope: Envelope = app.mapper.to_domain_event(notification)
            read.append(
                (
                    notification.id,
                    envelope.originator_id,
                    envelope.originator_version,
                    envelope.event,
                )
            )
    finally:
        app.close()

    # then: every event, in order, at its position, as tidings reads it
    assert len(ours) > 40
    assert read == ours
