"""`Tidings`: the library a backend embeds.

    from tidings.adapters import Tidings

    t = Tidings("tidings.db")                       # or "postgresql://user@host:5432/db"
    t.open_account("tester", "123456")
    pending = t.accept("tester", "AvrX87Kqk6h3", "domain-renew")   # 1001, svTRID
    t.end(pending.svtrid, 1000, "OK")               # queues the notification
    answer = t.poll("tester")                       # 1000 + the oldest notification
    t.ack("tester", answer.notification.id)         # 1002

Every method is synchronous and thread-safe; a method that changes something returns
once that change is durable. Calls from many threads at once are saved together, one
transaction for all of them (group commit). Errors are `TidingsError`s: commands the
core refuses raise `Rejected` (with `.code` and `.text`) and change nothing; poll and
ack instead return their protocol answer (1000/1003/2150, 1002/2150/2151), because those
are normal replies (an unknown or a suspended account's poll and ack raise `Rejected`,
2303 / 2053, as accept does: the domain's access rule). Views returned carry no secret:
only `open_account` and `rotate_secret` answer the signing secret.
"""

import asyncio
import base64
import contextlib
import functools
import hashlib
import itertools
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from msgspec import Struct
from msgspec.structs import replace
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
    MAILBOX,
    OPERATION,
    BatchState,
    Channel,
    Code,
    Decider,
    EmailChannel,
    InitRequest,
    Notification,
    PollChannel,
    Rejection,
    RetryPolicy,
    UrlChannel,
)
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.access import Caller, Remote, Trusted, refusal
from tidings.domain.ending import Ending, end
from tidings.domain.fallback import fall_back
from tidings.domain.redaction import redacted
from tidings.domain.values import password_problem

from .audit.trail import Audit, TrailEntry
from .errors import Conflict, Rejected, StorageError, TidingsError
from .ledger.checkpoint import Cadence, signer_for
from .push.guard import AddressGuard, Refused
from .push.views import (
    Attempted,
    Claim,
    DeliveryView,
    EndpointView,
    Held,
    delivery_view,
    endpoint_view,
)
from .redaction import secret_headers, secret_params
from .store.application import SNAPSHOT_EVERY, LogEntry, Store
from .store.commit import GroupCommit
from .store.failures import storage_errors
from .store.secrets import Secrets
from .store.work import Work
from .views import AccountView, MailboxView, OpenedAccount, account_view, mailbox_view

__all__ = [
    "AccountPage",
    "Answer",
    "Conflict",
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

S = TypeVar("S")
T = TypeVar("T")


class Pending(Struct, frozen=True, kw_only=True):
    """The `1001 Request pending` answer of an accepted operation."""

    code: Code
    text: str
    svtrid: str
    cltrid: str
    command: str
    timestamp: datetime


class PollAnswer(Struct, frozen=True, kw_only=True):
    """poll-req's answer: 1000 with the oldest notification and the queue count (head
    included), 1003 with an empty queue, or 2150 when the account does not poll.
    `svtrid` is the poll's own (the one given, or one minted for it)."""

    code: Code
    text: str
    svtrid: str
    notification: Notification | None = None
    count: int = 0


class RemoteClient(Struct, frozen=True, kw_only=True):
    """A client calling over the network, let in by the domain's access rule inside the
    unit of work of the command it runs (no read of the account before it): `proof`
    says whether its credentials match the stored account (None when the login is
    unknown: it should then cost the same work), `ip` is its address (None: unknown)."""

    proof: Callable[[acc.AccountState | None], bool]
    ip: str | None


class AccountPage(Struct, frozen=True, kw_only=True):
    """Accounts in the order they were opened; `next` is the `after` of the next page
    (None: this page is the last)."""

    accounts: list[AccountView]
    next: int | None


class Answer(Struct, frozen=True):
    code: Code
    text: str


class Stats(Struct, frozen=True, kw_only=True):
    """What this instance did so far: transactions saved, commands run in them (refused
    ones included; commands per transaction shows the group commit at work), and events
    read from the database to load states (what the cache and snapshots spare)."""

    transactions: int
    commands: int
    events_read: int


_OPENED = ("AccountOpened",)
# Open operations loaded per command by `pending_operations`.
_PENDING_CHUNK = 100


class _SvtridSource:
    """`<unix>.<process>.<counter>` in WAPI's shape. `process` is drawn at random once
    per process (again in a forked child), so machines sharing one database, whose pids
    may well be equal, do not mint the same svTRIDs; the counter is shared by every
    `Tidings` of the process."""

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self.process = secrets.randbelow(10**9)
        self.counter = itertools.count(1)

    def mint(self, now: datetime) -> str:
        return f"{int(now.timestamp())}.{self.process}.{next(self.counter)}"

    def minted_here(self, svtrid: str) -> bool:
        parts = svtrid.split(".")
        return len(parts) == 3 and parts[1] == str(self.process)


_SVTRIDS = _SvtridSource()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _settle(future: "asyncio.Future[Any]", result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # its caller gave up waiting; the command stands
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _password_sha1(password: str) -> str:
    """The digest an account keeps; raises `Rejected` (2101) for a password the core
    refuses."""
    if problem := password_problem(password):
        raise Rejected(Code.INVALID_PARAMETER, problem)
    return _sha1(password)


def _secret() -> str:
    # Standard Webhooks: "whsec_" and the key in standard base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _admitted(work: Work, login: str, client: RemoteClient | None) -> acc.AccountState:
    """The account, once the access rule lets the caller run a client command on it:
    `client` over the network, else the backend itself (`Trusted`)."""
    account = work.state(ACCOUNT, login)
    caller: Caller = Trusted()
    if client is not None:
        proven = client.proof(account if account.opened else None)
        caller = Remote(authenticated=proven, client_ip=client.ip)
    refused = refusal(account, caller)
    if refused is not None:
        raise Rejected.of(refused)
    return account


class Tidings:
    """Accounts, operations and their notifications, on an append-only event log.

    `db` is a SQLite file path or a `postgresql://` URL. `clock` returns aware UTC
    datetimes (tests pass a fake one).

    `signing_key`: the file of the Ed25519 key that signs the log's checkpoints (else
    `TIDINGS_SIGNING_KEY`; neither: nothing is signed), at `cadence` (`Cadence()`:
    every 1,000 entries or 60 s).

    Raises `StorageError` when the database cannot be opened, `BadKey` when the signing
    key cannot be read.
    """

    def __init__(
        self,
        db: str = "tidings.db",
        *,
        clock: Callable[[], datetime] = _utcnow,
        snapshot_every: int = SNAPSHOT_EVERY,
        signing_key: str | None = None,
        cadence: Cadence | None = None,
    ):
        # Checkpoints are signed with the key file `signing_key`, else the one
        # TIDINGS_SIGNING_KEY names; without either, nothing is signed.
        signer = signer_for(signing_key, cadence)
        with storage_errors():
            store = Store(db, snapshot_every=snapshot_every, signer=signer)
        self._attach(store, GroupCommit(store), clock)

    @classmethod
    def over(
        cls,
        store: Store,
        *,
        committer: GroupCommit | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> Self:
        """A `Tidings` on a store already open, its commands run by `committer` (a new
        one by default): for tools and tests that work on the store or the group commit
        beside the library. Closing it closes the store. Raises nothing."""
        tidings = cls.__new__(cls)
        tidings._attach(store, committer or GroupCommit(store), clock)
        return tidings

    def _attach(self, store: Store, committer: GroupCommit, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._committer = committer
        self._clock = clock
        self._audit = Audit(store)
        self._secrets = Secrets(store)
        # Redacted from recorded init requests: ours, TIDINGS_REDACT_PARAMS and _HEADERS.
        self._secret_params = secret_params()
        self._secret_headers = secret_headers()

    @property
    def store(self) -> Store:
        """The store under the library: for readers of the log's tree (tiles, proofs)."""
        return self._store

    def close(self) -> None:
        """Close the database connections.

        Raises `StorageError`.
        """
        self._committer.close()
        with storage_errors():
            self._secrets.close()
            self._store.close()

    def __enter__(self) -> "Tidings":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, body: Callable[[Work], T]) -> T:
        with storage_errors():
            return self._committer.execute(self._clock, body)

    async def _run_async(self, body: Callable[[Work], T]) -> T:
        """`_run` for a caller on an asyncio event loop: the command joins the group
        commit's batches without a thread waiting for it (`GroupCommit.submit`), and the
        loop is told when it is durable. Handing each command to a thread pool instead
        cost about 90 µs of CPU a request in a server."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            # RuntimeError: the loop closed meanwhile, and no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)

        with storage_errors():
            self._committer.submit(self._clock, body, settle)
            return await future

    def stats(self) -> Stats:
        """Counters of this instance's work (see `Stats`). Raises nothing."""
        committer = self._committer
        return Stats(
            transactions=committer.transactions,
            commands=committer.commands,
            events_read=self._store.events_read,
        )

    # --- accounts -------------------------------------------------------------------
    def open_account(
        self,
        login: str,
        password: str,
        *,
        channel: Channel = PollChannel(),
        retry_policy: RetryPolicy = RetryPolicy(),
        allowed_ips: tuple[str, ...] = (),
    ) -> OpenedAccount:
        """Open an account; only `sha1(password)` is stored. The answer carries the
        signing secret of its pushed notifications: shown here, and at `rotate_secret`.

        Raises `Rejected` (2302 the login exists, 2101 invalid settings, a password
        empty or only whitespace or a push URL to a non-public address among them),
        `Conflict`, `StorageError`.
        """
        self._check_push_target(channel)
        secret = _secret()
        command = acc.OpenAccount(
            login=login,
            password_sha1=_password_sha1(password),
            signing_secret=secret,
            channel=channel,
            retry_policy=retry_policy,
            allowed_ips=allowed_ips,
        )
        state = self._with_secret(login, command, secret)
        view = account_view(state)
        fields = {name: getattr(view, name) for name in view.__struct_fields__}
        return OpenedAccount(**fields, signing_secret=secret)

    def _with_secret(
        self, login: str, command: acc.OpenAccount | acc.RotateSecret, secret: str
    ) -> acc.AccountState:
        """Run a command that names a new signing secret: the secret is kept beside the
        log first (`store.secrets`), and dropped again if the command is refused."""
        secret_id = acc.secret_id(secret)
        with storage_errors():
            self._secrets.keep(secret_id, secret)
        try:
            return self._account_command(login, command)
        except Rejected:
            with storage_errors():
                self._secrets.forget(secret_id)
            raise

    def _signing_secret(self, account: acc.AccountState, secret_id: str) -> str:
        """The secret `secret_id` names ("" for none): from a legacy log's events, or the
        store. Raises `StorageError` when the store has lost it."""
        if not secret_id:
            return ""
        legacy = dict(account.legacy_secrets)
        if secret_id in legacy:
            return legacy[secret_id]
        with storage_errors():
            found = self._secrets.find(secret_id)
        if found is None:
            raise StorageError(f"the signing secret of account {account.login!r} is missing")
        return found

    def _account_command(self, login: str, command: acc.AccountCommand) -> acc.AccountState:
        def body(work: Work) -> acc.AccountState:
            work.must(ACCOUNT, login, command)
            return work.state(ACCOUNT, login)

        return self._run(body)

    def configure(
        self,
        login: str,
        *,
        channel: Channel | None = None,
        retry_policy: RetryPolicy | None = None,
        allowed_ips: tuple[str, ...] | None = None,
    ) -> AccountView:
        """Change any of an account's settings at once: all of them or, when one is
        refused, none.

        Raises `Rejected` (2303 unknown account, 2101 invalid setting, a push URL to a
        non-public address among them), `Conflict`, `StorageError`.
        """
        commands: list[acc.AccountCommand] = []
        if channel is not None:
            self._check_push_target(channel)
            commands.append(acc.ConfigureChannel(channel))
        if retry_policy is not None:
            commands.append(acc.SetRetryPolicy(retry_policy))
        if allowed_ips is not None:
            commands.append(acc.SetIpAllowList(allowed_ips))

        def body(work: Work) -> acc.AccountState:
            for command in commands:
                work.must(ACCOUNT, login, command)
            return work.state(ACCOUNT, login)

        return account_view(self._run(body))

    def configure_channel(self, login: str, channel: Channel) -> AccountView:
        """Set how the account is told: the poll queue, a URL or e-mail.

        Raises `Rejected` (2303 unknown account, 2101 invalid channel, a push URL to a
        non-public address among them), `Conflict`, `StorageError`.
        """
        self._check_push_target(channel)
        return account_view(self._account_command(login, acc.ConfigureChannel(channel)))

    def set_retry_policy(self, login: str, policy: RetryPolicy) -> AccountView:
        """Set how pushed notifications are retried.

        Raises `Rejected` (2303 unknown account, 2101 invalid policy), `Conflict`, `StorageError`.
        """
        return account_view(self._account_command(login, acc.SetRetryPolicy(policy)))

    def set_allowed_ips(self, login: str, ips: tuple[str, ...]) -> AccountView:
        """Set the addresses (or CIDR networks) clients may call from; empty: any.

        Raises `Rejected` (2303 unknown account, 2101 not an address), `Conflict`, `StorageError`.
        """
        return account_view(self._account_command(login, acc.SetIpAllowList(ips)))

    def change_password(self, login: str, password: str) -> AccountView:
        """Set a new password (only its sha1 is stored).

        Raises `Rejected` (2303 unknown account, 2101 a password empty or only
        whitespace), `Conflict`, `StorageError`.
        """
        change = acc.ChangePassword(_password_sha1(password))
        return account_view(self._account_command(login, change))

    def rotate_secret(self, login: str) -> str:
        """A new signing secret for pushed notifications; returns it.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """
        secret = _secret()
        self._with_secret(login, acc.RotateSecret(secret), secret)
        return secret

    def suspend(self, login: str, reason: str) -> AccountView:
        """Suspend an account: its client commands answer 2053 until `resume`.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """
        return account_view(self._account_command(login, acc.SuspendAccount(reason)))

    def resume(self, login: str) -> AccountView:
        """Lift a suspension.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """
        return account_view(self._account_command(login, acc.ResumeAccount()))

    def account(self, login: str) -> AccountView | None:
        """The account's settings and status, or None when it was never opened.

        Raises `StorageError`.
        """
        state = self._run(lambda work: work.state(ACCOUNT, login))
        return account_view(state) if state.opened else None

    def accounts(self, *, after: int = 0, limit: int = 100) -> AccountPage:
        """A page of accounts in the order they were opened: up to `limit` (1-1000) of
        those opened after `after` (0, or the `next` of the page before).

        Raises `Rejected` (2101 a limit or cursor out of range), `StorageError`.
        """
        if not 1 <= limit <= 1000 or after < 0:
            raise Rejected(Code.INVALID_PARAMETER, "limit is 1-1000 and after is 0 or more")
        openings = list(itertools.islice(self.log(after + 1, limit, topics=_OPENED), limit))
        logins = [entry.event.login for entry in openings]
        states = self._run(lambda work: [work.state(ACCOUNT, login) for login in logins])
        last = openings[-1].position if len(openings) == limit else None
        return AccountPage(accounts=[account_view(state) for state in states], next=last)

    def admit(self, login: str, client: RemoteClient) -> None:
        """Whether a client over the network may run a command on `login` (see
        `RemoteClient`); the commands that take a `client` check it themselves, in their
        own unit of work.

        Raises `Rejected` (2050 authentication failure, 2051 address not allowed, 2053
        suspended), `StorageError`.
        """

        self._run(_admitting(login, client))

    async def admit_async(self, login: str, client: RemoteClient) -> None:
        """`admit` for a caller on an asyncio event loop: no thread waits for the command,
        which joins the group commit's batches all the same. Raises what `admit` raises."""
        await self._run_async(_admitting(login, client))

    # --- operations -----------------------------------------------------------------
    def new_svtrid(self) -> str:
        """A server transaction id in WAPI's shape `<unix>.<process>.<counter>`,
        `process` drawn at random per process (see `_SvtridSource`). Raises nothing."""
        return _SVTRIDS.mint(self._clock())

    def minted_here(self, svtrid: str) -> bool:
        """Whether this process minted `svtrid` (its accepted operations' own). Raises
        nothing."""
        return _SVTRIDS.minted_here(svtrid)

    def accept(
        self,
        login: str,
        cltrid: str,
        command: str,
        *,
        init_request: InitRequest | None = None,
        client: RemoteClient | None = None,
    ) -> Pending:
        """Accept an asynchronous operation: answers `1001 Request pending` with a new
        svTRID. `client`: a client over the network, let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended, 2005 clTRID too long,
        2100 no command, 2101 an init request nesting too deep; with a `client`, 2050 and
        2051 as `admit`), `Conflict`, `StorageError`.
        """

        return self._run(self._accepting(login, cltrid, command, init_request, client))

    async def accept_async(
        self,
        login: str,
        cltrid: str,
        command: str,
        *,
        init_request: InitRequest | None = None,
        client: RemoteClient | None = None,
    ) -> Pending:
        """`accept` for a caller on an asyncio event loop: no thread waits for the command,
        which joins the group commit's batches all the same. Raises what `accept` raises."""
        return await self._run_async(self._accepting(login, cltrid, command, init_request, client))

    def _accepting(
        self,
        login: str,
        cltrid: str,
        command: str,
        init_request: InitRequest | None,
        client: RemoteClient | None,
    ) -> Callable[[Work], Pending]:
        # Credentials never enter the log (a JobResult returns the rest of it).
        stored_request = init_request and redacted(
            init_request, self._secret_params, self._secret_headers
        )

        def body(work: Work) -> Pending:
            _admitted(work, login, client)
            while True:
                # A svTRID met again (another process drew the same) is refused: draw again.
                svtrid = self.new_svtrid()
                accept = op.AcceptOperation(
                    svtrid=svtrid,
                    cltrid=cltrid,
                    command=command,
                    login=login,
                    init_request=stored_request,
                )
                decided = work.decide(OPERATION, svtrid, accept, new=True)
                if not isinstance(decided, Rejection):
                    break
                if decided.code != Code.OBJECT_EXISTS:
                    raise Rejected.of(decided)
            return Pending(
                code=Code.PENDING,
                text=Code.PENDING.text,
                svtrid=svtrid,
                cltrid=cltrid,
                command=command,
                timestamp=work.now,
            )

        return body

    def step(self, svtrid: str, text: str) -> None:
        """Record a step of a running operation.

        Raises `Rejected` (2303 unknown svTRID, 2304 ended, 2100 no text), `Conflict`,
        `StorageError`.
        """
        self._run(lambda work: work.must(OPERATION, svtrid, op.RecordStep(text)))

    def end(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Notification:
        """End an operation with a final answer (1000, or 2000-5999): its notification
        is queued in the account's mailbox or, for a push account, its delivery
        scheduled, all in one transaction (the domain's `ending` process decides).

        Raises `Rejected` (2303 unknown svTRID, 2304 already ended, 2100 no result
        text, 2101 a code that is not final, or `data` whose keys are not XML names or
        that nests over 32 levels), `Conflict`, `StorageError`.
        """
        command = op.EndOperation(code=code, result=result, data=data, batch_state=batch_state)
        return self._run(self._ending(svtrid, command))

    async def end_async(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Notification:
        """`end` for a caller on an asyncio event loop: no thread waits for the command,
        which joins the group commit's batches all the same. Raises what `end` raises."""
        command = op.EndOperation(code=code, result=result, data=data, batch_state=batch_state)
        return await self._run_async(self._ending(svtrid, command))

    def _ending(self, svtrid: str, command: op.EndOperation) -> Callable[[Work], Notification]:
        def body(work: Work) -> Notification:
            operation = work.state(OPERATION, svtrid)
            login = operation.accepted.login if operation.accepted is not None else None
            decided = end(
                operation,
                work.state(ACCOUNT, login) if login is not None else ACCOUNT.initial,
                work.state(MAILBOX, login) if login is not None else MAILBOX.initial,
                command,
                work.now,
            )
            if isinstance(decided, Rejection):
                raise Rejected.of(decided)
            self._save(work, svtrid, decided)
            return decided.notification

        return body

    @staticmethod
    def _save(work: Work, svtrid: str, ending: Ending) -> None:
        work.record(OPERATION, svtrid, ending.operation)
        work.record(MAILBOX, ending.login, ending.mailbox)
        key = f"{ending.login}/{ending.notification.id}"
        work.record(DELIVERY, key, ending.delivery, new=True)

    def operation(self, svtrid: str) -> op.OperationState | None:
        """The operation, or None when it was never accepted.

        Raises `StorageError`.
        """
        state = self._run(lambda work: work.state(OPERATION, svtrid))
        return state if state.accepted is not None else None

    async def operation_async(self, svtrid: str) -> op.OperationState | None:
        """`operation` for a caller on an asyncio event loop (see `end_async`). Raises
        what `operation` raises."""
        state = await self._run_async(lambda work: work.state(OPERATION, svtrid))
        return state if state.accepted is not None else None

    def pending_operations(self, command: str | None = None) -> list[op.OperationState]:
        """Operations accepted and not yet ended (optionally of one command), oldest first.

        Read from the open operations' projection (`store.open_operations`), so it costs
        what is open, not every operation ever made; loaded `_PENDING_CHUNK` to a command, so
        a long list does not hold up the writers queued behind it.

        Raises `StorageError`.
        """
        with storage_errors():
            svtrids = self._store.open_operations()
        pending = []
        for start in range(0, len(svtrids), _PENDING_CHUNK):
            chunk = svtrids[start : start + _PENDING_CHUNK]

            def load(work: Work, chunk: list[str] = chunk) -> list[op.OperationState]:
                return [work.state(OPERATION, svtrid) for svtrid in chunk]

            pending += [
                state
                for state in self._run(load)
                if state.accepted is not None
                and state.ended is None
                and (command is None or state.accepted.command == command)
            ]
        return pending

    # --- poll queue -----------------------------------------------------------------
    def poll(
        self, login: str, *, svtrid: str | None = None, client: RemoteClient | None = None
    ) -> PollAnswer:
        """The oldest unacked notification (1000, with the queue count), 1003 when the
        queue is empty, 2150 when the account does not poll. The first poll that returns
        a notification is recorded under `svtrid` (one is minted when none is given).
        `client`: a client over the network, let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended; with a `client`, 2050
        and 2051 as `admit`), `Conflict`, `StorageError`.
        """
        return self._run(self._polling(login, svtrid, client))

    async def poll_async(
        self, login: str, *, svtrid: str | None = None, client: RemoteClient | None = None
    ) -> PollAnswer:
        """`poll` for a caller on an asyncio event loop: no thread waits for the command,
        which joins the group commit's batches all the same. Raises what `poll` raises."""
        return await self._run_async(self._polling(login, svtrid, client))

    def _polling(
        self, login: str, svtrid: str | None, client: RemoteClient | None
    ) -> Callable[[Work], PollAnswer]:
        poll_svtrid = svtrid if svtrid is not None else self.new_svtrid()

        def body(work: Work) -> PollAnswer:
            polls = _admitted(work, login, client).polls
            command = mbx.PollNotification(svtrid=poll_svtrid, polls=polls)
            decided = work.decide(MAILBOX, login, command)
            if isinstance(decided, Rejection):
                return PollAnswer(code=decided.code, text=decided.text, svtrid=poll_svtrid)
            head = mbx.peek(work.state(MAILBOX, login))
            if head is None:  # never: the poll was not refused, so the queue holds one
                return PollAnswer(
                    code=Code.QUEUE_EMPTY, text=Code.QUEUE_EMPTY.text, svtrid=poll_svtrid
                )
            return PollAnswer(
                code=Code.OK,
                text=Code.OK.text,
                svtrid=poll_svtrid,
                notification=head.notification,
                count=head.count,
            )

        return body

    def ack(
        self, login: str, notification_id: int | str, *, client: RemoteClient | None = None
    ) -> Answer:
        """Acknowledge the head of the queue (1002); a repeated ack of the id acked last
        answers 1002 again. Any other id, known or not (a malformed string too), answers
        2151; 2150 when the account does not poll. `client`: a client over the network,
        let in first (see `admit`).

        Raises `Rejected` (2303 unknown account, 2053 suspended; with a `client`, 2050
        and 2051 as `admit`), `Conflict`, `StorageError`.
        """

        return self._run(_acking(login, notification_id, client))

    async def ack_async(
        self, login: str, notification_id: int | str, *, client: RemoteClient | None = None
    ) -> Answer:
        """`ack` for a caller on an asyncio event loop: no thread waits for the command,
        which joins the group commit's batches all the same. Raises what `ack` raises."""
        return await self._run_async(_acking(login, notification_id, client))

    def mailbox(self, login: str) -> MailboxView:
        """The account's poll queue: count, the oldest's time, the notifications.

        Raises `StorageError`.
        """
        return mailbox_view(self._run(lambda work: work.state(MAILBOX, login)))

    def delivery(self, login: str, notification_id: int) -> dlv.DeliveryState:
        """The push delivery of a notification (status "new" when there is none).

        Raises `StorageError`.
        """
        key = f"{login}/{notification_id}"
        return self._run(lambda work: work.state(DELIVERY, key))

    # --- audit ----------------------------------------------------------------------
    def trail(
        self,
        svtrid: str | None = None,
        *,
        cltrid: str | None = None,
        notification: tuple[str, int] | None = None,
        endpoint: tuple[str, str] | None = None,
    ) -> list[TrailEntry]:
        """Every event about one operation (by `svtrid`), the operations of a clTRID,
        one notification (`(login, id)`: its queueing or its delivery's attempts), or
        one push endpoint (`(login, url or address)`: failures, pauses, probes,
        resumes), in log order, each with its position and time. Empty when nothing
        matches.

        Raises ValueError unless exactly one of the four is given; `StorageError`.
        """
        given = [key for key in (svtrid, cltrid, notification, endpoint) if key is not None]
        if len(given) != 1:
            raise ValueError("trail takes exactly one of svtrid, cltrid, notification, endpoint")
        with storage_errors():
            if endpoint is not None:
                return self._audit.by_endpoint(*endpoint)
            if notification is not None:
                return self._audit.by_notification(*notification)
            if cltrid is not None:
                return self._audit.by_cltrid(cltrid)
            return self._audit.by_svtrid(svtrid or "")

    def state_at(self, kind: Decider[S, Any, Any], key: str, at: datetime) -> S:
        """The state of stream `(kind, key)` as it was at time `at`, rebuilt from the
        log; `kind` is one of `tidings.domain`'s ACCOUNT, OPERATION, MAILBOX, DELIVERY.

        Raises ValueError for a naive `at` (no time zone); `StorageError`.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("state_at needs an aware datetime (with a time zone)")
        with storage_errors():
            return self._audit.state_at(kind, key, at)

    def log(
        self,
        start: int = 1,
        page_size: int = 1000,
        *,
        topics: Sequence[str] = (),
        stop: int | None = None,
    ) -> Iterator[LogEntry]:
        """The notification log from position `start` on (up to `stop`, inclusive, when
        given), read `page_size` at a time; only the entries of `topics` (event type
        names) when given.

        Raises `StorageError` (while iterating).
        """
        with storage_errors():
            yield from self._store.log(start, page_size, topics, stop)

    def last_position(self) -> int:
        """The log's last position (0 while it is empty).

        Raises `StorageError`.
        """
        with storage_errors():
            return self._store.max_position()

    # --- push delivery --------------------------------------------------------------
    # Used by the due-work runner (`adapters.push.due`), the shell and the JSON API.
    # Views carry no secret; a `Claim` does (the runner signs with it) and is never shown.

    @functools.cached_property
    def guard(self) -> AddressGuard:
        """The address guard, with the networks of TIDINGS_PUSH_ALLOW read once."""
        return AddressGuard()

    def _check_push_target(self, channel: Channel) -> None:
        """Refuse (2101) a URL channel whose host is, or resolves to, a non-public
        address (see `adapters.push.guard`)."""
        if isinstance(channel, UrlChannel):
            for url in (channel.success_url, channel.error_url):
                if url is None:
                    continue
                try:
                    self.guard.check_url(url)
                except (Refused, ValueError) as refused:
                    raise Rejected(Code.INVALID_PARAMETER, f"push URL refused: {refused}") from None

    def settle_attempts(
        self,
        attempts: Sequence[Attempted],
        wanted: Sequence[tuple[str, int]],
        *,
        claimant: str,
    ) -> tuple[list[dlv.DeliveryState | None], list[Claim | Held | None]]:
        """Record what each of `attempts` got, then claim the next attempt of each
        delivery `(login, notification id)` in `wanted` for `claimant`, all in one
        transaction (the runner's workers record an attempt and claim their next in one
        commit). One answer per attempt and per delivery, in order.

        An attempt recorded is counted for its endpoint's health, and a delivery that
        gives up falls back to the poll queue when its account says so (the domain's
        `fallback`); its answer is the delivery's state, or None when the attempt was
        taken over meanwhile (nothing recorded for it).

        A claim has a lease of twice the account's attempt timeout. `Held` when the
        delivery may not start now: not due yet, claimed by another process (until its
        lease runs out), its endpoint paused (and this is not the interval's probe), or an
        earlier delivery of an ordered account not done. None when nothing is left to do
        (done, or never scheduled). A delivery scheduled before deliveries kept their
        notification is given up, saying so.

        Raises `Conflict`, `StorageError`.
        """

        def body(work: Work) -> tuple[list[dlv.DeliveryState | None], list[Claim | Held | None]]:
            recorded = [_record_attempt(work, attempt) for attempt in attempts]
            return recorded, [_claim_attempt(work, claimant, *one) for one in wanted]

        recorded, claims = self._run(body)
        # The secrets are kept beside the log, not in it (`store.secrets`): read after
        # the transaction, from the store's cache.
        return recorded, [
            replace(
                one,
                signing_secret=self._signing_secret(one.account, one.account.secret_id),
                previous_secret=self._signing_secret(one.account, one.account.previous_secret_id),
            )
            if isinstance(one, Claim)
            else one
            for one in claims
        ]

    def deliveries(
        self, login: str, *, status: dlv.DeliveryStatus | None = None
    ) -> list[DeliveryView]:
        """The account's pushed notifications (optionally only those in `status`, e.g.
        "gave_up"), oldest first.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """

        def ids(work: Work) -> int:
            _existing(work, login)
            mailbox: mbx.MailboxState = work.state(MAILBOX, login)
            return mailbox.next_id

        next_id: int = self._run(ids)
        views: list[DeliveryView] = []
        for start in range(1, next_id, _PENDING_CHUNK):
            keys = [f"{login}/{n}" for n in range(start, min(start + _PENDING_CHUNK, next_id))]

            def load(work: Work, keys: list[str] = keys) -> list[dlv.DeliveryState]:
                return [work.state(DELIVERY, key) for key in keys]

            states: list[dlv.DeliveryState] = self._run(load)
            views += [
                delivery_view(state)
                for state in states
                if state.scheduled is not None and status in (None, state.status)
            ]
        return views

    def redeliver(
        self, login: str, notification_id: int | None = None, *, since: datetime | None = None
    ) -> list[int]:
        """Requeue given-up deliveries with a fresh schedule: one (`notification_id`;
        2304 when it has not given up, 2303 when it does not exist), or every one that
        gave up at or after `since`, or all. Returns the ids requeued.

        Raises `Rejected` (2303 unknown account or delivery, 2304 a delivery that has not
        given up), `Conflict`, `StorageError`.
        """
        if notification_id is not None:
            key = f"{login}/{notification_id}"
            self._run(lambda work: work.must(DELIVERY, key, dlv.RequeueDelivery()))
            return [notification_id]
        given_up = self.deliveries(login, status="gave_up")
        chosen = [
            v.notification_id
            for v in given_up
            if since is None or (v.gave_up_at is not None and v.gave_up_at >= since)
        ]

        def requeue(work: Work) -> list[int]:
            requeued = dlv.RequeueDelivery()
            return [
                n
                for n in chosen
                if not isinstance(work.decide(DELIVERY, f"{login}/{n}", requeued), Rejection)
            ]

        done: list[int] = self._run(requeue)
        return done

    def endpoints(self, login: str) -> list[EndpointView]:
        """The health of the account's current push targets.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """

        def body(work: Work) -> list[EndpointView]:
            targets = _targets(_existing(work, login).channel)
            return [
                endpoint_view(login, t, work.state(ENDPOINT, ept.key(login, t))) for t in targets
            ]

        views: list[EndpointView] = self._run(body)
        return views

    def resume_endpoint(self, login: str, target: str | None = None) -> list[str]:
        """Resume a paused endpoint of the account (`target`), or all of its current
        targets; returns the targets that were paused and now are not.

        Raises `Rejected` (2303 unknown account), `Conflict`, `StorageError`.
        """

        def body(work: Work) -> list[str]:
            channel = _existing(work, login).channel
            targets = [target] if target else _targets(channel)
            return [
                t for t in targets if work.decide(ENDPOINT, ept.key(login, t), ept.ResumeEndpoint())
            ]

        resumed: list[str] = self._run(body)
        return resumed


def _acking(
    login: str, notification_id: int | str, client: RemoteClient | None
) -> Callable[[Work], Answer]:
    def body(work: Work) -> Answer:
        polls = _admitted(work, login, client).polls
        command = mbx.AckNotification(notification_id=str(notification_id), polls=polls)
        decided = work.decide(MAILBOX, login, command)
        if isinstance(decided, Rejection):
            return Answer(decided.code, decided.text)
        return Answer(Code.ACKED, Code.ACKED.text)

    return body


def _admitting(login: str, client: RemoteClient) -> Callable[[Work], None]:
    def body(work: Work) -> None:
        _admitted(work, login, client)

    return body


def _claim_attempt(
    work: Work, claimant: str, login: str, notification_id: int
) -> Claim | Held | None:
    """The next attempt of one delivery, claimed for `claimant` (see `settle_attempts`)."""
    key = f"{login}/{notification_id}"
    state: dlv.DeliveryState = work.state(DELIVERY, key)
    account: acc.AccountState = work.state(ACCOUNT, login)
    scheduled = state.scheduled
    due = dlv.due_at(state)
    if scheduled is None or due is None:
        return None
    if scheduled.notification is None:
        work.must(DELIVERY, key, dlv.GiveUp("its notification was not recorded"))
        return None
    channel = account.channel
    timeout = channel.timeout if isinstance(channel, UrlChannel | EmailChannel) else 15.0
    start = dlv.StartAttempt(claimant=claimant, lease=2 * timeout)
    if isinstance(DELIVERY.decide(state, start, work.now), Rejection):
        return Held(until=max(due, work.now))
    if isinstance(channel, UrlChannel) and channel.ordered and notification_id > 1:
        earlier_key = f"{login}/{notification_id - 1}"
        earlier: dlv.DeliveryState = work.state(DELIVERY, earlier_key)
        if dlv.holds_back(earlier):
            until = dlv.due_at(earlier) or work.now
            return Held(until=max(until, work.now), waits_on=(DELIVERY.category, earlier_key))
    endpoint_key = ept.key(login, scheduled.target)
    probe = work.decide(ENDPOINT, endpoint_key, ept.ClaimProbe())
    if isinstance(probe, Rejection):
        paused: ept.EndpointState = work.state(ENDPOINT, endpoint_key)
        until = paused.next_probe_at or work.now
        return Held(until=until, waits_on=(ENDPOINT.category, endpoint_key))
    work.must(DELIVERY, key, start)
    claimed: dlv.DeliveryState = work.state(DELIVERY, key)
    assert claimed.lease_until is not None
    return Claim(
        number=len(claimed.attempts),
        scheduled=scheduled,
        notification=scheduled.notification,
        account=account,
        lease_until=claimed.lease_until,
    )


def _record_attempt(work: Work, attempt: Attempted) -> dlv.DeliveryState | None:
    """What one attempt got, and its count for the endpoint's health (see
    `settle_attempts`)."""
    login, answer = attempt.login, attempt.reply
    key = f"{login}/{attempt.notification_id}"
    record = dlv.RecordAttempt(
        status=answer.status,
        error=answer.error,
        duration_ms=answer.duration_ms,
        jitter=attempt.jitter,
        retry_after=answer.retry_after,
        number=attempt.number,
        answer=answer.answer,
    )
    decided = work.decide(DELIVERY, key, record)
    if isinstance(decided, Rejection):
        return None
    state: dlv.DeliveryState = work.state(DELIVERY, key)
    assert state.scheduled is not None
    channel = work.state(ACCOUNT, login).channel
    settings = channel if isinstance(channel, UrlChannel) else UrlChannel()
    outcome = ept.RecordOutcome(
        ok=state.status == "succeeded",
        pause_after=settings.pause_after,
        probe_every=settings.probe_every,
    )
    work.must(ENDPOINT, ept.key(login, state.scheduled.target), outcome)
    mailbox = work.state(MAILBOX, login)
    work.record(MAILBOX, login, fall_back(work.state(ACCOUNT, login), state, mailbox, work.now))
    return state


def _existing(work: Work, login: str) -> acc.AccountState:
    """The account; 2303 when it was never opened (suspended or not: these are the
    operator's calls, not the client's)."""
    account: acc.AccountState = work.state(ACCOUNT, login)
    if not account.opened:
        raise Rejected(Code.OBJECT_NOT_FOUND, f"account {login!r} does not exist")
    return account


def _targets(channel: Channel) -> list[str]:
    match channel:
        case UrlChannel(success_url=success, error_url=error):
            return [url for url in dict.fromkeys((success, error)) if url]
        case EmailChannel(address=address):
            return [address]
    return []
