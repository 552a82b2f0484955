"""The unit of work of one batch (`commit.GroupCommit`): the streams its commands read
and change, and what they decided. Each command sees what the commands before it
decided; its own decisions sit in an overlay until it ends (`absorb` or `drop`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tidings.domain import MAILBOX, Decider, Rejection, decide_each

from ..errors import Rejected
from ..ledger.entries import Row, snapshot_row
from .application import Change, Loaded, Store, snapshot_due, stream_hex

__all__ = ["Work"]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")
Name = tuple[str, str]  # (category, key)
# What the running command decided on one stream: its decider, events, the state after.
_Decided = tuple[Decider[Any, Any, Any], list[Any], Any]


class Work:
    """The states of streams as one batch's commands leave them, and the decisions of
    the command running on it (at `now`). `trust_new`: a stream a command says it
    creates is not looked up (were it stored, the save fails and the batch runs again)."""

    __slots__ = (
        "_assumed",
        "_changed",
        "_decided",
        "_states",
        "changes",
        "now",
        "snapshots",
        "store",
        "trust_new",
    )

    now: datetime

    def __init__(self, store: Store, *, trust_new: bool):
        self.store = store
        self.trust_new = trust_new
        self._states: dict[Name, Loaded] = {}  # as the commands absorbed so far leave them
        self._assumed: set[Name] = set()  # taken as new, not looked up
        self._changed: set[Name] = set()
        self._decided: dict[Name, _Decided] = {}  # the running command's, in its order
        self.changes: list[Change] = []
        self.snapshots: list[Row] = []  # the mailbox snapshots taken, as stored

    def state(self, decider: Decider[S, C, E], key: str, *, new: bool = False) -> S:
        """The stream's state with what the running command decided on it. `new`: the
        caller has just made the key up."""
        name = (decider.category, key)
        if self._decided:
            decided = self._decided.get(name)
            if decided is not None:
                mine: S = decided[2]
                return mine
        loaded = self._states.get(name)
        if loaded is None or (self._assumed and not new and name in self._assumed):
            loaded = self._load(decider, name, new)
        state: S = loaded.state
        return state

    def decide(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E] | Rejection:
        """Decide `command` on the stream; on success its events are kept for saving."""
        state = self.state(decider, key, new=new)
        outcome = decider.decide(state, command, self.now)
        # Events or a `Rejection`: tested as a list, since an `isinstance` against a struct
        # type that fails calls its metaclass's `__instancecheck__`, several times dearer.
        if isinstance(outcome, list) and outcome:
            self._keep(decider, (decider.category, key), state, outcome)
        return outcome

    def record(
        self, decider: Decider[S, C, E], key: str, events: list[E], *, new: bool = False
    ) -> None:
        """Keep events a process over several streams decided on the stream."""
        if events:
            state = self.state(decider, key, new=new)
            self._keep(decider, (decider.category, key), state, events)

    def _keep(self, decider: Decider[S, C, E], name: Name, state: S, events: list[E]) -> None:
        decided = self._decided.get(name)
        # Never changed in place: a stream decided on twice gets a new list.
        kept = events if decided is None else [*decided[1], *events]
        evolve = decider.evolve
        for event in events:
            state = evolve(state, event)
        self._decided[name] = (decider, kept, state)

    def must(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E]:
        """Like `decide`, but a rejection aborts the whole command with `Rejected`."""
        outcome = self.decide(decider, key, command, new=new)
        if isinstance(outcome, Rejection):
            raise Rejected.of(outcome)
        return outcome

    def must_each(
        self, decider: Decider[S, C, E], keys: Sequence[str], command: C, nothing: str
    ) -> list[bool]:
        """`command` on each stream of `keys` (the domain's `decide_each`): which of them
        it changed; when none, it aborts the whole command with `Rejected` (2304)."""
        states = [self.state(decider, key) for key in keys]
        decided = decide_each(decider, states, command, self.now, nothing)
        if isinstance(decided, Rejection):
            raise Rejected.of(decided)
        for key, events in zip(keys, decided, strict=True):
            self.record(decider, key, events)
        return [bool(events) for events in decided]

    def absorb(self) -> None:
        """The running command succeeded: later commands see its changes."""
        if not self._decided:
            return
        states, store = self._states, self.store
        for name, (decider, events, state) in self._decided.items():
            before = states[name]
            version = before.version + len(events)
            loaded = Loaded(state, version, before.snapshot_version)
            if decider is MAILBOX and snapshot_due(loaded, version, store.snapshot_every):
                taken = snapshot_row(stream_hex(*name), version, state, events[-1].at)
                self.snapshots.append(taken)
                loaded = Loaded(state, version, version)
            states[name] = loaded
            self._assumed.discard(name)  # saving its version 1 proves it new
            self._changed.add(name)
            self.changes.append(Change(decider, name[1], before.version, events))
        self._decided.clear()

    def drop(self) -> None:
        self._decided.clear()

    def touched(self) -> list[str]:
        return [stream_hex(*name) for name in self._states]

    def keep(self) -> None:
        """Once saved: the states the batch changed become the cached ones (the others
        are, except streams taken as new and never saved to: never checked)."""
        remember, states = self.store.remember, self._states
        for name in self._changed:
            remember(stream_hex(*name), states[name])

    def _load(self, decider: Decider[Any, Any, Any], name: Name, new: bool) -> Loaded:
        if self._assumed:
            self._assumed.discard(name)
        loaded = self.store.cached(stream_hex(*name))
        if loaded is None:
            if new and self.trust_new:
                loaded = Loaded(decider.initial, 0)
                self._assumed.add(name)
            else:
                loaded = self.store.load(decider, name[1])
        self._states[name] = loaded
        return loaded
