"""The shape every stream's rules share, so stores and tests treat them alike."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from . import account, delivery, endpoint, mailbox, operation
from .rejection import Rejection

__all__ = ["ACCOUNT", "DELIVERY", "ENDPOINT", "MAILBOX", "OPERATION", "Decider", "fold"]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Decider(Generic[S, C, E]):
    """Chassaing's decider: `category` names the stream kind; `decide` and `evolve` are
    pure; folding `evolve` over a stream's events from `initial` gives its state.
    `evolve_all` applies a run of events at once, to the state `evolve` reaches one at a
    time: a replay's way through a long stream."""

    category: str
    initial: S
    decide: Callable[[S, C, datetime], list[E] | Rejection]
    evolve: Callable[[S, E], S]
    evolve_all: Callable[[S, Iterable[E]], S]


def fold(decider: Decider[S, C, E], events: Iterable[E], state: S | None = None) -> S:
    """The state after `events`, starting from `state` (default: the initial state)."""
    return decider.evolve_all(decider.initial if state is None else state, events)


def one_by_one(evolve: Callable[[S, E], S]) -> Callable[[S, Iterable[E]], S]:
    """`evolve_all` for a stream kind that has no faster way than `evolve` per event."""

    def evolve_all(state: S, events: Iterable[E]) -> S:
        for event in events:
            state = evolve(state, event)
        return state

    return evolve_all


ACCOUNT: Decider[account.AccountState, account.AccountCommand, account.AccountEvent] = Decider(
    "account", account.initial, account.decide, account.evolve, one_by_one(account.evolve)
)
OPERATION: Decider[
    operation.OperationState, operation.OperationCommand, operation.OperationEvent
] = Decider(
    "operation", operation.initial, operation.decide, operation.evolve, one_by_one(operation.evolve)
)
MAILBOX: Decider[mailbox.MailboxState, mailbox.MailboxCommand, mailbox.MailboxEvent] = Decider(
    "mailbox", mailbox.initial, mailbox.decide, mailbox.evolve, mailbox.evolve_all
)
DELIVERY: Decider[delivery.DeliveryState, delivery.DeliveryCommand, delivery.DeliveryEvent] = (
    Decider(
        "delivery", delivery.initial, delivery.decide, delivery.evolve, one_by_one(delivery.evolve)
    )
)
ENDPOINT: Decider[endpoint.EndpointState, endpoint.EndpointCommand, endpoint.EndpointEvent] = (
    Decider(
        "endpoint", endpoint.initial, endpoint.decide, endpoint.evolve, one_by_one(endpoint.evolve)
    )
)
