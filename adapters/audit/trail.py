"""Trails and past states, rebuilt from the log. A trail reads several streams (an
operation, its account's mailbox, a delivery), each in a query of its own, while writers
commit; so that it never shows part of a transaction, it first reads the log's last
position and keeps only events at or before it (each commit is visible before the next
takes positions, so every transaction lies wholly on one side of it).
"""

from collections.abc import Iterable
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
        def concerns(event: Any) -> bool:
            match event:
                case (
                    mbx.NotificationQueued(notification=n) | mbx.NotificationIssued(notification=n)
                ):
                    return n.id == ident
                case mbx.NotificationRetrieved(id=i) | mbx.NotificationAcked(id=i):
                    return i == ident
            return False

        mailbox = [e for e in self._entries(MAILBOX, login, upto) if concerns(e.event)]
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

    def _accepted(self, upto: int) -> Iterable[op.OperationAccepted]:
        recorder = self.store.recorder
        position: int | None = 1
        while position is not None:
            page = recorder.select_notifications(
                position, 1000, stop=upto, topics=["OperationAccepted"]
            )
            for item in page:
                yield self.store.decode(item).event
            position = page[-1].id + 1 if len(page) == 1000 else None

    def by_svtrid(self, svtrid: str) -> list[TrailEntry]:
        """The events of one operation, then of its notification, in log order, as the
        log stood at one position (see the module docstring), as every trail."""
        upto = self.store.max_position()
        return sorted(self._operation_entries(svtrid, upto), key=lambda e: e.position)

    def by_cltrid(self, cltrid: str) -> list[TrailEntry]:
        """The events of every operation a client sent under `cltrid`."""
        upto = self.store.max_position()
        entries = []
        for accepted in self._accepted(upto):
            if accepted.cltrid == cltrid:
                entries += self._operation_entries(accepted.svtrid, upto)
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
