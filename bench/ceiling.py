"""The command path's ceiling: `python -m bench.ceiling [--size N] [--rounds R]
[--clients C]` runs a lean prototype beside tidings and the two peers in one
`measure_queues` (the bench's enqueue and poll + ack rows, interleaved).

The prototype does an enqueue's and a poll + ack's logical work as tidings does it: the
same commands one after another (accept then end; poll then ack), each answered only
once its batch is durable; the domain's decisions (`operation.decide`, `ending.end`,
`mailbox.decide`, the access rule); the same rows through the same recorder
(`ChainedSQLiteRecorder.append`: the writers' turn, `BEGIN IMMEDIATE`, the log's end,
eventsourcing's rows in MessagePack, the chain, the Merkle tree, checkpoints signed at
the default cadence, mailbox snapshots, one fsync a batch at the store's durability);
the look for other writers' commits before each batch. What it leaves out is tidings'
structure above the recorder: the states a command needs sit in plain dictionaries
(accounts, mailboxes, open operations), the group commit is a bare leader and queue,
no unit of work, use case, coroutine, `Change` or metrics. A failed save puts back the
states the batch changed. It serves one process only: another writer's commit stops it.
"""

import itertools
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from tidings.adapters.errors import Rejected
from tidings.adapters.ledger.entries import Row, snapshot_row, stored_row
from tidings.adapters.ledger.keys import new_key
from tidings.adapters.ledger.signer import signer_for
from tidings.adapters.library import Tidings
from tidings.adapters.store.application import Loaded, Store, snapshot_due, stream_hex
from tidings.adapters.store.commit import GATHER_FOR
from tidings.adapters.usecases.runtime import SvtridSource, utcnow
from tidings.adapters.views import Answer, Pending, PollAnswer
from tidings.domain import ACCOUNT, MAILBOX, Code, Notification, Rejection
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.access import Trusted, refusal
from tidings.domain.ending import Ending, end

from .log import PASSWORD
from .peers import LiteQueueSubject, PersistQueueSubject
from .queue import QueueSubject, measure_queues
from .results import COMMAND, RESULT_TEXT, Durability
from .subjects import TidingsQueue, tidings_durability

__all__ = ["Ceiling", "CeilingQueue", "run_ceiling"]

_TRUSTED = Trusted()
_Body = Callable[[datetime], Any]


class _Call:  # a queued command
    __slots__ = ("body", "done", "result", "wake")

    def __init__(self, body: _Body, wake: threading.Lock):
        self.body, self.wake = body, wake
        self.done = False
        self.result: Any = None


def _raised(result: Any) -> Any:
    """`result`, unless it is the error the command's batch failed with: raised."""
    if isinstance(result, BaseException):
        raise result
    return result


def _answer(result: Any) -> Any:
    """A command's answer; its refusal raised as the library raises it."""
    if isinstance(result, Rejection):
        raise Rejected.of(result)
    return result


class Ceiling:
    """The prototype (see the module's docstring) on the database at `path`; `signed`: with
    a signing key made beside it. Its face is the library's (`Tidings`) for the commands
    the bench runs, refusals raised as `Rejected`, and the group commit's for
    `bench.batches`."""

    def __init__(self, path: Path, *, signed: bool = True):
        key = path.with_suffix(".key")
        if signed:
            new_key(key)
        self._store = store = Store(str(path), signer=signer_for(str(key)) if signed else None)
        self._recorder = store.recorder
        self._opener = Tidings.over(store)  # accounts are opened by tidings itself
        self._accounts: dict[str, Any] = {}
        self._mailboxes: dict[str, Loaded] = {}
        self._open: dict[str, tuple[op.OperationState, int]] = {}  # svtrid: state, version
        self._svtrids = SvtridSource()
        # The group commit: a queue, a leader, a lock per waiting thread.
        self._last_batch = 0
        self._mutex = threading.Lock()
        self._queued: list[_Call] = []
        self._leading = False
        self._wakes = threading.local()
        self.transactions = 0
        # The batch being run: its rows and what it changed, to put back if it fails.
        self._rows: list[Row] = []
        self._snapshots: list[Row] = []
        self._before: dict[tuple[str, str], Any] = {}

    def open_account(self, login: str, password: str) -> None:
        """Open a polling account (by tidings) and keep its states; before any command."""
        self._opener.open_account(login, password)
        self._accounts[login] = self._store.load(ACCOUNT, login).state
        self._mailboxes[login] = self._store.load(MAILBOX, login)
        self._recorder.changed()

    def accept(self, login: str, cltrid: str, command: str) -> Pending:
        pending: Pending = _answer(self._execute(self._accept(login, cltrid, command)))
        return pending

    def end(self, svtrid: str, code: int, result: str) -> Notification:
        ended: Notification = _answer(self._execute(self._end(svtrid, code, result)))
        return ended

    def poll(self, login: str) -> PollAnswer:
        answer: PollAnswer = self._execute(self._poll(login, self._svtrids.mint(utcnow())))
        return answer

    def ack(self, login: str, notification_id: int) -> Answer:
        answer: Answer = self._execute(self._ack(login, str(notification_id)))
        return answer

    def execute(self, clock: Callable[[], datetime], body: Callable[[Any], Any]) -> Any:
        """Run `body(now)` as a command of its own (`bench.batches` holds a batch so)."""
        return self._execute(body)

    @property
    def waiting(self) -> int:
        """Callers queued for the next batch."""
        with self._mutex:
            return len(self._queued)

    def close(self) -> None:
        self._store.close()

    # --- the commands: bodies run by the leader on the batch's states ------------------
    def _accept(self, login: str, cltrid: str, command: str) -> _Body:
        def body(now: datetime) -> Pending | Rejection:
            refused = refusal(self._accounts[login], _TRUSTED)
            if refused is not None:
                return refused
            svtrid = self._svtrids.mint(now)
            accept = op.AcceptOperation(
                svtrid=svtrid, cltrid=cltrid, command=command, login=login, init_request=None
            )
            events = op.decide(op.initial, accept, now)
            if not isinstance(events, list):
                return events
            self._changed(("operation", svtrid), None)
            self._open[svtrid] = (self._stage("operation", svtrid, op.initial, 0, events), 1)
            return Pending(
                code=Code.PENDING,
                text=Code.PENDING.text,
                svtrid=svtrid,
                cltrid=cltrid,
                command=command,
                timestamp=now,
            )

        return body

    def _end(self, svtrid: str, code: int, result: str) -> _Body:
        command = op.EndOperation(code=code, result=result, data=None, batch_state=None)

        def body(now: datetime) -> Any:
            opened = self._open.get(svtrid)
            if opened is None:  # tidings would load it: the prototype ends only its own
                return Rejection(Code.OBJECT_NOT_FOUND, "not open here")
            operation, version = opened
            assert operation.accepted is not None
            login = operation.accepted.login
            mailbox = self._mailboxes[login]
            ending = end(operation, self._accounts[login], mailbox.state, command, now)
            if not isinstance(ending, Ending):
                return ending
            self._changed(("operation", svtrid), opened)
            self._stage("operation", svtrid, operation, version, ending.operation)
            del self._open[svtrid]  # ended: nothing more to check on it
            self._mailbox(login, mailbox, ending.mailbox, now)
            return ending.notification

        return body

    def _poll(self, login: str, svtrid: str) -> _Body:
        def body(now: datetime) -> PollAnswer:
            account = self._accounts[login]
            refused = refusal(account, _TRUSTED)
            if refused is not None:
                return PollAnswer(code=refused.code, text=refused.text, svtrid=svtrid)
            mailbox = self._mailboxes[login]
            command = mbx.PollNotification(svtrid=svtrid, polls=account.polls)
            events = mbx.decide(mailbox.state, command, now)
            if not isinstance(events, list):
                return PollAnswer(code=events.code, text=events.text, svtrid=svtrid)
            head = mbx.peek(self._mailbox(login, mailbox, events, now))
            assert head is not None  # the poll was not refused
            return PollAnswer(
                code=Code.OK,
                text=Code.OK.text,
                svtrid=svtrid,
                notification=head.notification,
                count=head.count,
            )

        return body

    def _ack(self, login: str, ident: str) -> _Body:
        def body(now: datetime) -> Answer:
            account = self._accounts[login]
            refused = refusal(account, _TRUSTED)
            if refused is not None:
                return Answer(refused.code, refused.text)
            mailbox = self._mailboxes[login]
            command = mbx.AckNotification(notification_id=ident, polls=account.polls)
            events = mbx.decide(mailbox.state, command, now)
            if not isinstance(events, list):
                return Answer(events.code, events.text)
            self._mailbox(login, mailbox, events, now)
            return Answer(Code.ACKED, Code.ACKED.text)

        return body

    def _mailbox(
        self, login: str, loaded: Loaded, events: list[Any], now: datetime
    ) -> mbx.MailboxState:
        """Stage a mailbox's events, and its snapshot when one is due; its new state."""
        if not events:
            unchanged: mbx.MailboxState = loaded.state
            return unchanged
        self._changed(("mailbox", login), loaded)
        version = loaded.version + len(events)
        state: mbx.MailboxState = self._stage(
            "mailbox", login, loaded.state, loaded.version, events
        )
        after = Loaded(state, version, loaded.snapshot_version)
        if snapshot_due(after, version, self._store.snapshot_every):
            sid = stream_hex("mailbox", login)
            self._snapshots.append(snapshot_row(sid, version, state, now))
            after = Loaded(state, version, version)
        self._mailboxes[login] = after
        return state

    def _stage(self, category: str, key: str, state: Any, version: int, events: list[Any]) -> Any:
        """Rows for `events` after `version` of a stream; the state they leave."""
        sid, rows = stream_hex(category, key), self._rows
        evolve = op.evolve if category == "operation" else mbx.evolve
        for event in events:
            version += 1
            rows.append(stored_row(sid, version, event))
            state = evolve(state, event)
        return state

    def _changed(self, name: tuple[str, str], before: Any) -> None:
        """Note a stream's state before the batch first changed it."""
        self._before.setdefault(name, before)

    # --- the group commit ---------------------------------------------------------------
    def _wake(self) -> threading.Lock:
        lock: threading.Lock | None = getattr(self._wakes, "lock", None)
        if lock is None:
            lock = self._wakes.lock = threading.Lock()
            lock.acquire()
        return lock

    def _execute(self, body: _Body) -> Any:
        """Run `body` in a batch; its answer once the batch is durable."""
        call = _Call(body, self._wake())
        with self._mutex:
            self._queued.append(call)
            lead = not self._leading
            self._leading = True
        if not lead:
            call.wake.acquire()  # done, or handed the lead
            if call.done:
                return _raised(call.result)
        while not call.done:
            if self._last_batch > 1:
                self._wait_for_callers()
            with self._mutex:
                batch, self._queued = self._queued, []
            self._last_batch = len(batch)
            self._run(batch, call)
        with self._mutex:
            if self._queued:
                self._queued[0].wake.release()  # the oldest waiting caller leads
            else:
                self._leading = False
        return _raised(call.result)

    def _wait_for_callers(self) -> None:
        """The wait tidings' group commit makes after a batch of several callers: yield
        the GIL while the queue grows, for at most `GATHER_FOR`."""
        deadline = time.perf_counter() + GATHER_FOR
        seen = len(self._queued)
        while time.perf_counter() < deadline:
            time.sleep(0)
            now = len(self._queued)
            if now == seen:
                return
            seen = now

    def _run(self, batch: list[_Call], leader: _Call) -> None:
        for call in batch:
            call.result = call.body(utcnow())
        rows, snapshots, before = self._rows, self._snapshots, self._before
        self._rows, self._snapshots, self._before = [], [], {}
        try:
            if self._recorder.changed():
                raise RuntimeError("another writer committed: the prototype serves one process")
            if rows:
                self._recorder.append(rows, snapshots)
                self.transactions += 1
        except BaseException as error:
            self._put_back(before)
            for call in batch:
                call.result = error
        for call in batch:
            call.done = True
            if call is not leader:
                call.wake.release()

    def _put_back(self, before: dict[tuple[str, str], Any]) -> None:
        for (category, key), state in before.items():
            if category == "mailbox":
                self._mailboxes[key] = state
            elif state is None:
                self._open.pop(key, None)
            else:
                self._open[key] = state


class CeilingQueue:
    """The prototype as the bench drives tidings (`TidingsQueue`): enqueue is accept +
    end, a drain cycle poll + ack, each client an account of its own, checkpoints
    signed."""

    name = "ceiling"
    durability: Durability = "equal"
    drains = True

    def __init__(self, path: Path, clients: int = 1):
        self.clients = clients
        self._path = path
        self._ceiling = Ceiling(path)
        self._logins = [f"ceiling-{n}" for n in range(clients)]
        for login in self._logins:
            self._ceiling.open_account(login, PASSWORD)
        self._numbers = itertools.count()

    def put(self, client: int) -> None:
        ceiling, login = self._ceiling, self._logins[client]
        pending = ceiling.accept(login, f"bench-{next(self._numbers)}", COMMAND)
        ceiling.end(pending.svtrid, 1000, RESULT_TEXT)

    def take(self, client: int) -> None:
        ceiling, login = self._ceiling, self._logins[client]
        answer = ceiling.poll(login)
        if answer.notification is None:
            raise RuntimeError(f"poll found no notification: {answer.code} {answer.text}")
        acked = ceiling.ack(login, answer.notification.id)
        if acked.code != Code.ACKED:
            raise RuntimeError(f"ack answered {acked.code} {acked.text}")

    def durability_in_force(self) -> tuple[str, str]:
        return tidings_durability(self._path)

    def transactions(self) -> int:
        return self._ceiling.transactions

    def close(self) -> None:
        self._ceiling.close()


def run_ceiling(
    size: Annotated[int, typer.Option(min=1, help="Operations of each kind a subject.")] = 2000,
    rounds: Annotated[int, typer.Option(min=1, help="Slices interleaving the subjects.")] = 6,
    clients: Annotated[int, typer.Option(min=1, help="Threads calling each subject.")] = 16,
) -> None:
    """Print each subject's rate, CPU per operation, commits per operation and ratio to
    the others, the prototype, tidings and the peers measured in one run."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        subjects: list[QueueSubject] = [
            CeilingQueue(directory / "ceiling.db", clients),
            TidingsQueue(directory / "tidings.db", clients),
            PersistQueueSubject(directory / "persist-queue", "equal", clients),
            LiteQueueSubject(directory / "litequeue.db", "equal", clients),
        ]
        results = measure_queues(subjects, size, rounds)
    for phase in ("enqueue", "poll+ack"):
        rows = {r.subject: r for r in results if r.scenario == phase}
        for subject, r in rows.items():
            ratios = " ".join(
                f"{r.ops_per_s / rows[other].ops_per_s:.2f}x {other}"
                for other in ("tidings", "persist-queue", "litequeue")
                if other != subject
            )
            typer.echo(
                f"{phase:8} {subject:13} {r.ops_per_s:7.0f}/s {r.cpu_us or 0:5.0f} µs CPU"
                f" {r.commits_per_op or 0:.3f} commits/op  {ratios}"
            )


if __name__ == "__main__":
    typer.run(run_ceiling)
