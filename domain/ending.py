"""Ending an operation: the process that decides, on every stream it touches, what an
ending does (Emmett's processes, Equinox's `Decisions`).

Given the operation's state, its account's and its account's mailbox's, and the
`EndOperation` command, it decides in one step:

- the operation: `OperationEnded` (or the operation's rejection: 2303 never accepted,
  2304 already ended, 2100 no result text, 2101 a code that is not a final answer, or
  `data` that could not be rendered, see `document`);
- the mailbox: for a poll account, `NotificationQueued` under the mailbox's next id; for
  a push account (url or e-mail), `NotificationIssued`: the notification takes its id
  from the same counter but never enters the poll queue;
- the delivery, for a push account: `DeliveryScheduled` to the target the channel names
  for this outcome (the success or error URL, or the e-mail address), with the statuses
  that count as delivered (the URL channel's expected statuses; SMTP's 250).

An outcome a push channel does not send (an account that set only an error URL hears of
errors only, so a success) is recorded (ended, and issued its id) but neither queued nor
scheduled. An operation whose account was never opened polls (the initial channel). A
suspended account's operations still end (`access`): their notifications wait.
The caller loads the three streams, calls `end`, and saves what it decided, atomically.
"""

from datetime import datetime

from msgspec import Struct

from . import delivery as dlv
from . import mailbox as mbx
from . import operation as op
from .account import AccountState
from .codes import Code
from .rejection import Rejection, reject
from .values import Notification, PollChannel, UrlChannel, push_target

__all__ = ["SMTP_OK", "Ending", "end", "route"]

SMTP_OK = frozenset({250})


class Ending(Struct, frozen=True, gc=False, kw_only=True):
    """What an ending decided on each stream, and the notification it made. `login` is
    the account's (the mailbox's key; a delivery's key is `login/notification id`)."""

    login: str
    notification: Notification
    operation: list[op.OperationEvent]
    mailbox: list[mbx.MailboxEvent]
    delivery: list[dlv.DeliveryEvent]


def end(
    operation: op.OperationState,
    account: AccountState,
    mailbox: mbx.MailboxState,
    command: op.EndOperation,
    now: datetime,
) -> Ending | Rejection:
    """Decide an ending on the operation, the mailbox and the delivery (module docstring).

    Rejections: the operation's (2303, 2304, 2100, 2101); a delivery's settings the
    delivery refuses (2101)."""
    ended = op.decide(operation, command, now)
    # Events or the rejection, told apart as a list: an `isinstance` against a struct
    # type that fails calls its metaclass's `__instancecheck__`, several times dearer.
    if not isinstance(ended, list):
        return ended
    if operation.accepted is None:  # op.decide refused it already; said again for the types
        return reject(Code.OBJECT_NOT_FOUND, "operation does not exist")
    login = operation.accepted.login
    after = operation
    for event in ended:
        after = op.evolve(after, event)
    outcome = op.outcome(after)
    notification = Notification(id=mailbox.next_id, outcome=outcome)
    if isinstance(account.channel, PollChannel):  # `polls` is also a push account's fallback
        queued = mbx.NotificationQueued(notification=notification, at=now)
        return Ending(
            login=login, notification=notification, operation=ended, mailbox=[queued], delivery=[]
        )
    issued = mbx.NotificationIssued(notification=notification, at=now)
    scheduled: list[dlv.DeliveryEvent] = []
    where = route(account, notification)
    if where is not None:
        schedule = dlv.ScheduleDelivery(
            login=login,
            notification_id=notification.id,
            medium=where.medium,
            target=where.target,
            expected_status=where.expected_status,
            retry_policy=where.retry_policy,
            notification=notification,
            context=operation.accepted.context,
        )
        decided = dlv.decide(dlv.initial, schedule, now)
        if isinstance(decided, Rejection):
            return decided
        scheduled = decided
    return Ending(
        login=login,
        notification=notification,
        operation=ended,
        mailbox=[issued],
        delivery=scheduled,
    )


def route(account: AccountState, notification: Notification) -> dlv.Route | None:
    """Where a delivery of `notification` goes if it is sent now: by the account's
    channel as it is, to its target for the notification's outcome; None when the
    channel pushes it nowhere (a poll channel, or no URL for the outcome). The ending
    schedules by it, a requeue (`dispatch.requeue`) goes by it."""
    channel = account.channel
    target = push_target(channel, notification.outcome)
    if target is None or isinstance(channel, PollChannel):
        return None
    url = isinstance(channel, UrlChannel)
    return dlv.Route(
        medium="url" if url else "email",
        target=target,
        expected_status=channel.expected_status if isinstance(channel, UrlChannel) else SMTP_OK,
        retry_policy=account.retry_policy,
    )
