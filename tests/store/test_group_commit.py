"""Group commit and the trusted state cache, seen from outside.

Callers that arrive together are saved in one transaction, yet each hears only of its
own command; states cached between batches stay fresh when another instance writes; a
svTRID trusted to be new is drawn again when it was not; mailbox snapshots are spaced by
the backlog; a database error reaches the whole batch and writes nothing.

To make a batch deterministic, a `HeldLeader` leads a batch of its own, a body that only
waits until it is released, once the callers under test have queued up behind it: they are
then all run by the next leader, in the order they queued, and saved together.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from typing import Generic, Self, TypeVar, cast

import eventsourcing.persistence
import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from tidings.adapters.audit.integrity import verify
from tidings.adapters.errors import StorageError
from tidings.adapters.ledger.entries import Row
from tidings.adapters.library import Rejected, Tidings
from tidings.adapters.store import commit
from tidings.adapters.store.application import Store, stream_id
from tidings.adapters.store.commit import GroupCommit
from tidings.adapters.store.environment import is_postgres
from tidings.adapters.store.work import Work
from tidings.domain import ACCOUNT, MAILBOX, OPERATION, Code, Notification
from tidings.domain.ending import Ending, end
from tidings.domain.mailbox import NotificationQueued
from tidings.domain.operation import EndOperation

from tests.store.opened import opened, utcnow

T = TypeVar("T")

DEADLINE = 60.0  # seconds: only reached when something is stuck


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Return once `predicate` holds; fail after `DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        time.sleep(0.001)


class Caller(threading.Thread, Generic[T]):
    """A thread making one call; keeps what it returned or raised."""

    def __init__(self, call: Callable[[], T]) -> None:
        super().__init__(daemon=True)
        self._call = call
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as error:  # handed to the test
            self.error = error

    def value(self) -> T:
        """What the call returned; re-raises what it raised."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def queued(committer: GroupCommit, callers: int) -> Callable[[], bool]:
    """Whether at least `callers` callers wait in the queue (the batch running excluded)."""
    return lambda: committer.waiting >= callers


def finish(*callers: threading.Thread) -> None:
    for caller in callers:
        caller.join(DEADLINE)
        assert not caller.is_alive(), f"{caller} is stuck"


class HeldLeader:
    """A caller that leads a batch of its own, a body that waits until `release`: the
    callers that queue meanwhile are then run together by the next leader."""

    def __init__(self, committer: GroupCommit) -> None:
        running, self._released = threading.Event(), threading.Event()

        def hold(work: Work) -> None:
            running.set()
            assert self._released.wait(DEADLINE), "the held leader was never released"

        self.caller = Caller(partial(committer.execute, utcnow, hold))
        self.caller.start()
        assert running.wait(DEADLINE), "the held leader never ran"
        assert committer.waiting == 0  # its batch was taken: nobody else in it

    def release(self) -> None:
        self._released.set()
        finish(self.caller)
        assert self.caller.error is None, self.caller.error


def queue_up(committer: GroupCommit, calls: Sequence[Callable[[], T]]) -> list[Caller[T]]:
    """Start one caller per call, each once the one before it is queued (behind a held
    leader): they queue, and so run, in the order given."""
    callers = []
    for n, call in enumerate(calls, start=1):
        caller = Caller(call)
        caller.start()
        wait_until(queued(committer, n), f"caller {n} queues")
        callers.append(caller)
    return callers


# --- 1. grouping --------------------------------------------------------------------


def test_concurrent_callers_share_transactions(db_url: str) -> None:
    threads, rounds = 8, 25
    logins = [f"account{i}" for i in range(threads)]
    with opened(db_url) as (t, _, committer):
        for login in logins:
            t.open_account(login, "pw")
        transactions, commands = committer.transactions, committer.commands

        def client(login: str) -> list[Notification]:
            ended = []
            for i in range(rounds):
                svtrid = t.accept(login, f"{login}-{i}", "op").svtrid
                ended.append(t.end(svtrid, 1000, "OK"))
            return ended

        # when: every client's first command arrives while a leader is busy
        held = HeldLeader(committer)
        clients = [Caller(partial(client, login)) for login in logins]
        for caller in clients:
            caller.start()
        wait_until(queued(committer, threads), "every client queues")
        held.release()
        finish(*clients)

        # then: each client's notifications, in the order it ended them, ids 1..25
        for login, caller in zip(logins, clients, strict=True):
            ended = caller.value()
            assert [n.id for n in ended] == list(range(1, rounds + 1))
            assert [n.outcome.cltrid for n in ended] == [f"{login}-{i}" for i in range(rounds)]
        # and: saved exactly once each, as a fresh process reads them
        with opened(db_url) as (cold, cold_store, _):
            for login, caller in zip(logins, clients, strict=True):
                events = [e.event for e in cold_store.stream(MAILBOX, login)]
                assert all(isinstance(e, NotificationQueued) for e in events)
                stored = [(e.notification.id, e.notification.outcome.cltrid) for e in events]
                assert stored == [(n.id, n.outcome.cltrid) for n in caller.value()]
                assert tuple(cold.mailbox(login).notifications) == tuple(caller.value())
        # and: the clients' first commands, held up together, were saved in one transaction
        saved = committer.commands - commands
        assert saved == threads * rounds * 2
        assert committer.transactions - transactions <= saved - (threads - 1)


# --- 2. isolation inside a batch ----------------------------------------------------


def test_a_rejected_or_crashing_command_leaves_the_rest_of_its_batch_saved(db_url: str) -> None:
    with opened(db_url) as (t, store, committer):
        t.open_account("tester", "pw")
        first, crashed, second = (t.accept("tester", c, "op").svtrid for c in ("1", "x", "2"))
        before, transactions = store.max_position(), committer.transactions

        def crash(work: Work) -> None:  # ends the operation in its mailbox, then fails
            ended = end(
                work.state(OPERATION, crashed),
                work.state(ACCOUNT, "tester"),
                work.state(MAILBOX, "tester"),
                EndOperation(code=1000, result="OK"),
                work.now,
            )
            assert isinstance(ended, Ending)
            work.record(OPERATION, crashed, ended.operation)
            work.record(MAILBOX, "tester", ended.mailbox)
            raise RuntimeError("a bug in a command body")

        # when: four commands run in one batch, the middle two failing
        held = HeldLeader(committer)
        ends = queue_up(
            committer,
            [
                partial(t.end, first, 1000, "OK"),
                partial(t.end, "no-such-svtrid", 1000, "OK"),
                partial(committer.execute, utcnow, crash),
                partial(t.end, second, 1000, "OK"),
            ],
        )
        held.release()
        finish(*ends)
        ended_first, unknown, crashing, ended_second = ends

        # then: each failing caller got its own exception
        assert isinstance(unknown.error, Rejected)
        assert unknown.error.code == Code.OBJECT_NOT_FOUND
        assert type(crashing.error) is RuntimeError
        assert str(crashing.error) == "a bug in a command body"
        # and: the two real ends were saved, in one transaction, one after the other
        assert (ended_first.value().id, ended_second.value().id) == (1, 2)
        assert committer.transactions == transactions + 1
        written = list(t.log(before + 1))  # 2 x (operation ended, notification queued)
        assert [entry.position for entry in written] == list(range(before + 1, before + 5))
        assert {entry.stream for entry in written} == {
            stream_id(OPERATION.category, first),
            stream_id(OPERATION.category, second),
            stream_id(MAILBOX.category, "tester"),
        }
        # and: nothing of the crashed body, in the cache or in the database
        with Tidings(db_url) as cold:
            for instance in (t, cold):
                operation = instance.operation(crashed)
                assert operation is not None and operation.ended is None
                queue = instance.mailbox("tester").notifications
                assert [(n.id, n.outcome.cltrid) for n in queue] == [(1, "1"), (2, "2")]


# --- 3. freshness across instances ---------------------------------------------------


def test_an_instance_sees_what_another_wrote_to_a_state_it_cached(db_url: str) -> None:
    with Tidings(db_url) as a, Tidings(db_url) as b:
        a.open_account("tester", "pw")
        # given: B has the empty mailbox cached
        assert b.poll("tester", svtrid="b-1").code == Code.QUEUE_EMPTY

        # when: A queues a notification
        theirs = a.end(a.accept("tester", "from-a", "op").svtrid, 1000, "OK")
        # then: B's next poll returns it
        answer = b.poll("tester", svtrid="b-2")
        assert answer.code == Code.OK and answer.count == 1
        assert answer.notification is not None
        assert (answer.notification.id, answer.notification.outcome.cltrid) == (1, "from-a")

        # when: B acks it (A has the one-notification mailbox cached)
        assert b.ack("tester", str(theirs.id)).code == Code.ACKED
        # then: A sees the queue empty
        assert a.poll("tester", svtrid="a-1").code == Code.QUEUE_EMPTY
        # and: knows 1 was acked last, so a re-ack of it answers 1002 again
        assert a.ack("tester", theirs.id).code == Code.ACKED


def test_a_write_between_cache_fill_and_command_is_not_lost(db_url: str) -> None:
    with Tidings(db_url) as a, Tidings(db_url) as b:
        a.open_account("tester", "pw")
        mine = b.accept("tester", "from-b", "op").svtrid
        # given: B has the empty mailbox cached
        assert b.poll("tester", svtrid="b-1").code == Code.QUEUE_EMPTY

        # when: A queues a notification, then B ends its operation
        theirs = a.end(a.accept("tester", "from-a", "op").svtrid, 1000, "OK")
        ours = b.end(mine, 1000, "OK")

        # then: both are queued, B's after A's
        assert (theirs.id, ours.id) == (1, 2)
        for instance in (a, b):
            queue = instance.mailbox("tester").notifications
            assert [(n.id, n.outcome.cltrid) for n in queue] == [(1, "from-a"), (2, "from-b")]


def test_a_write_after_the_refresh_is_caught_by_the_save(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Tidings(db_url) as a, opened(db_url) as (b, b_store, b_committer):
        a.open_account("tester", "pw")
        mine = b.accept("tester", "from-b", "op").svtrid
        assert b.poll("tester", svtrid="b-1").code == Code.QUEUE_EMPTY  # cached: empty
        transactions = b_committer.transactions
        # given: A writes once B has refreshed its cache, before B decides and saves
        refresh = b_store.refresh
        raced: list[Notification] = []

        def refresh_then_race() -> None:
            refresh()
            if not raced:
                raced.append(a.end(a.accept("tester", "from-a", "op").svtrid, 1000, "OK"))

        monkeypatch.setattr(b_store, "refresh", refresh_then_race)

        # when
        ours = b.end(mine, 1000, "OK")

        # then: B decided on the stale mailbox, lost the save, decided again on fresh state
        assert (raced[0].id, ours.id) == (1, 2)
        assert b_committer.transactions == transactions + 1
        with Tidings(db_url) as cold:
            queue = cold.mailbox("tester").notifications
            assert [(n.id, n.outcome.cltrid) for n in queue] == [(1, "from-a"), (2, "from-b")]


def test_a_batch_decided_while_contended_is_decided_again_once_under_the_lock(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Tidings(db_url) as a, opened(db_url) as (b, b_store, b_committer):
        a.open_account("tester", "pw")
        mine = b.accept("tester", "from-b", "op").svtrid
        assert b.poll("tester", svtrid="b-1").code == Code.QUEUE_EMPTY  # cached: empty
        # given: B lost a race, so its next batches go the locked way for a while
        monkeypatch.setattr(commit, "CONTENDED_FOR", DEADLINE)
        refresh, refreshes, raced = b_store.refresh, [0], []

        def refresh_then_race() -> None:
            refresh()
            refreshes[0] += 1
            if not raced:  # B's end, below: it loses the race
                raced.append(a.end(a.accept("tester", "from-a", "op").svtrid, 1000, "OK"))

        monkeypatch.setattr(b_store, "refresh", refresh_then_race)
        ours = b.end(mine, 1000, "OK")
        assert (raced[0].id, ours.id) == (1, 2)
        assert refreshes[0] == 2  # lost, then saved under the lock
        transactions, refreshes[0] = b_committer.transactions, 0

        # when: B ends an operation and acks the head, each decided first unlocked
        second = b.accept("tester", "again", "op").svtrid
        ended = b.end(second, 1000, "OK")
        acked = b.ack("tester", 1)

        # then: each was decided again under the lock on the states before its first
        # decision, and saved once
        assert refreshes[0] == 3 * 2
        assert b_committer.transactions == transactions + 3
        assert ended.id == 3 and acked.code == Code.ACKED
        for instance in (a, b):
            queue = instance.mailbox("tester").notifications
            assert [(n.id, n.outcome.cltrid) for n in queue] == [(2, "from-b"), (3, "again")]


# --- 4. a trusted new svTRID that exists -------------------------------------------


class FixedSvtrids(Tidings):
    """Draws the given svTRIDs first, then fresh ones; remembers every draw."""

    _fixed: list[str]
    drawn: list[str]

    @classmethod
    def on(cls, store: Store, *svtrids: str, committer: GroupCommit | None = None) -> Self:
        """On `store` (its commands run by `committer`, a new one by default)."""
        fixed = cls.over(store, committer=committer)
        fixed._fixed, fixed.drawn = list(svtrids), []
        return fixed

    def new_svtrid(self) -> str:
        svtrid = self._fixed.pop(0) if self._fixed else super().new_svtrid()
        self.drawn.append(svtrid)
        return svtrid


def _operation_first(db_url: str) -> str:
    """An account "tester" with one operation, clTRID "first"; returns its svTRID."""
    taken = "1700000000.1.1"
    with FixedSvtrids.on(Store(db_url), taken) as a:
        a.open_account("tester", "pw")
        assert a.accept("tester", "first", "op").svtrid == taken
    return taken


def test_a_trusted_new_svtrid_that_exists_is_drawn_again(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = _operation_first(db_url)
    # given: a fresh instance (nothing cached) that draws the taken svTRID, twice
    store = Store(db_url)
    b = FixedSvtrids.on(store, taken, taken)
    with b:
        before = store.max_position()
        save = store.save
        saves: list[str] = []

        def spied_save(rows: Sequence[Row], snapshots: Sequence[Row]) -> list[int]:
            try:
                positions = save(rows, snapshots)
            except eventsourcing.persistence.IntegrityError:
                saves.append("conflict")
                raise
            saves.append("saved")
            return positions

        monkeypatch.setattr(store, "save", spied_save)

        # when
        pending = b.accept("tester", "second", "op")

        # then: trusted new, not looked up: the save failed on the stored operation
        assert saves == ["conflict", "saved"]
        # and: the batch ran again: looked up this time, found (2302), drawn afresh
        assert b.drawn[:2] == [taken, taken] and len(b.drawn) == 3
        assert pending.svtrid == b.drawn[2] != taken
        # (PostgreSQL: the failed insert used up a position, so count the entries)
        assert [entry.event for entry in b.log(before + 1)] == [
            store.stream(OPERATION, pending.svtrid)[0].event
        ]
        # and: the operation that was there is untouched
        with opened(db_url) as (cold, cold_store, _):
            for instance, its_store in ((b, store), (cold, cold_store)):
                existing = instance.operation(taken)
                assert existing is not None and existing.accepted is not None
                assert existing.accepted.cltrid == "first"
                assert [e.event for e in its_store.stream(OPERATION, taken)] == [existing.accepted]
                created = instance.operation(pending.svtrid)
                assert created is not None and created.accepted is not None
                assert created.accepted.cltrid == "second"


def test_a_rejected_accept_does_not_hide_an_existing_operation(db_url: str) -> None:
    taken = _operation_first(db_url)
    # given: a fresh instance that draws the taken svTRID
    b = FixedSvtrids.on(Store(db_url), taken)
    with b:
        # when: its accept is refused after trusting the svTRID to be new (clTRID too long)
        with pytest.raises(Rejected) as refused:
            b.accept("tester", "c" * 65, "op")
        assert refused.value.code == Code.CLTRID_TOO_LONG
        # then: the existing operation is still seen: the trusted state was not cached
        existing = b.operation(taken)
        assert existing is not None and existing.accepted is not None
        assert existing.accepted.cltrid == "first"


# --- 5. snapshot spacing ---------------------------------------------------------------


def _snapshots(store: Store, db_url: str) -> int:
    """Rows in the snapshots table, read straight from the database."""
    table = store.recorder.snapshots_table
    if is_postgres(db_url):
        schema = store.recorder.datastore.schema
        query = SQL("SELECT count(*) FROM {}.{}").format(Identifier(schema), Identifier(table))
        with psycopg.connect(db_url.split("?", 1)[0]) as conn:
            row = conn.execute(query).fetchone()
    else:
        with closing(sqlite3.connect(db_url)) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_snapshot_spacing_follows_the_backlog(db_url: str) -> None:
    every, backlog = 4, 200
    with opened(db_url, snapshot_every=every) as (t, store, _):
        t.open_account("tester", "pw")
        # when: notifications pile up, nobody polling
        for i in range(backlog):
            t.end(t.accept("tester", f"c{i}", "op").svtrid, 1000, "OK")
        snapshots = _snapshots(store, db_url)

    # then: far fewer snapshots than one every 4 events (each would hold the backlog)
    assert 1 <= snapshots < 15, snapshots
    # and: a fresh process reads the backlog at most twice to answer
    with opened(db_url, snapshot_every=every) as (cold, cold_store, _):
        answer = cold.poll("tester", svtrid="cold")
        assert answer.code == Code.OK and answer.count == backlog
        assert answer.notification is not None and answer.notification.id == 1
        assert 0 < cold_store.events_read <= 2 * backlog + every


# --- 6. a database error --------------------------------------------------------------


@contextmanager
def full_disk(store: Store, db_url: str) -> Iterator[type[Exception]]:
    """While inside, every save fails in its transaction once its events are inserted,
    as a full disk would: a trigger on the chain table makes the database raise (on
    PostgreSQL its own disk-full error). Yields the type of the error callers are to see
    as the cause of their `StorageError` (on PostgreSQL after the recorder's retries:
    the disk stays full)."""
    if is_postgres(db_url):
        schema = Identifier(store.recorder.datastore.schema)
        raising = SQL(
            "CREATE FUNCTION {}.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$"
        ).format(schema)
        trigger = SQL(
            "CREATE TRIGGER disk_full AFTER INSERT ON {}.tidings_chain "
            "FOR EACH STATEMENT EXECUTE FUNCTION {}.disk_full()"
        ).format(schema, schema)
        with psycopg.connect(db_url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(raising)
            conn.execute(trigger)
            try:
                yield eventsourcing.persistence.OperationalError
            finally:
                conn.execute(SQL("DROP FUNCTION {}.disk_full() CASCADE").format(schema))
        return
    with closing(sqlite3.connect(db_url, isolation_level=None)) as conn:
        # SQLite has no RAISE but constraint errors; a malformed JSON is an operational one.
        conn.execute(
            "CREATE TRIGGER disk_full AFTER INSERT ON tidings_chain "
            "BEGIN SELECT json('could not extend file'); END"
        )
        try:
            yield sqlite3.OperationalError
        finally:
            conn.execute("DROP TRIGGER disk_full")


def test_a_database_error_reaches_the_whole_batch_and_writes_nothing(db_url: str) -> None:
    with opened(db_url) as (t, store, committer):
        t.open_account("tester", "pw")
        svtrids = [t.accept("tester", f"c{i}", "op").svtrid for i in range(3)]
        before = store.max_position()
        # given: saves fail after inserting their rows
        with full_disk(store, db_url) as expected:
            # when: three ends are saved in one batch
            held = HeldLeader(committer)
            ends = queue_up(committer, [partial(t.end, svtrid, 1000, "OK") for svtrid in svtrids])
            held.release()
            finish(*ends)

        # then: every caller hears of the error
        for caller in ends:
            assert isinstance(caller.error, StorageError), caller.error
            assert isinstance(caller.error.__cause__, expected), caller.error.__cause__
        # and: nothing was written, nor cached
        assert store.max_position() == before
        with opened(db_url) as (cold, cold_store, _):
            for instance in (t, cold):
                assert not instance.mailbox("tester").notifications
                operations = [instance.operation(svtrid) for svtrid in svtrids]
                assert all(o is not None and o.ended is None for o in operations)
            assert verify(cold_store)[1] is None

        # and: once the disk has room, the next command is saved as if nothing happened
        assert t.end(svtrids[0], 1000, "OK").id == 1
        # (PostgreSQL: the failed insert used up positions, so count the entries)
        assert len(list(t.log(before + 1))) == 2
        assert [n.outcome.cltrid for n in t.mailbox("tester").notifications] == ["c0"]
        assert verify(store)[1] is None


def test_a_batch_that_is_not_saved_leaves_none_of_its_states_cached(db_url: str) -> None:
    taken = "1700000000.1.7"
    store = Store(db_url)
    with FixedSvtrids.on(store, taken) as t:
        t.open_account("tester", "pw")
        # given: saves fail; when: an operation is accepted (its stream taken as new)
        with full_disk(store, db_url), pytest.raises(StorageError):
            t.accept("tester", "c", "op")
        # then: the state it was decided to is not cached
        assert t.operation(taken) is None


# --- found in review, fixed ------------------------------------------------------------


def test_a_rejected_accept_does_not_hide_an_existing_operation_from_its_batch(
    db_url: str,
) -> None:
    taken = _operation_first(db_url)
    store = Store(db_url)
    committer = GroupCommit(store)
    b = FixedSvtrids.on(store, taken, committer=committer)
    with b:
        # when: in one batch, an accept that trusts the taken svTRID and is refused, then
        # the end of the operation that svTRID names
        calls: list[Callable[[], object]] = [
            partial(b.accept, "tester", "c" * 65, "op"),
            partial(b.end, taken, 1000, "OK"),
        ]
        held = HeldLeader(committer)
        refused, ended = queue_up(committer, calls)
        held.release()
        finish(refused, ended)

        # then: the refused accept hears why; the end is saved
        assert isinstance(refused.error, Rejected)
        assert refused.error.code == Code.CLTRID_TOO_LONG
        notification = cast(Notification, ended.value())
        assert notification.outcome.cltrid == "first"


class Interrupt(BaseException):
    """Like KeyboardInterrupt or SystemExit: not an `Exception`."""


def test_a_base_exception_in_a_body_does_not_keep_the_lead(sqlite_url: str) -> None:
    with opened(sqlite_url) as (t, _, committer):
        t.open_account("tester", "pw")

        def interrupted(work: Work) -> None:
            raise Interrupt

        # when
        with pytest.raises(Interrupt):
            committer.execute(utcnow, interrupted)

        # then: the lead was laid down, and the next caller is served
        assert not committer.leading
        caller = Caller(partial(t.account, "tester"))
        caller.start()
        finish(caller)
        assert caller.value() is not None


def test_a_command_submitted_while_a_caller_leads_is_saved_after_it(db_url: str) -> None:
    # given: the first command ever submitted, queued while a caller of `execute` leads
    settled = threading.Event()
    with opened(db_url) as o:

        def leading(work: Work) -> None:
            o.committer.submit(utcnow, lambda work: None, lambda result, error: settled.set())

        o.committer.execute(utcnow, leading)
        # then: the leader hands the lead on, and the submitted command is saved
        wait_until(settled.is_set, what="the submitted command is settled")


def committers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tidings-committer"]


def test_closing_stops_the_committer_thread_after_the_commands_submitted(db_url: str) -> None:
    # given: commands submitted, so a committer thread runs
    before = len(committers())
    settled = threading.Semaphore(0)
    with opened(db_url) as o:
        for _ in range(20):
            o.committer.submit(utcnow, lambda work: None, lambda result, error: settled.release())
        assert len(committers()) == before + 1
        # when: the library closes, then: every submitted command was settled first
        o.tidings.close()
        assert all(settled.acquire(timeout=0) for _ in range(20))
        # and its thread is gone
        assert len(committers()) == before
