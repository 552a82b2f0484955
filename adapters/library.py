"""`Tidings`: the library a backend embeds.

    from tidings.adapters import Tidings

    t = Tidings("tidings.db")                       # or "postgresql://user@host:5432/db"
    t.open_account("tester", "123456")
    pending = t.accept("tester", "AvrX87Kqk6h3", "domain-renew")   # 1001, svTRID
    t.end(pending.svtrid, 1000, "OK")               # queues the notification
    answer = t.poll("tester")                       # 1000 + the oldest notification
    t.ack("tester", answer.notification.id)         # 1002

Every method is thread-safe and returns once what it changed is durable; calls from
many threads are saved together (group commit). The commands a server runs on an event
loop have an awaitable twin (`accept_async`, `poll_async`, ...) of the same use case.
Errors are `TidingsError`s: a refused command raises `Rejected` (`.code`, `.text`) and
changes nothing; a bad argument `InvalidArgument` (2101); a closed `Tidings` `Closed`.
Poll and ack return their protocol answers (1000/1003/2150, 1002/2150/2151) instead. Only
`open_account` and `rotate_secret` answer a signing secret."""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Self

import anyio

from .audit.trail import Audit, TrailEntry
from .errors import (
    Closed,
    Conflict,
    InvalidArgument,
    OutcomeUnknown,
    Rejected,
    StorageError,
    TidingsError,
)
from .ledger.checkpoint import Cadence
from .ledger.signer import signer_for
from .push.due import DueWork
from .push.mail import SmtpServer
from .store.application import SNAPSHOT_EVERY, Store
from .store.commit import GroupCommit
from .store.outage import storage_errors
from .usecases.accounts import AccountCalls, Accounts, SigningSecrets
from .usecases.audit_reads import AuditCalls
from .usecases.deliveries import Deliveries, DeliveryCalls
from .usecases.operations import OperationCalls, Operations
from .usecases.operators import OperatorCalls, Operators
from .usecases.pollqueue import PollQueue, QueueCalls
from .usecases.runtime import RemoteClient, Runtime, SvtridCalls, integer, text, utcnow
from .views import AccountPage, Answer, Pending, PollAnswer, Stats

__all__ = [
    "AccountPage",
    "Answer",
    "Closed",
    "Conflict",
    "InvalidArgument",
    "OutcomeUnknown",
    "Pending",
    "PollAnswer",
    "Rejected",
    "RemoteClient",
    "Stats",
    "StorageError",
    "Tidings",
    "TidingsError",
    "TrailEntry",
]

_log = logging.getLogger("tidings.push")
# How long `PushThread.start` waits for the runner to read the log, and `stop` for it to end.
_WAIT = 30.0


class PushThread:
    """A `DueWork` runner on `tidings`, on a daemon thread with its own event loop, from
    `start` until `stop` (`Tidings(..., push=True)`); e-mail through TIDINGS_SMTP_URL. It
    ends no operation."""

    def __init__(self, tidings: "Tidings"):
        self._runner = DueWork(tidings, smtp=SmtpServer.from_env())
        self._started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tidings-push", daemon=True)

    def start(self) -> None:
        """Start the runner; returns once it has read the log."""
        self._thread.start()
        self._started.wait(_WAIT)

    def stop(self) -> None:
        """Stop the runner (attempts in flight are made again later, `DueWork.run`)."""
        self._stop.set()
        self._thread.join(_WAIT)

    def _main(self) -> None:
        try:
            anyio.run(self._run)
        except Exception:  # a thread has no caller to raise to: say it in the log
            _log.exception("the in-process push runner stopped")
        finally:
            self._started.set()

    async def _run(self) -> None:
        async with anyio.create_task_group() as group:
            await group.start(self._runner.run)
            self._started.set()
            await anyio.to_thread.run_sync(self._stop.wait)
            group.cancel_scope.cancel()


class Tidings(
    SvtridCalls,
    AccountCalls,
    OperationCalls,
    QueueCalls,
    DeliveryCalls,
    AuditCalls,
    OperatorCalls,
):
    """Accounts, operations and their notifications, on an append-only event log.

    `db` is a SQLite file path or a `postgresql://` URL; `clock` returns aware UTC
    datetimes. `signing_key`: the Ed25519 key file that signs the log's checkpoints (else
    `TIDINGS_SIGNING_KEY`; neither: nothing is signed), at `cadence` (`Cadence()`: every
    1,000 entries or 60 s). `push`: push the notifications of URL and e-mail accounts
    from a thread of this process until `close` (else a `tidings serve` or `tidings
    worker` on the same database must).

    Raises `StorageError` when the database cannot be opened, `BadKey` when the signing
    key cannot be read, `InvalidArgument` for a bad argument (or, with `push`, when
    TIDINGS_SMTP_URL is not an SMTP URL).
    """

    _push: PushThread | None

    def __init__(
        self,
        db: str = "tidings.db",
        *,
        clock: Callable[[], datetime] = utcnow,
        snapshot_every: int = SNAPSHOT_EVERY,
        signing_key: str | None = None,
        cadence: Cadence | None = None,
        push: bool = False,
    ):
        text("db", db)
        integer("snapshot_every", snapshot_every, least=1)
        if signing_key is not None:
            text("signing_key", signing_key)
        signer = signer_for(signing_key, cadence)
        with storage_errors(opening=True):
            store = Store(db, snapshot_every=snapshot_every, signer=signer)
        self._attach(store, GroupCommit(store), clock)
        if push:
            try:
                pusher = PushThread(self)
            except ValueError as error:  # TIDINGS_SMTP_URL is not an SMTP URL
                self.close()
                raise InvalidArgument(f"push: {error}") from None
            pusher.start()
            self._push = pusher

    @classmethod
    def over(
        cls,
        store: Store,
        *,
        committer: GroupCommit | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Self:
        """A `Tidings` on a store already open, its commands run by `committer` (a new
        one by default). Closing it closes the store. Raises nothing."""
        tidings = cls.__new__(cls)
        tidings._attach(store, committer or GroupCommit(store), clock)
        return tidings

    def _attach(self, store: Store, committer: GroupCommit, clock: Callable[[], datetime]) -> None:
        self._runtime = runtime = Runtime(store, committer, clock, self.new_svtrid)
        self._secrets = SigningSecrets(runtime)
        self._accounts = Accounts(runtime, self._secrets)
        self._operations = Operations(runtime)
        self._queue = PollQueue(runtime)
        self._deliveries = Deliveries(runtime, self._secrets)
        self._operators = Operators(runtime, self._operations)
        self._audit = Audit(store)
        self._push = None

    @property
    def store(self) -> Store:
        """The store under the library: for readers of the log's tree (tiles, proofs)."""
        return self._runtime.store

    def close(self) -> None:
        """Close the database connections; every later call raises `Closed`, closing
        again does nothing. Raises `StorageError`."""
        if self._runtime.closed:
            return
        if self._push is not None:
            self._push.stop()
        self._runtime.closed = True
        self._runtime.committer.close()
        self._secrets.close()
        with storage_errors():
            self._runtime.store.close()

    def __enter__(self) -> "Tidings":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
