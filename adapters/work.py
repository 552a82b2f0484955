"""A unit of work: load streams, decide, keep the events, save them all at once.

A command that touches several streams (ending an operation queues its notification
and may schedule its delivery) decides on each stream inside one `Work`; `run` saves
every change in one transaction and, when another writer moved a stream meanwhile,
drops the stale states and decides again, a bounded number of times.
"""

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from eventsourcing.persistence import IntegrityError
from tidings.domain import Code, Decider, Rejection

from .store import Change, Store

__all__ = ["Conflict", "Rejected", "Work", "run"]

T = TypeVar("T")
S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")

MAX_ATTEMPTS = 40
# Backoff after a lost race: up to 1 ms, 2 ms, 4 ms ... capped at 200 ms, randomised so
# the writers that collided do not collide again in lockstep.
_BACKOFF_BASE, _BACKOFF_CAP = 0.001, 0.2


class Rejected(Exception):
    """The core refused a command. `code` and `text` say why (see `tidings.domain.Code`)."""

    def __init__(self, code: Code, text: str):
        super().__init__(f"{int(code)} {text}")
        self.code = code
        self.text = text

    @classmethod
    def of(cls, rejection: Rejection) -> "Rejected":
        return cls(rejection.code, rejection.text)


class Conflict(Rejected):
    """Other writers kept changing the same streams; nothing was written. Try again."""


class Work:
    """The streams one command reads and changes, with the events decided so far."""

    def __init__(self, store: Store, now: datetime):
        self.store = store
        self.now = now
        self._changes: dict[tuple[str, str], Change] = {}

    def state(self, decider: Decider[S, C, E], key: str) -> S:
        """The stream's state, including what this work already decided on it."""
        change = self._changes.get((decider.category, key))
        if change is not None:
            state: S = change.state
            return state
        loaded = self.store.load(decider, key)
        self._changes[(decider.category, key)] = Change(
            decider, key, loaded.version, (), loaded.state
        )
        result: S = loaded.state
        return result

    def decide(self, decider: Decider[S, C, E], key: str, command: C) -> list[E] | Rejection:
        """Decide `command` on the stream; on success its events are kept for saving."""
        state = self.state(decider, key)
        outcome = decider.decide(state, command, self.now)
        if isinstance(outcome, Rejection) or not outcome:
            return outcome
        for event in outcome:
            state = decider.evolve(state, event)
        before = self._changes[(decider.category, key)]
        self._changes[(decider.category, key)] = Change(
            decider, key, before.version, (*before.events, *outcome), state
        )
        return outcome

    def must(self, decider: Decider[S, C, E], key: str, command: C) -> list[E]:
        """Like `decide`, but a rejection aborts the whole work with `Rejected`."""
        outcome = self.decide(decider, key, command)
        if isinstance(outcome, Rejection):
            raise Rejected.of(outcome)
        return outcome

    @property
    def changes(self) -> list[Change]:
        return [c for c in self._changes.values() if c.events]


def run(store: Store, clock: Callable[[], datetime], body: Callable[[Work], T]) -> T:
    """Run `body` in a fresh `Work` and save its changes atomically, retrying conflicts.

    Raises whatever `body` raises (nothing is saved then), or `Conflict` after
    `MAX_ATTEMPTS` lost races.
    """
    touched: list[Change] = []
    for attempt in range(MAX_ATTEMPTS):
        work = Work(store, clock())
        result = body(work)
        touched = work.changes
        if not touched:
            return result
        try:
            store.save(touched)
        except IntegrityError:
            store.forget(touched)
            time.sleep(random.random() * min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
            continue
        return result
    raise Conflict(Code.COMMAND_FAILED, f"gave up after {MAX_ATTEMPTS} version conflicts")
