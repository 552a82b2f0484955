"""The unit of work of one batch (`commit.GroupCommit`): the streams its commands read
and change, and the rows of what they decided. Its commands change the store's cached
states in place (`Store.states`): each command sees what the commands before it
decided and its own decisions; a command that fails has its changes put back (`drop`),
a command that succeeds leaves them (`absorb`); a batch that is not saved has all of
them put back (`put_back`), or the streams it touched forgotten after a lost race
(`touched`), so the cache never holds a state that was not saved.
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
# What a stream was before the running command changed it: its stored id, its state,
# and, for a mailbox, whether the batch had not changed it before.
_Undo = tuple[str, Loaded, bool]


class Work:
    """The states of streams as one batch's commands leave them and the rows they
    decided (`rows`; `snapshots` once all are decided), at `now` for the running
    command. `trust_new`: a stream a command says it creates is not looked up (were it
    stored, the save fails and the batch runs again)."""

    __slots__ = (
        "_mailboxes",
        "_mark",
        "_new",
        "_seen",
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
        self._states = store.states  # by stored id, changed in place
        # The streams looked at, by stored id: their state before the batch (None: not
        # cached before it, or taken as new).
        self._seen: dict[str, Loaded | None] = {}
        self._new: dict[str, Loaded] = {}  # taken as new, not looked up (not cached)
        self._undo: list[_Undo] = []  # the running command's, in its order
        self._mark = 0  # rows before the running command's
        # The mailboxes changed, by stored id: the time of the last event decided.
        self._mailboxes: dict[str, datetime] = {}
        self.rows: list[Row] = []  # the events decided, as stored

    def state(self, decider: Decider[S, C, E], key: str, *, new: bool = False) -> S:
        """The stream's state with what the batch decided on it. `new`: the caller has
        just made the key up."""
        state: S = self._loaded(decider, key, new).state
        return state

    def decide(
        self, decider: Decider[S, C, E], key: str, command: C, *, new: bool = False
    ) -> list[E] | Rejection:
        """Decide `command` on the stream; on success its events are kept for saving."""
        loaded = self._loaded(decider, key, new)
        outcome = decider.decide(loaded.state, command, self.now)
        # Events or a `Rejection`: tested as a list, since an `isinstance` against a struct
        # type that fails calls its metaclass's `__instancecheck__`, several times dearer.
        if isinstance(outcome, list) and outcome:
            self._keep(decider, key, loaded, outcome)
        return outcome

    def record(
        self, decider: Decider[S, C, E], key: str, events: list[E], *, new: bool = False
    ) -> None:
        """Keep events a process over several streams decided on the stream."""
        if events:
            self._keep(decider, key, self._loaded(decider, key, new), events)

    def _keep(
        self, decider: Decider[Any, Any, Any], key: str, loaded: Loaded, events: list[Any]
    ) -> None:
        sid, undo, rows = stream_hex(decider.category, key), self._undo, self.rows
        if not undo:
            self._mark = len(rows)
        mailbox = decider is MAILBOX  # judged for a snapshot before the save (`snapshots`)
        # Noted before anything changes: an interruption from here on is put back.
        undo.append((sid, loaded, mailbox and sid not in self._mailboxes))
        state, version, evolve = loaded.state, loaded.version, decider.evolve
        for event in events:
            version += 1
            rows.append(stored_row(sid, version, event))
            state = evolve(state, event)
        self._states[sid] = Loaded(state, version, loaded.snapshot_version)
        if mailbox:
            self._mailboxes[sid] = events[-1].at

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
        states, new = self._states, self._new
        for sid, loaded, first in reversed(undo):
            if loaded is new.get(sid):  # taken as new: not cached until changed
                states.pop(sid, None)
            else:
                states[sid] = loaded
            # A mailbox the batch changed before keeps this command's time for its
            # snapshot: a later time, of the same state.
            if first:
                self._mailboxes.pop(sid, None)
        undo.clear()

    def put_back(self) -> None:
        """The batch is not saved: the cache holds the states as they were before it."""
        states = self._states
        for sid, before in self._seen.items():
            if before is None:
                states.pop(sid, None)
            else:
                states[sid] = before

    def snapshots(self) -> list[Row]:
        """The snapshots due of the mailboxes the batch changed (once it is decided), as
        stored; the batch's states then hold them."""
        taken: list[Row] = []
        states, every = self._states, self.store.snapshot_every
        for sid, at in self._mailboxes.items():
            loaded = states[sid]
            if snapshot_due(loaded, loaded.version, every):
                taken.append(snapshot_row(sid, loaded.version, loaded.state, at))
                states[sid] = Loaded(loaded.state, loaded.version, loaded.version)
        return taken

    def touched(self) -> list[str]:
        return list(self._seen)

    def _loaded(self, decider: Decider[Any, Any, Any], key: str, new: bool) -> Loaded:
        """The stream's state as the batch leaves it, looked up at its first look (or
        again when it was taken as new and the caller did not make the key up)."""
        sid = stream_hex(decider.category, key)
        loaded = self._states.get(sid)
        if loaded is None or sid not in self._seen:
            loaded = self._look(decider, sid, key, new, loaded)
        return loaded

    def _look(
        self,
        decider: Decider[Any, Any, Any],
        sid: str,
        key: str,
        new: bool,
        cached: Loaded | None,
    ) -> Loaded:
        seen, store = self._seen, self.store
        if cached is not None:  # cached, and first looked at by this batch
            store.used(sid, cached)
            seen[sid] = cached
            return cached
        # Not cached: not looked up yet, or taken as new (only these are seen uncached).
        assumed = self._new.get(sid)
        if new and (assumed is not None or (self.trust_new and sid not in seen)):
            if assumed is None:
                seen[sid] = None
                assumed = self._new[sid] = Loaded(decider.initial, 0)
            return assumed
        loaded = store.load(decider, key)  # cached now, its version noted as read
        seen.setdefault(sid, loaded)  # taken as new before: None, not cached before
        if assumed is not None:
            del self._new[sid]
        return loaded
