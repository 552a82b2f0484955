"""Trails and past states, rebuilt from the log."""

from datetime import datetime
from typing import Any, TypeVar

from msgspec import Struct
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
    MAILBOX,
    OPERATION,
    OPERATOR,
    SESSION,
    Decider,
)
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op

from ..ledger.entries import decode_event
from ..store.application import Store, stream_id

__all__ = ["DECIDERS", "Audit", "TrailEntry"]

S = TypeVar("S")

DECIDERS: dict[str, Decider[Any, Any, Any]] = {
    d.category: d for d in (ACCOUNT, OPERATION, MAILBOX, DELIVERY, ENDPOINT, OPERATOR, SESSION)
}


def _notified(event: Any) -> int | None:
    """The id of the notification a mailbox event concerns (None: none)."""
    match event:
        case mbx.NotificationQueued(notification=n) | mbx.NotificationIssued(notification=n):
            return n.id
        case mbx.NotificationRetrieved(id=ident) | mbx.NotificationAcked(id=ident):
            return ident
    return None


class TrailEntry(Struct, frozen=True, kw_only=True):
    """One event of an audit trail: where it stands in the log, in which stream, when."""

    position: int
    stream: str
    version: int
    at: datetime
    kind: str
    event: Any


class Audit:
    """Trails over several streams (an operation, its account's mailbox, a delivery), each
    read in a query of its own while writers commit; so that it never shows part of a
    transaction, a trail first reads the log's last position and keeps only events at or
    before it (each commit is visible before the next takes positions)."""

    def __init__(self, store: Store):
        self.store = store

    def _entries(self, decider: Decider[Any, Any, Any], key: str, upto: int) -> list[TrailEntry]:
        rows = self.store.recorder.select_placed(stream_id(decider.category, key), upto)
        stream, entries = f"{decider.category}/{key}", []
        for position, version, topic, state in rows:
            event = decode_event(topic, state)
            entries.append(
                TrailEntry(
                    position=position,
                    stream=stream,
                    version=version,
                    at=event.at,
                    kind=topic,
                    event=event,
                )
            )
        return entries

    def _notification_entries(self, login: str, ident: int, upto: int) -> list[TrailEntry]:
        mailbox = [e for e in self._entries(MAILBOX, login, upto) if _notified(e.event) == ident]
        return mailbox + self._entries(DELIVERY, dlv.key(login, ident), upto)

    def _operation_entries(self, svtrid: str, upto: int) -> list[TrailEntry]:
        entries = self._entries(OPERATION, svtrid, upto)
        accepted = entries[0].event if entries else None
        if not isinstance(accepted, op.OperationAccepted):
            return entries
        for entry in self._entries(MAILBOX, accepted.login, upto):
            event = entry.event
            if (
                isinstance(event, mbx.NotificationQueued | mbx.NotificationIssued)
                and event.notification.outcome.svtrid == svtrid
            ):
                ident = event.notification.id
                return entries + self._notification_entries(accepted.login, ident, upto)
        return entries

    def by_svtrid(self, svtrid: str) -> list[TrailEntry]:
        """The events of one operation, then of its notification, in log order."""
        upto = self.store.max_position()
        return sorted(self._operation_entries(svtrid, upto), key=lambda e: e.position)

    def by_cltrid(self, cltrid: str) -> list[TrailEntry]:
        """The events of every operation a client sent under `cltrid`."""
        upto = self.store.max_position()
        entries = []
        for accepted in self.store.log(topics=["OperationAccepted"], stop=upto):
            if accepted.event.cltrid == cltrid:
                entries += self._operation_entries(accepted.event.svtrid, upto)
        return sorted(entries, key=lambda e: e.position)

    def by_endpoint(self, login: str, target: str) -> list[TrailEntry]:
        """The health events of one push endpoint of an account (failures, pauses,
        probes, resumes)."""
        return self._entries(ENDPOINT, ept.key(login, target), self.store.max_position())

    def by_notification(self, login: str, ident: int) -> list[TrailEntry]:
        """The events of one notification of an account (mailbox, delivery)."""
        entries = self._notification_entries(login, ident, self.store.max_position())
        return sorted(entries, key=lambda e: e.position)

    def state_at(self, decider: Decider[S, Any, Any], key: str, at: datetime) -> S:
        """The state of a stream as it was at `at`: its events up to then, folded."""
        state = decider.initial
        for envelope in self.store.stream(decider, key):
            if envelope.event.at > at:
                break
            state = decider.evolve(state, envelope.event)
        return state
