"""A trail as a timeline a person reads: each event a stage, a headline and the details
that matter. Events that carry a digest (account, session, operator) are described, not
dumped."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain import operator as opr

from ..library import TrailEntry

__all__ = ["AttemptRow", "Moment", "attempts_of", "moment", "timeline"]

# How much of an endpoint's answer a page shows.
_ANSWER = 200


@dataclass(frozen=True, slots=True)
class Moment:
    """One step of a timeline: `stage` names its kind (also its CSS class)."""

    at: datetime
    position: int
    stage: str
    headline: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttemptRow:
    number: int
    at: datetime
    outcome: str
    status: int | None
    duration_ms: float
    error: str
    answer: str


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms"


def _describe(event: Any) -> tuple[str, str, tuple[str, ...]]:
    match event:
        case op.OperationAccepted(command=command, cltrid=cltrid, login=login):
            return "accepted", f"{command} accepted (1001)", (f"clTRID {cltrid}", login)
        case op.StepRecorded(text=text):
            return "step", text, ()
        case op.OperationEnded(code=code, result=result):
            return "ended", f"ended {code} {result}", ()
        case mbx.NotificationQueued(notification=n):
            return "queued", f"notification {n.id} queued for poll", ()
        case mbx.NotificationIssued(notification=n):
            return "issued", f"notification {n.id} issued, to be pushed", ()
        case mbx.NotificationRetrieved(id=ident, svtrid=svtrid):
            return "polled", f"notification {ident} retrieved", (f"poll {svtrid}",)
        case mbx.NotificationAcked(id=ident):
            return "acked", f"notification {ident} acked", ()
        case dlv.DeliveryScheduled(medium=medium, target=target):
            return "scheduled", f"{medium} delivery scheduled", (target,)
        case dlv.AttemptStarted(number=number):
            return "attempt", f"attempt {number} started", ()
        case dlv.AttemptExpired(number=number):
            return "failed", f"attempt {number} abandoned: its lease ran out", ()
        case dlv.AttemptSucceeded(number=number, status=status, duration_ms=ms, answer=answer):
            return (
                "delivered",
                f"attempt {number} delivered",
                (f"status {status}", _ms(ms), answer[:_ANSWER]),
            )
        case dlv.AttemptFailed(number=number, status=status, error=error, duration_ms=ms):
            return (
                "failed",
                f"attempt {number} failed",
                (f"status {status}", error, _ms(ms), event.answer[:_ANSWER]),
            )
        case dlv.DeliveryGaveUp(reason=reason):
            return "gave-up", "gave up", (reason,)
        case dlv.DeliveryRequeued():
            return "requeued", "requeued for redelivery", ()
        case dlv.DeliveryResent():
            return "requeued", "delivered, and sent again", ()
        case ept.EndpointPaused():
            return "failed", "endpoint paused", ()
        case ept.EndpointResumed(by=by):
            return "requeued", f"endpoint resumed by {by}", ()
        case opr.OperatorActed(name=name, action=action, login=login, detail=detail):
            return "operator", f"operator {name}: {action}", (login, detail)
    return "other", type(event).__name__, ()


def moment(entry: TrailEntry) -> Moment:
    stage, headline, details = _describe(entry.event)
    return Moment(entry.at, entry.position, stage, headline, tuple(d for d in details if d))


def timeline(entries: list[TrailEntry]) -> list[Moment]:
    """The entries as moments, in log order."""
    return [moment(e) for e in sorted(entries, key=lambda e: e.position)]


def attempts_of(entries: list[TrailEntry]) -> list[AttemptRow]:
    """Every finished push attempt among a notification's trail entries, in order."""
    rows = []
    for entry in entries:
        match entry.event:
            case dlv.AttemptSucceeded() | dlv.AttemptFailed() as done:
                failed = isinstance(done, dlv.AttemptFailed)
                rows.append(AttemptRow(
                    number=done.number, at=done.at, outcome="failed" if failed else "delivered",
                    status=done.status, duration_ms=done.duration_ms,
                    error=done.error if isinstance(done, dlv.AttemptFailed) else "",
                    answer=done.answer[:_ANSWER],
                ))  # fmt: skip
    return rows
