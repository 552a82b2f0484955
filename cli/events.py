"""How a stored event reads on screen: one line for people, and its fields for JSON with
the secrets the log keeps (password digests, signing secrets) masked."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import msgspec
from tidings.adapters.store.application import stream_id
from tidings.domain import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, SESSION
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain import session as ses

from .output import readable

__all__ = ["SECRET_FIELDS", "StreamLogins", "describe", "public"]

SECRET_FIELDS = frozenset({"password_sha1", "signing_secret"})


def public(value: Any) -> Any:
    """`value` as JSON-ready builtins, every secret field's value replaced by `***`."""
    plain = msgspec.to_builtins(value)
    stack = [plain]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key in SECRET_FIELDS:
                    item[key] = "***"
                else:
                    stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return plain


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms"


def describe(event: Any) -> str:
    """One line saying what happened; an event of a kind not named here shows its fields."""
    match event:
        case op.OperationAccepted():
            return f"accepted {event.command} (clTRID {event.cltrid!r}) for {event.login}"
        case op.StepRecorded(text=text):
            return f"step: {text}"
        case op.OperationEnded(code=code, result=result):
            return f"ended {code} {result}"
        case mbx.NotificationQueued(notification=n):
            return f"notification {n.id} queued for poll"
        case mbx.NotificationIssued(notification=n):
            return f"notification {n.id} issued, to be pushed"
        case mbx.NotificationRetrieved(id=ident, svtrid=svtrid):
            return f"notification {ident} retrieved by poll {svtrid}"
        case mbx.NotificationAcked(id=ident):
            return f"notification {ident} acked"
        case dlv.DeliveryScheduled(medium=medium, target=target):
            return f"{medium} delivery scheduled to {target}"
        case dlv.AttemptStarted(number=number, claimant=claimant):
            return f"attempt {number} started" + (f" by {claimant}" if claimant else "")
        case dlv.AttemptExpired(number=number):
            return f"attempt {number} abandoned: its lease ran out"
        case dlv.AttemptSucceeded(number=number, status=status, duration_ms=ms):
            return f"attempt {number} delivered: status {status}, {_ms(ms)}"
        case dlv.AttemptFailed(number=number, status=status, error=error, duration_ms=ms):
            again = event.next_attempt_at
            then = f"; next at {again.isoformat()}" if again else ""
            return f"attempt {number} failed: status {status}, {error}, {_ms(ms)}{then}"
        case dlv.DeliveryGaveUp(reason=reason):
            return f"gave up: {reason}"
        case dlv.DeliveryRequeued(route=route):
            return "requeued for redelivery" + (f" to {route.target}" if route else "")
        case dlv.DeliveryResent(attempts=attempts, scheduled=scheduled):
            return f"delivered (attempt {attempts}), and sent again to {scheduled.target}"
        case ept.EndpointFailed(consecutive=n):
            return f"endpoint failed {n} time(s) in a row"
        case ept.EndpointRecovered():
            return "endpoint recovered"
        case ept.EndpointPaused(next_probe_at=probe):
            return f"endpoint paused; probed at {probe.isoformat()}"
        case ept.ProbeClaimed(next_probe_at=probe):
            return f"endpoint probed; next probe at {probe.isoformat()}"
        case ept.EndpointResumed(by=by):
            return f"endpoint resumed by {by}"
        case acc.AccountOpened(login=login, channel=channel):
            return f"account {login} opened ({type(channel).__name__})"
    fields = public(event)
    fields = fields if isinstance(fields, dict) else {"value": fields}
    shown = ", ".join(f"{k}={readable(v)}" for k, v in fields.items() if k not in ("type", "at"))
    return f"{type(event).__name__}: {shown}" if shown else type(event).__name__


class StreamLogins:
    """The login each of the log's streams belongs to: a stream is stored under an opaque
    id (a UUID5 of its name), so an account's, its mailbox's and its holder's sessions'
    are computed from the logins known at the start, and the others learnt from the
    events that name a login as the log is read in order (an operation from its
    acceptance, a delivery and its endpoint from its scheduling), or `learn`t from the
    entries before the first one read."""

    # The kinds of event a stream's login is learnt from (the log's topics).
    NAMING = ("OperationAccepted", "DeliveryScheduled")

    def __init__(self, logins: Iterable[str]) -> None:
        self._logins: dict[UUID, str] = {}
        for login in logins:
            self._account(login)

    def learn(self, entries: Iterable[Any]) -> None:
        """Learn from log entries read before the first one shown (those of `NAMING`)."""
        for entry in entries:
            self.login(entry.stream, entry.event)

    def _account(self, login: str) -> None:
        for decider in (ACCOUNT, MAILBOX):
            self._logins[stream_id(decider.category, login)] = login
        self._logins[stream_id(SESSION.category, ses.holder("account", login))] = login

    def login(self, stream: UUID, event: Any) -> str | None:
        """The login of `stream`, which `event` (the next read) belongs to, if known."""
        match event:
            case acc.AccountOpened(login=login):
                self._account(login)
            case op.OperationAccepted(login=login):
                self._logins[stream] = login
            case dlv.DeliveryScheduled(login=login, notification_id=n, target=target):
                self._logins[stream_id(DELIVERY.category, dlv.key(login, n))] = login
                self._logins[stream_id(ENDPOINT.category, ept.key(login, target))] = login
            case (
                dlv.DeliveryRequeued(route=dlv.Route(target=target))
                | dlv.DeliveryResent(scheduled=dlv.DeliveryScheduled(target=target))
            ) if (owner := self._logins.get(stream)) is not None:
                # A requeue's new target: its endpoint's events belong to the same login.
                self._logins[stream_id(ENDPOINT.category, ept.key(owner, target))] = owner
        return self._logins.get(stream)
