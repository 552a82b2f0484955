"""The shape every stream's rules share, so stores and tests treat them alike."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from . import account, delivery, endpoint, mailbox, operation, operator, session
from .codes import Code
from .rejection import Rejection, reject

__all__ = [
    "ACCOUNT",
    "DELIVERY",
    "ENDPOINT",
    "MAILBOX",
    "OPERATION",
    "OPERATOR",
    "SESSION",
    "Decider",
    "decide_each",
    "fold",
]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Decider(Generic[S, C, E]):
    """Chassaing's decider: `category` names the stream kind; `decide` and `evolve` are
    pure; folding `evolve` over a stream's events from `initial` gives its state.
    `evolve` is total: it applies any event and never raises. `check(state, event)` says
    why an event cannot follow a state (None when it may): what replay reports as a
    forged or misplaced event."""

    category: str
    initial: S
    decide: Callable[[S, C, datetime], list[E] | Rejection]
    evolve: Callable[[S, E], S]
    check: Callable[[S, E], str | None]


def fold(decider: Decider[S, C, E], events: Iterable[E], state: S | None = None) -> S:
    """The state after `events`, starting from `state` (default: the initial state)."""
    folded = decider.initial if state is None else state
    for event in events:
        folded = decider.evolve(folded, event)
    return folded


def decide_each(
    decider: Decider[S, C, E], states: Sequence[S], command: C, now: datetime, nothing: str
) -> list[list[E]] | Rejection:
    """One command on several streams of a kind at once (an operator resuming all of an
    account's endpoints, sending all of its given-up deliveries again): each stream's
    events, `[]` for one that refuses it (it has nothing to do); 2304 saying `nothing`
    when none of them has anything to do, as one stream alone refuses it, so an action
    that changes nothing is never told or recorded as done."""
    decided = [decider.decide(state, command, now) for state in states]
    events = [outcome if isinstance(outcome, list) else [] for outcome in decided]
    if not any(events):
        return reject(Code.STATUS_PROHIBITS, nothing)
    return events


ACCOUNT: Decider[account.AccountState, account.AccountCommand, account.AccountEvent] = Decider(
    "account", account.initial, account.decide, account.evolve, account.check
)
OPERATION: Decider[
    operation.OperationState, operation.OperationCommand, operation.OperationEvent
] = Decider("operation", operation.initial, operation.decide, operation.evolve, operation.check)
MAILBOX: Decider[mailbox.MailboxState, mailbox.MailboxCommand, mailbox.MailboxEvent] = Decider(
    "mailbox", mailbox.initial, mailbox.decide, mailbox.evolve, mailbox.check
)
DELIVERY: Decider[delivery.DeliveryState, delivery.DeliveryCommand, delivery.DeliveryEvent] = (
    Decider("delivery", delivery.initial, delivery.decide, delivery.evolve, delivery.check)
)
ENDPOINT: Decider[endpoint.EndpointState, endpoint.EndpointCommand, endpoint.EndpointEvent] = (
    Decider("endpoint", endpoint.initial, endpoint.decide, endpoint.evolve, endpoint.check)
)
OPERATOR: Decider[operator.OperatorState, operator.OperatorCommand, operator.OperatorEvent] = (
    Decider("operator", operator.initial, operator.decide, operator.evolve, operator.check)
)
SESSION: Decider[session.SessionState, session.SessionCommand, session.SessionEvent] = Decider(
    "session", session.initial, session.decide, session.evolve, session.check
)
