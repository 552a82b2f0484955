"""The audit side: trails and past states, rebuilt from the log."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from msgspec import Struct
from tidings.domain import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, OPERATION, Decider
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op

from ..store.application import Store, stream_id
from ..store.codec import topic_of

__all__ = ["DECIDERS", "Audit", "TrailEntry"]

S = TypeVar("S")

DECIDERS: dict[str, Decider[Any, Any, Any]] = {
    d.category: d for d in (ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT)
}


class TrailEntry(Struct, frozen=True, kw_only=True):
    """One event of an audit trail: where it stands in the log, in which stream, when."""

    position: int
    stream: str
    version: int
    at: datetime
    kind: str
    event: Any


class Audit:
    def __init__(self, store: Store):
        self.store = store

    def _entries(self, decider: Decider[Any, Any, Any], key: str) -> list[TrailEntry]:
        positions = self.store.recorder.select_positions(stream_id(decider.category, key))
        return [
            TrailEntry(
                position=positions[e.originator_version],
                stream=f"{decider.category}/{key}",
                version=e.originator_version,
                at=e.event.at,
                kind=topic_of(e.event),
                event=e.event,
            )
            for e in self.store.stream(decider, key)
        ]

    def _notification_entries(self, login: str, ident: int) -> list[TrailEntry]:
        def concerns(event: Any) -> bool:
            match event:
                case (
                    mbx.NotificationQueued(notification=n) | mbx.NotificationIssued(notification=n)
                ):
                    return n.id == ident
                case mbx.NotificationRetrieved(id=i) | mbx.NotificationAcked(id=i):
                    return i == ident
            return False

        mailbox = [e for e in self._entries(MAILBOX, login) if concerns(e.event)]
        return mailbox + self._entries(DELIVERY, f"{login}/{ident}")

    def _operation_entries(self, svtrid: str) -> list[TrailEntry]:
        entries = self._entries(OPERATION, svtrid)
        if not entries:
            return []
        accepted = entries[0].event
        if not isinstance(accepted, op.OperationAccepted):
            return entries
        for entry in self._entries(MAILBOX, accepted.login):
            event = entry.event
            if (
                isinstance(event, mbx.NotificationQueued | mbx.NotificationIssued)
                and event.notification.outcome.svtrid == svtrid
            ):
                return entries + self._notification_entries(accepted.login, event.notification.id)
        return entries

    def _accepted(self) -> Iterable[op.OperationAccepted]:
        recorder = self.store.recorder
        position: int | None = 1
        while position is not None:
            page = recorder.select_notifications(position, 1000, topics=["OperationAccepted"])
            for item in page:
                yield self.store.decode(item).event
            position = page[-1].id + 1 if len(page) == 1000 else None

    def by_svtrid(self, svtrid: str) -> list[TrailEntry]:
        """The events of one operation, then of its notification, in log order."""
        return sorted(self._operation_entries(svtrid), key=lambda e: e.position)

    def by_cltrid(self, cltrid: str) -> list[TrailEntry]:
        """The events of every operation a client sent under `cltrid`, in log order."""
        entries = []
        for accepted in self._accepted():
            if accepted.cltrid == cltrid:
                entries += self._operation_entries(accepted.svtrid)
        return sorted(entries, key=lambda e: e.position)

    def by_endpoint(self, login: str, target: str) -> list[TrailEntry]:
        """The health events of one push endpoint of an account (failures, pauses,
        probes, resumes), in log order."""
        return self._entries(ENDPOINT, ept.key(login, target))

    def by_notification(self, login: str, ident: int) -> list[TrailEntry]:
        """The events of one notification of an account (mailbox, delivery), in log order."""
        return sorted(self._notification_entries(login, ident), key=lambda e: e.position)

    def state_at(self, decider: Decider[S, Any, Any], key: str, at: datetime) -> S:
        """The state of a stream as it was at `at`: its events up to then, folded."""
        state = decider.initial
        for envelope in self.store.stream(decider, key):
            if envelope.event.at > at:
                break
            state = decider.evolve(state, envelope.event)
        return state
