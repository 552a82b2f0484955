"""A long history written in bulk, and the replay fold over it.

One account (`HISTORY_LOGIN`) gets a mailbox history of at least the asked number of
events: each notification is accepted and ended as an operation (2 events) and queued,
retrieved and acked in the mailbox (3 events), `_BATCH` at a time, as a client that
polls now and then would leave it. The events are the domain's own, saved through the
store (`Store.save`, the path group commit takes), chained, grown into the Merkle tree
and snapshotted every `snapshot_every` mailbox versions (`Store.snapshot_due`), exactly
as the store writes them; only the transactions differ (100,000 events each instead of
one per command), so a million events take about a minute instead of an hour. A second
account (`EMPTY_LOGIN`) in the same file has no history: polling both compares a
mailbox's own history, not the size of the database around it.

A second database (`build_backlog`) holds one mailbox whose client never polls: its
notifications pile up, and replaying it shows what a fold costs per event when the queue
is long.
"""

import statistics
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tidings.adapters.audit.integrity import fold_log
from tidings.adapters.ledger.entries import Row, snapshot_row, stored_row
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Loaded, Store, stream_hex, stream_id
from tidings.adapters.store.sqlite_recorder import ChainedSQLiteRecorder
from tidings.domain import MAILBOX, OPERATION, Decider, Notification
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op

from .results import COMMAND, RESULT_TEXT, Result

__all__ = [
    "BACKLOG_LOGIN",
    "EMPTY_LOGIN",
    "HISTORY_LOGIN",
    "REPLAY_FOLDS",
    "History",
    "build_backlog",
    "build_history",
    "notifications_for",
    "replay",
]

HISTORY_LOGIN = "history"
EMPTY_LOGIN = "empty"
BACKLOG_LOGIN = "backlog"
PASSWORD = "bench-password"

_BATCH = 4  # notifications queued before the client polls and acks them
_FLUSH = 100_000  # events per transaction
_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_TICK = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class History:
    """A database holding a long history, ready for the replay and poll benches."""

    path: Path
    snapshot_every: int
    log_events: int  # entries in the whole log
    login: str  # the account whose mailbox has the history
    mailbox_events: int  # events in that mailbox
    seconds: float  # time it took to write


def sqlite(store: Store) -> ChainedSQLiteRecorder:
    """The SQLite recorder of a bench store (the bench's histories are SQLite files)."""
    recorder = store.recorder
    assert isinstance(recorder, ChainedSQLiteRecorder)
    return recorder


def notifications_for(history: int, snapshot_every: int) -> int:
    """How many notifications (3 mailbox events each) make at least `history` events and
    leave the mailbox, once the poll bench has queued and retrieved one more, at
    `snapshot_every - 1` events past its newest snapshot: the most a cold load folds,
    so the bench meets the worst case rather than a lucky one."""
    n = -(-history // 3)
    while (3 * n + 2) % snapshot_every != snapshot_every - 1:
        n += 1  # ends within snapshot_every steps: n = -1 (mod snapshot_every) fits
    return n


class _Bulk:
    """Changes to many streams, saved through the store `_FLUSH` events at a time, each
    lot in one transaction with the mailbox snapshots taken along it. Every operation
    it writes is ended in the same lot, so no operation is left open."""

    def __init__(self, store: Store):
        self._store = store
        self._rows: list[Row] = []
        self._snapshots: list[Row] = []

    def add(self, decider: Decider[Any, Any, Any], key: str, version: int, event: Any) -> None:
        """`event`, the stream's next after `version`."""
        self._rows.append(stored_row(stream_hex(decider.category, key), version + 1, event))
        if len(self._rows) >= _FLUSH:
            self.flush()

    def snapshot(self, row: Row) -> None:
        self._snapshots.append(row)

    def flush(self) -> None:
        self._store.save(self._rows, self._snapshots)
        self._rows, self._snapshots = [], []


class _Mailbox:
    """The history mailbox as the store keeps it: evolved event by event, snapshotted
    when the store would (`Store.snapshot_due`)."""

    def __init__(self, store: Store, bulk: _Bulk, login: str):
        self.store, self.bulk, self.login = store, bulk, login
        self.stream = stream_id(MAILBOX.category, login)
        self.state, self.version, self.snapshot_version = mbx.initial, 0, 0

    def add(self, event: mbx.MailboxEvent) -> None:
        self.bulk.add(MAILBOX, self.login, self.version, event)
        self.version += 1
        self.state = mbx.evolve(self.state, event)
        loaded = Loaded(self.state, self.version, self.snapshot_version)
        if self.store.snapshot_due(loaded, self.version):
            self.bulk.snapshot(snapshot_row(self.stream.hex, self.version, self.state, event.at))
            self.snapshot_version = self.version


def _write_notifications(
    bulk: _Bulk, mailbox: _Mailbox, login: str, count: int, *, polled: bool = True
) -> None:
    """`count` operations accepted and ended, their notifications queued and, when the
    client polls, retrieved and acked `_BATCH` at a time."""
    at = _BASE
    unix = int(_BASE.timestamp())
    for first in range(1, count + 1, _BATCH):
        batch = range(first, min(first + _BATCH, count + 1))
        accepted = {
            n: op.OperationAccepted(
                svtrid=f"{unix}.0.{n}",
                cltrid=f"bench-{n}",
                command=COMMAND,
                login=login,
                init_request=None,
                at=at,
            )
            for n in batch
        }
        for event in accepted.values():
            bulk.add(OPERATION, event.svtrid, 0, event)
        for n, event in accepted.items():
            ended = op.OperationEnded(
                code=1000, result=RESULT_TEXT, data=None, batch_state=None, at=at
            )
            bulk.add(OPERATION, event.svtrid, 1, ended)
            outcome = op.outcome(op.OperationState(accepted=event, ended=ended))
            notification = Notification(id=n, outcome=outcome)
            mailbox.add(mbx.NotificationQueued(notification=notification, at=at))
        for n in batch if polled else ():
            mailbox.add(mbx.NotificationRetrieved(id=n, svtrid=f"{unix}.1.{n}", at=at))
            mailbox.add(mbx.NotificationAcked(id=n, at=at))
        at += _TICK


def _build(
    path: Path, snapshot_every: int, logins: tuple[str, ...], count: int, *, polled: bool
) -> History:
    """A fresh database at `path` with the accounts `logins`, the first of them with
    `count` notifications (see `_write_notifications`)."""
    start = time.perf_counter()
    login = logins[0]
    with Tidings(str(path), snapshot_every=snapshot_every) as tidings:
        for each in logins:
            tidings.open_account(each, PASSWORD)
    with closing(Store(str(path), snapshot_every=snapshot_every)) as store:
        bulk = _Bulk(store)
        mailbox = _Mailbox(store, bulk, login)
        _write_notifications(bulk, mailbox, login, count, polled=polled)
        bulk.flush()
        log_events = store.max_position()
        # Fold the big transactions into the main file, as SQLite's auto-checkpoint does
        # along the way, so no bench pays for a WAL of hundreds of megabytes.
        sqlite(store).pragma("PRAGMA wal_checkpoint(TRUNCATE)")
    return History(
        path=path,
        snapshot_every=snapshot_every,
        log_events=log_events,
        login=login,
        mailbox_events=mailbox.version,
        seconds=time.perf_counter() - start,
    )


def build_history(path: Path, history: int, snapshot_every: int) -> History:
    """A fresh database at `path` with both bench accounts and a mailbox history of at
    least `history` events (see `notifications_for`)."""
    count = notifications_for(history, snapshot_every)
    return _build(path, snapshot_every, (HISTORY_LOGIN, EMPTY_LOGIN), count, polled=True)


def build_backlog(path: Path, notifications: int, snapshot_every: int) -> History:
    """A fresh database at `path` with one account whose client never polls: its
    `notifications` are all still queued."""
    return _build(path, snapshot_every, (BACKLOG_LOGIN,), notifications, polled=False)


# Folds of the whole log per replay result: a fold is one measurement of a few seconds,
# at the mercy of whatever else the machine does then; the median of three is steadier.
REPLAY_FOLDS = 3


def replay(history: History, folds: int = REPLAY_FOLDS, *, backlog: int | None = None) -> Result:
    """Fold every stream from the log through `tidings replay`'s own fold (`fold_log`),
    `folds` times: events folded per second in the median fold. The comparison with
    the live state that `tidings replay` does afterwards is not part of this figure.
    `backlog`: the history is `build_backlog`'s, with this many notifications queued."""
    store = Store(str(history.path), snapshot_every=history.snapshot_every)
    with (
        closing(store),
        Tidings(str(history.path), snapshot_every=history.snapshot_every) as tidings,
    ):
        timed = []
        for _ in range(folds):
            start = time.perf_counter()
            events, folded = fold_log(store)
            timed.append(time.perf_counter() - start)
            # A fold that ends in the wrong state measures nothing: check the longest stream.
            rebuilt = folded.state(MAILBOX.category, stream_id(MAILBOX.category, history.login).hex)
            if tuple(rebuilt.queue) != tidings.mailbox(history.login).notifications:
                raise RuntimeError("replayed mailbox differs from the live one")
            del folded
    seconds = statistics.median(timed)
    return Result(
        scenario="replay" if backlog is None else "replay-backlog",
        subject="tidings",
        durability="equal",
        ops_per_s=events / seconds,
        ops=events,
        seconds=seconds,
        backlog=backlog,
    )
