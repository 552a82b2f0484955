"""The unit of work of one batch (`commit.GroupCommit`): the streams its commands read
and change, and the rows of what they decided. Each command sees what the commands
before it decided and its own decisions; a command that fails has its decisions put
back (`drop`), a command that succeeds leaves them (`absorb`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from tidings.domain import MAILBOX, Decider, Rejection, decide_each

from ..errors import Rejected
from ..ledger.entries import Row, snapshot_row, stored_row
from .application import Loaded, Store, snapshot_due, stream_hex

__all__ = ["Work"]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")
Name = tuple[str, str]  # (category, key)
# What a stream was before the running command first changed it: its name, its loaded
# state, whether the batch had changed it and whether it was taken as new.
_Undo = tuple[Name, Loaded, bool, bool]


class Work:
    """The states of streams as one batch's commands leave them and the rows they
    decided (`rows`; `snapshots` once all are decided), at `now` for the running
    command. `trust_new`: a stream a command says it creates is not looked up (were it
    stored, the save fails and the batch runs again)."""

    __slots__ = (
        "_assumed",
        "_changed",
        "_mailboxes",
        "_mark",
        "_states",
        "_undo",
        "now",
        "rows",
        "store",
        "trust_new",
    )

    now: datetime

    def __init__(self, store: Store, *, trust_new: bool):
        self.store = store
        self.trust_new = trust_new
        self._states: dict[Name, Loaded] = {}  # as the batch's commands leave them
        self._assumed: set[Name] = set()  # taken as new, not looked up
        self._changed: dict[str, Name] = {}  # by stored id
        self._undo: list[_Undo] = []  # the running command's, in its order
        self._mark = 0  # rows before the running command's
        # The mailboxes changed, by stored id: the time of the last event decided.
        self._mailboxes: dict[str, datetime] = {}
        self.rows: list[Row] = []  # the events decided, as stored

    def state(self, decider: Decider[S, C, E], key: str, *, new: bool = False) -> S:
        """The stream's state with what the batch decided on it. `new`: the caller has
        just made the key up."""
        state: S = self._loaded(decider, (decider.category, key), new).state
        return state

    def decide(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E] | Rejection:
        """Decide `command` on the stream; on success its events are kept for saving."""
        name = (decider.category, key)
        loaded = self._loaded(decider, name, new)
        outcome = decider.decide(loaded.state, command, self.now)
        # Events or a `Rejection`: tested as a list, since an `isinstance` against a struct
        # type that fails calls its metaclass's `__instancecheck__`, several times dearer.
        if isinstance(outcome, list) and outcome:
            self._keep(decider, name, loaded, outcome)
        return outcome

    def record(
        self, decider: Decider[S, C, E], key: str, events: list[E], *, new: bool = False
    ) -> None:
        """Keep events a process over several streams decided on the stream."""
        if events:
            name = (decider.category, key)
            self._keep(decider, name, self._loaded(decider, name, new), events)

    def _keep(
        self, decider: Decider[Any, Any, Any], name: Name, loaded: Loaded, events: list[Any]
    ) -> None:
        sid, undo, rows = stream_hex(*name), self._undo, self.rows
        if not undo:
            self._mark = len(rows)
        undo.append((name, loaded, sid in self._changed, name in self._assumed))
        state, version, evolve = loaded.state, loaded.version, decider.evolve
        for event in events:
            version += 1
            rows.append(stored_row(sid, version, event))
            state = evolve(state, event)
        self._states[name] = Loaded(state, version, loaded.snapshot_version)
        if decider is MAILBOX:  # judged for a snapshot before the save (`snapshots`)
            self._mailboxes[sid] = events[-1].at
        self._changed[sid] = name
        if self._assumed:
            self._assumed.discard(name)  # saving its version 1 proves it new

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
        if self._undo:
            self._undo.clear()

    def drop(self) -> None:
        """The running command failed: what it decided is put back."""
        undo = self._undo
        if not undo:
            return
        del self.rows[self._mark :]
        for name, loaded, changed, assumed in reversed(undo):
            self._states[name] = loaded
            # A mailbox the batch changed before keeps this command's time for its
            # snapshot: a later time, of the same state.
            if not changed:
                sid = stream_hex(*name)
                del self._changed[sid]
                self._mailboxes.pop(sid, None)
            if assumed:
                self._assumed.add(name)
        undo.clear()

    def snapshots(self) -> list[Row]:
        """The snapshots due of the mailboxes the batch changed (once it is decided), as
        stored; the batch's states then hold them."""
        taken: list[Row] = []
        states, changed, every = self._states, self._changed, self.store.snapshot_every
        for sid, at in self._mailboxes.items():
            name = changed[sid]
            loaded = states[name]
            if snapshot_due(loaded, loaded.version, every):
                taken.append(snapshot_row(sid, loaded.version, loaded.state, at))
                states[name] = Loaded(loaded.state, loaded.version, loaded.version)
        return taken

    def touched(self) -> list[str]:
        return [stream_hex(*name) for name in self._states]

    def keep(self) -> None:
        """Once saved: the states the batch changed become the cached ones (the others
        are, except streams taken as new and never saved to: never checked)."""
        states = self._states
        self.store.remember_saved({sid: states[name] for sid, name in self._changed.items()})

    def _loaded(self, decider: Decider[Any, Any, Any], name: Name, new: bool) -> Loaded:
        """The stream's state as the batch leaves it, loaded at its first look (or again
        when it was taken as new and the caller did not make the key up)."""
        loaded = self._states.get(name)
        if loaded is None or (self._assumed and not new and name in self._assumed):
            loaded = self._load(decider, name, new)
        return loaded

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
