"""Counts folded from the log, what `tidings stats` and `/metrics` show: `LogFigures`, a
projection its caller catches up when the figures are asked for (exact up to then, and
the whole database's, whichever process wrote the events)."""

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.projection import Projection
from tidings.domain import DELIVERY, MAILBOX
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx

from ..ledger.entries import Envelope, event_types
from ..store.application import stream_id

__all__ = [
    "ATTEMPT_BUCKETS",
    "RECENT",
    "TOPICS",
    "LogFigures",
    "RecentAttempt",
    "Tally",
    "TallyView",
]

# What `Tally.count` counts (it skips any other event).
TOPICS = (
    "AccountOpened",
    *(topic for topic in event_types(MAILBOX.category) if topic != "MailboxSnapshotted"),
    *event_types(DELIVERY.category),
    "EndpointPaused",
    "EndpointResumed",
)
# Upper bounds (seconds) of the attempt-duration histogram: a fast receiver to the 15 s
# total timeout of a push.
ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# How far back `recent` keeps attempts (stats' "last hour").
RECENT = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RecentAttempt:
    at: datetime
    succeeded: bool


@dataclass
class Tally:
    """What the log says so far.

    `queued`: unacked notifications per login; `deliveries`: current count per delivery
    status (a finished delivery is counted, not kept); `attempts`: per outcome
    (`succeeded`, `failed`); `attempt_buckets[i]`: attempts that took at most
    `ATTEMPT_BUCKETS[i]` seconds (not cumulative), the last slot the slower ones.
    """

    accounts: int = 0
    created: int = 0
    polled: int = 0
    acked: int = 0
    queued: dict[str, int] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)
    given_up: int = 0
    attempts: Counter[str] = field(default_factory=Counter)
    attempt_buckets: list[int] = field(default_factory=lambda: [0] * (len(ATTEMPT_BUCKETS) + 1))
    attempt_seconds: float = 0.0
    recent: deque[RecentAttempt] = field(default_factory=deque)
    _logins: dict[UUID, str] = field(default_factory=dict, repr=False)
    _last_id: dict[UUID, int] = field(default_factory=dict, repr=False)
    _status: dict[UUID, str] = field(default_factory=dict, repr=False)
    _paused: set[UUID] = field(default_factory=set, repr=False)

    @property
    def paused_endpoints(self) -> int:
        """Push endpoints paused now (after failures in a row), not yet resumed."""
        return len(self._paused)

    def count(self, stream: UUID, event: Any) -> None:
        """Count the log's next event, of `stream` (other topics are skipped)."""
        match event:
            case acc.AccountOpened(login=login):
                self.accounts += 1
                self._logins[stream_id(MAILBOX.category, login)] = login
                self.queued.setdefault(login, 0)
            case mbx.NotificationQueued(notification=n):
                self._issued(stream, n.id)  # a fallback queues an id issued before
                self._queue(stream, 1)
            case mbx.NotificationIssued(notification=n):
                self._issued(stream, n.id)
            case mbx.NotificationRetrieved():
                self.polled += 1
            case mbx.NotificationAcked():
                self.acked += 1
                self._queue(stream, -1)
            case dlv.DeliveryScheduled() | dlv.DeliveryRequeued() | dlv.AttemptExpired():
                self._move(stream, "scheduled")  # an expired attempt's claimant is gone
            case dlv.DeliveryResent():  # leaves "succeeded", which `_move` does not track
                self.deliveries["succeeded"] -= 1
                self._move(stream, "scheduled")
            case dlv.AttemptStarted():
                self._move(stream, "in_flight")
            case dlv.AttemptSucceeded() | dlv.AttemptFailed():
                succeeded = isinstance(event, dlv.AttemptSucceeded)
                self._attempt(event.duration_ms / 1000, event.at, succeeded=succeeded)
                self._move(stream, "succeeded" if succeeded else "scheduled")
            case dlv.DeliveryGaveUp():
                self.given_up += 1
                self._move(stream, "gave_up")
            case ept.EndpointPaused():
                self._paused.add(stream)
            case ept.EndpointResumed():
                self._paused.discard(stream)

    def _issued(self, mailbox: UUID, ident: int) -> None:
        """Count a notification created, once: an id smaller than the last is an issued
        one entering the queue on fallback."""
        if ident > self._last_id.get(mailbox, 0):
            self.created += 1
            self._last_id[mailbox] = ident

    def _queue(self, mailbox: UUID, change: int) -> None:
        login = self._logins.get(mailbox)
        if login is not None:
            self.queued[login] = self.queued.get(login, 0) + change

    def _move(self, delivery: UUID, status: str) -> None:
        before = self._status.pop(delivery, None)
        if before is not None:
            self.deliveries[before] -= 1
        self.deliveries[status] += 1
        if status != "succeeded":  # the one state a delivery never leaves
            self._status[delivery] = status

    def _attempt(self, seconds: float, at: datetime, *, succeeded: bool) -> None:
        self.attempts["succeeded" if succeeded else "failed"] += 1
        self.attempt_seconds += seconds
        slot = next((i for i, b in enumerate(ATTEMPT_BUCKETS) if seconds <= b), -1)
        self.attempt_buckets[slot] += 1
        self.recent.append(RecentAttempt(at, succeeded))
        while self.recent and self.recent[0].at < at - RECENT:
            self.recent.popleft()

    def recent_attempts(self, now: datetime) -> tuple[int, int]:
        """Attempts in the hour before `now`, and how many of them failed."""
        recent = [a for a in self.recent if a.at >= now - RECENT]
        return len(recent), sum(not a.succeeded for a in recent)

    def busiest(self, n: int) -> list[tuple[str, int]]:
        """The `n` logins with the most unacked notifications (more first, then by login)."""
        waiting = [(login, count) for login, count in self.queued.items() if count > 0]
        return sorted(waiting, key=lambda item: (-item[1], item[0]))[:n]


class TallyView(POPOTrackingRecorder):
    """A `Tally` with eventsourcing's tracking record of the position it counts up to."""

    def __init__(self) -> None:
        super().__init__()
        self.tally = Tally()


class LogFigures(Projection[TallyView]):
    """The log's figures, counted into a `TallyView`."""

    name = "tidings_log_figures"
    topics = TOPICS

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Count the event; eventsourcing's `IntegrityError`, and nothing counted, at a
        position counted already."""
        envelope: Envelope = domain_event
        self.view.insert_tracking(tracking)
        self.view.tally.count(envelope.originator_id, envelope.event)
