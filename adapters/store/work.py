"""A unit of work: the streams one command reads and changes, and what it decided.

A command that touches several streams (ending an operation queues its notification
and may schedule its delivery) decides on each stream inside one `Work`. Works run one
after another on a `View`, the states of one batch (`commit.GroupCommit`): each work
sees what the works before it in the batch decided, and the batch is saved in one
transaction.
"""

from datetime import datetime
from typing import Any, TypeVar

from tidings.domain import MAILBOX, Decider, Rejection
from tidings.domain.mailbox import snapshot

from ..errors import Rejected
from ..ledger.entries import Envelope
from .application import Change, Loaded, Store, stream_hex, stream_id

__all__ = ["View", "Work"]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


Name = tuple[str, str]  # (category, key)
_UNSEEN: Any = object()  # a stream this work has not looked at yet


class View:
    """The states of streams as one batch of works leaves them, before it is saved.

    `trust_new`: a work may say a stream is one it creates (a fresh svTRID) so that it
    is not looked up; were it stored after all, the save fails on its version and the
    batch runs again without that trust.
    """

    def __init__(self, store: Store, *, trust_new: bool):
        self.store = store
        self.trust_new = trust_new
        self._states: dict[Name, Loaded] = {}
        self._assumed: set[Name] = set()  # taken as new, not looked up
        self._changed: set[Name] = set()
        self.changes: list[Change] = []
        self.snapshots: list[Envelope] = []

    def get(self, decider: Decider[Any, Any, Any], key: str, *, new: bool) -> Loaded:
        name = (decider.category, key)
        loaded = self._states.get(name)
        if loaded is not None and not new and name in self._assumed:
            # Taken as new by a work that saved nothing to it: never checked, look it up.
            self._assumed.discard(name)
            loaded = None
        if loaded is None:
            loaded = self.store.cached(stream_hex(*name))
            if loaded is None:
                if new and self.trust_new:
                    loaded = Loaded(decider.initial, 0)
                    self._assumed.add(name)
                else:
                    loaded = self.store.load(decider, key)
            self._states[name] = loaded
        return loaded

    def absorb(self, work: "Work") -> None:
        """Keep a finished work's changes: later works see them, the save writes them."""
        for name, (decider, events) in work.decided.items():
            before = self._states[name]
            state = work.states[name]
            version = before.version + len(events)
            loaded = Loaded(state, version, before.snapshot_version)
            if decider is MAILBOX and self.store.snapshot_due(loaded, version):
                taken = snapshot(state, events[-1].at)
                self.snapshots.append(Envelope(stream_id(*name), version, taken))
                loaded = Loaded(state, version, version)
            self._states[name] = loaded
            self._assumed.discard(name)  # saving its version 1 proves it new
            self._changed.add(name)
            self.changes.append(Change(decider, name[1], before.version, events))

    def touched(self) -> list[str]:
        return [stream_hex(*name) for name in self._states]

    def keep(self) -> None:
        """Once saved: the states the batch changed become the cached ones. The others
        are cached already (a cache hit or a load put them there), except streams taken
        as new that nothing was saved to: they were never checked, so never cached."""
        remember, states = self.store.remember, self._states
        for name in self._changed:
            remember(stream_hex(*name), states[name])


class Work:
    """The streams one command reads and changes, with the events decided so far."""

    __slots__ = ("decided", "now", "states", "view")

    def __init__(self, view: View, now: datetime):
        self.view = view
        self.now = now
        self.states: dict[Name, Any] = {}  # as this work leaves them
        self.decided: dict[Name, tuple[Decider[Any, Any, Any], list[Any]]] = {}

    def state(self, decider: Decider[S, C, E], key: str, *, new: bool = False) -> S:
        """The stream's state, including what this work already decided on it. `new`:
        the caller has just made the key up (see `View`)."""
        name = (decider.category, key)
        # A lookup, not a caught KeyError: a command's first look at each of its streams
        # would raise one.
        state: S = self.states.get(name, _UNSEEN)
        if state is _UNSEEN:
            state = self.states[name] = self.view.get(decider, key, new=new).state
        return state

    def decide(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E] | Rejection:
        """Decide `command` on the stream; on success its events are kept for saving."""
        outcome = decider.decide(self.state(decider, key, new=new), command, self.now)
        if not isinstance(outcome, Rejection):
            self.record(decider, key, outcome, new=new)
        return outcome

    def record(
        self, decider: Decider[S, C, E], key: str, events: list[E], *, new: bool = False
    ) -> None:
        """Keep events decided on the stream (by a process over several streams) for
        saving. `new`: as for `state`."""
        if not events:
            return
        name = (decider.category, key)
        state = self.state(decider, key, new=new)
        for event in events:
            state = decider.evolve(state, event)
        self.states[name] = state
        if name in self.decided:
            self.decided[name][1].extend(events)
        else:
            self.decided[name] = (decider, list(events))

    def must(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E]:
        """Like `decide`, but a rejection aborts the whole work with `Rejected`."""
        outcome = self.decide(decider, key, command, new=new)
        if isinstance(outcome, Rejection):
            raise Rejected.of(outcome)
        return outcome
