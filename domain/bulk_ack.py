"""An operator acks a poll queue up to an id: the notifications of an abandoned queue
(a client gone for good, a test account) leave it as if their client had acked them,
in order, each recorded as acked `by` the operator.

Not a client command: it is refused neither for a suspended account nor for one that no
longer polls (a queue a fallback filled). At most `most` notifications go per decision,
so one transaction stays bounded; the caller repeats until fewer come back.
"""

from datetime import datetime

from msgspec import Struct

from .codes import Code
from .mailbox import MailboxState, NotificationAcked, evolve
from .rejection import Rejection, reject

__all__ = ["OPERATOR", "AckUpTo", "acks_up_to"]

OPERATOR = "operator"


class AckUpTo(Struct, frozen=True, kw_only=True, tag="AckUpTo"):
    """Ack every queued notification with an id up to `up_to`, at most `most` of them."""

    up_to: int
    most: int = 1000


def acks_up_to(
    state: MailboxState, command: AckUpTo, now: datetime
) -> list[NotificationAcked] | Rejection:
    """The acks, oldest first ([] when no queued notification is that old). 2101 for an
    id or a `most` below 1."""
    if command.up_to < 1 or command.most < 1:
        return reject(Code.INVALID_PARAMETER, "ack up to an id of 1 or more, at most 1 or more")
    acks: list[NotificationAcked] = []
    while len(acks) < command.most and state.queue.size and state.queue.head.id <= command.up_to:
        ack = NotificationAcked(id=state.queue.head.id, at=now, by=OPERATOR)
        acks.append(ack)
        state = evolve(state, ack)
    return acks
