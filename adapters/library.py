"""`Tidings`: the library a backend embeds.

    t = Tidings("tidings.db")                       # or "postgresql://user@host:5432/db"
    t.open_account("tester", "123456")
    pending = t.accept("tester", "AvrX87Kqk6h3", "domain-renew")   # 1001, svTRID
    t.end(pending.svtrid, 1000, "OK")               # queues the notification
    answer = t.poll("tester", svtrid=t.new_svtrid())  # 1000 + the oldest notification
    t.ack("tester", str(answer.notification.id))    # 1002

Every method is synchronous and thread-safe; a method that changes something returns
once that change is durable. Calls from many threads at once are saved together, one
transaction for all of them (group commit). Commands the core refuses raise `Rejected`
(with `.code` and `.text`) and change nothing; poll and ack instead return their
protocol answer (1000/1003/2150, 1002/2150/2151), because those are normal replies.
"""

import hashlib
import itertools
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    MAILBOX,
    OPERATION,
    BatchState,
    Channel,
    Code,
    InitRequest,
    Notification,
    PollChannel,
    Rejection,
    RetryPolicy,
    push_target,
)
from tidings.domain import account as acc
from tidings.domain import delivery as dlv
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.values import EmailChannel, UrlChannel, password_problem

from .audit.trail import Audit, TrailEntry
from .store.application import SNAPSHOT_EVERY, LogEntry, Store
from .store.commit import GroupCommit
from .store.work import Conflict, Rejected, Work

__all__ = [
    "AccountPage",
    "Answer",
    "Conflict",
    "Pending",
    "PollAnswer",
    "Rejected",
    "Tidings",
    "TrailEntry",
]


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
    included), 1003 with an empty queue, or 2150 when the account does not poll."""

    code: Code
    text: str
    notification: Notification | None = None
    count: int = 0


class AccountPage(Struct, frozen=True, kw_only=True):
    """Accounts in the order they were opened; `next` is the `after` of the next page
    (None: this page is the last)."""

    accounts: list[acc.AccountState]
    next: int | None


class Answer(Struct, frozen=True):
    code: Code
    text: str


_OPENED = ("AccountOpened",)
# Open operations loaded per command by `pending_operations`.
_PENDING_CHUNK = 100

# One counter per process, shared by every instance: with the pid it keeps svTRIDs unique.
_SVTRID_COUNTER = itertools.count(1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _password_sha1(password: str) -> str:
    """The digest an account keeps; raises `Rejected` (2101) for a password the core
    refuses."""
    if problem := password_problem(password):
        raise Rejected(Code.INVALID_PARAMETER, problem)
    return _sha1(password)


def _secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


class Tidings:
    """Accounts, operations and their notifications, on an append-only event log.

    `db` is a SQLite file path or a `postgresql://` URL. `clock` returns aware UTC
    datetimes (tests pass a fake one).
    """

    def __init__(
        self,
        db: str = "tidings.db",
        *,
        clock: Callable[[], datetime] = _utcnow,
        snapshot_every: int = SNAPSHOT_EVERY,
    ):
        self.store = Store(db, snapshot_every=snapshot_every)
        self.committer = GroupCommit(self.store)
        self.clock = clock
        self.audit = Audit(self.store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Tidings":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, body: Callable[[Work], Any]) -> Any:
        return self.committer.execute(self.clock, body)

    # --- accounts -------------------------------------------------------------------
    def open_account(
        self,
        login: str,
        password: str,
        *,
        channel: Channel = PollChannel(),
        retry_policy: RetryPolicy = RetryPolicy(),
        allowed_ips: tuple[str, ...] = (),
    ) -> acc.AccountState:
        """Open an account; only `sha1(password)` is stored. 2302 if it exists, 2101 for
        an empty or whitespace-only password or other invalid settings."""
        command = acc.OpenAccount(
            login=login,
            password_sha1=_password_sha1(password),
            signing_secret=_secret(),
            channel=channel,
            retry_policy=retry_policy,
            allowed_ips=allowed_ips,
        )
        return self._account_command(login, command)

    def _account_command(self, login: str, command: acc.AccountCommand) -> acc.AccountState:
        def body(work: Work) -> acc.AccountState:
            work.must(ACCOUNT, login, command)
            return work.state(ACCOUNT, login)

        result: acc.AccountState = self._run(body)
        return result

    def configure(
        self,
        login: str,
        *,
        channel: Channel | None = None,
        retry_policy: RetryPolicy | None = None,
        allowed_ips: tuple[str, ...] | None = None,
    ) -> acc.AccountState:
        """Change any of an account's settings at once: all of them or, when one is
        refused (`Rejected`: 2303 unknown account, 2101 invalid setting), none."""
        commands: list[acc.AccountCommand] = []
        if channel is not None:
            commands.append(acc.ConfigureChannel(channel))
        if retry_policy is not None:
            commands.append(acc.SetRetryPolicy(retry_policy))
        if allowed_ips is not None:
            commands.append(acc.SetIpAllowList(allowed_ips))

        def body(work: Work) -> acc.AccountState:
            for command in commands:
                work.must(ACCOUNT, login, command)
            return work.state(ACCOUNT, login)

        result: acc.AccountState = self._run(body)
        return result

    def configure_channel(self, login: str, channel: Channel) -> acc.AccountState:
        return self._account_command(login, acc.ConfigureChannel(channel))

    def set_retry_policy(self, login: str, policy: RetryPolicy) -> acc.AccountState:
        return self._account_command(login, acc.SetRetryPolicy(policy))

    def set_allowed_ips(self, login: str, ips: tuple[str, ...]) -> acc.AccountState:
        return self._account_command(login, acc.SetIpAllowList(ips))

    def change_password(self, login: str, password: str) -> acc.AccountState:
        return self._account_command(login, acc.ChangePassword(_password_sha1(password)))

    def rotate_secret(self, login: str) -> str:
        """A new signing secret for pushed notifications; returns it."""
        return self._account_command(login, acc.RotateSecret(_secret())).signing_secret

    def suspend(self, login: str, reason: str) -> acc.AccountState:
        return self._account_command(login, acc.SuspendAccount(reason))

    def resume(self, login: str) -> acc.AccountState:
        return self._account_command(login, acc.ResumeAccount())

    def account(self, login: str) -> acc.AccountState | None:
        """The account's current state, or None when it was never opened."""
        state: acc.AccountState = self._run(lambda work: work.state(ACCOUNT, login))
        return state if state.opened else None

    def accounts(self, *, after: int = 0, limit: int = 100) -> AccountPage:
        """A page of accounts in the order they were opened: up to `limit` (1-1000) of
        those opened after `after` (0, or the `next` of the page before). Raises
        `Rejected` (2101) for a limit or cursor out of range."""
        if not 1 <= limit <= 1000 or after < 0:
            raise Rejected(Code.INVALID_PARAMETER, "limit is 1-1000 and after is 0 or more")
        openings = list(itertools.islice(self.log(after + 1, limit, topics=_OPENED), limit))
        logins = [entry.event.login for entry in openings]
        states: list[acc.AccountState] = self._run(
            lambda work: [work.state(ACCOUNT, login) for login in logins]
        )
        last = openings[-1].position if len(openings) == limit else None
        return AccountPage(accounts=states, next=last)

    # --- operations -----------------------------------------------------------------
    def new_svtrid(self) -> str:
        """A server transaction id in WAPI's shape `<unix>.<process>.<counter>`."""
        return f"{int(self.clock().timestamp())}.{os.getpid()}.{next(_SVTRID_COUNTER)}"

    def accept(
        self,
        login: str,
        cltrid: str,
        command: str,
        *,
        init_request: InitRequest | None = None,
    ) -> Pending:
        """Accept an asynchronous operation: answers `1001 Request pending` with a new
        svTRID. 2303 for an unknown account, 2053 for a suspended one."""

        def body(work: Work) -> Pending:
            account = work.state(ACCOUNT, login)
            if not account.opened:
                raise Rejected(Code.OBJECT_NOT_FOUND, f"account {login!r} does not exist")
            if account.suspended:
                raise Rejected(Code.ACCOUNT_SUSPENDED, Code.ACCOUNT_SUSPENDED.text)
            while True:
                # A reused pid may meet an old svTRID: the core says so, we draw again.
                svtrid = self.new_svtrid()
                accept = op.AcceptOperation(
                    svtrid=svtrid,
                    cltrid=cltrid,
                    command=command,
                    login=login,
                    init_request=init_request,
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

        result: Pending = self._run(body)
        return result

    def step(self, svtrid: str, text: str) -> None:
        """Record a step of a running operation (2303 unknown, 2304 ended)."""
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
        """End an operation: its notification is queued in the account's mailbox and,
        for a push account, its delivery scheduled, all in one transaction.

        Raises `Rejected`: 2303 unknown svTRID, 2304 already ended, 2101 bad code.
        """

        def body(work: Work) -> Notification:
            end = op.EndOperation(code=code, result=result, data=data, batch_state=batch_state)
            work.must(OPERATION, svtrid, end)
            operation: op.OperationState = work.state(OPERATION, svtrid)
            assert operation.accepted is not None
            login = operation.accepted.login
            outcome = op.outcome(operation)
            queued = work.must(MAILBOX, login, mbx.EnqueueNotification(outcome))
            event = queued[0]
            assert isinstance(event, mbx.NotificationQueued)
            notification = event.notification
            account = work.state(ACCOUNT, login)
            target = push_target(account.channel, outcome)
            if target is not None:
                medium: dlv.Medium = "email" if isinstance(account.channel, EmailChannel) else "url"
                expected = (
                    account.channel.expected_status
                    if isinstance(account.channel, UrlChannel)
                    else frozenset({250})
                )
                schedule = dlv.ScheduleDelivery(
                    login=login,
                    notification_id=notification.id,
                    medium=medium,
                    target=target,
                    expected_status=expected,
                    retry_policy=account.retry_policy,
                )
                work.must(DELIVERY, f"{login}/{notification.id}", schedule, new=True)
            return notification

        notification: Notification = self._run(body)
        return notification

    def operation(self, svtrid: str) -> op.OperationState | None:
        state: op.OperationState = self._run(lambda work: work.state(OPERATION, svtrid))
        return state if state.accepted is not None else None

    def pending_operations(self, command: str | None = None) -> list[op.OperationState]:
        """Operations accepted and not yet ended (optionally of one command), oldest first.

        Read from the open operations the store keeps beside the log, so it costs what
        is open, not every operation ever made; loaded `_PENDING_CHUNK` to a command, so
        a long list does not hold up the writers queued behind it."""
        svtrids = self.store.open_operations()
        pending = []
        for start in range(0, len(svtrids), _PENDING_CHUNK):
            chunk = svtrids[start : start + _PENDING_CHUNK]

            def load(work: Work, chunk: list[str] = chunk) -> list[op.OperationState]:
                return [work.state(OPERATION, svtrid) for svtrid in chunk]

            states: list[op.OperationState] = self._run(load)
            pending += [
                state
                for state in states
                if state.accepted is not None
                and state.ended is None
                and (command is None or state.accepted.command == command)
            ]
        return pending

    # --- poll queue -----------------------------------------------------------------
    def poll(self, login: str, *, svtrid: str) -> PollAnswer:
        """The oldest unacked notification (1000, with the queue count), 1003 when the
        queue is empty, 2150 when the account does not poll. The first poll that returns
        a notification is recorded under `svtrid`. 2303 for an unknown account."""

        def body(work: Work) -> PollAnswer:
            polls = self._polls(work, login)
            decided = work.decide(MAILBOX, login, mbx.PollNotification(svtrid=svtrid, polls=polls))
            if isinstance(decided, Rejection):
                return PollAnswer(code=decided.code, text=decided.text)
            head = mbx.peek(work.state(MAILBOX, login))
            assert head is not None
            return PollAnswer(
                code=Code.OK, text=Code.OK.text, notification=head.notification, count=head.count
            )

        answer: PollAnswer = self._run(body)
        return answer

    def ack(self, login: str, notification_id: str) -> Answer:
        """Acknowledge the head of the queue (1002); a repeated ack of the id acked last
        answers 1002 again. Any other id, known or not, answers 2151; 2150 when the
        account does not poll."""

        def body(work: Work) -> Answer:
            polls = self._polls(work, login)
            command = mbx.AckNotification(notification_id=str(notification_id), polls=polls)
            decided = work.decide(MAILBOX, login, command)
            if isinstance(decided, Rejection):
                return Answer(decided.code, decided.text)
            return Answer(Code.ACKED, Code.ACKED.text)

        answer: Answer = self._run(body)
        return answer

    @staticmethod
    def _polls(work: Work, login: str) -> bool:
        account: acc.AccountState = work.state(ACCOUNT, login)
        if not account.opened:
            raise Rejected(Code.OBJECT_NOT_FOUND, f"account {login!r} does not exist")
        return account.polls

    def mailbox(self, login: str) -> mbx.MailboxState:
        state: mbx.MailboxState = self._run(lambda work: work.state(MAILBOX, login))
        return state

    def delivery(self, login: str, notification_id: int) -> dlv.DeliveryState:
        key = f"{login}/{notification_id}"
        state: dlv.DeliveryState = self._run(lambda work: work.state(DELIVERY, key))
        return state

    # --- audit ----------------------------------------------------------------------
    def trail(self, key: str) -> list[TrailEntry]:
        """Every event about a svTRID, a clTRID or a notification (`"<login>/<id>"`), in
        log order, each with its position and time. Empty when nothing matches."""
        return self.audit.trail(key)

    def state_at(self, category: str, key: str, at: datetime) -> Any:
        """The state of stream `(category, key)` as it was at time `at`, rebuilt from the
        log. `category` is one of account, operation, mailbox, delivery."""
        return self.audit.state_at(category, key, at)

    def log(
        self, start: int = 1, page_size: int = 1000, *, topics: Sequence[str] = ()
    ) -> Iterator[LogEntry]:
        """The notification log from position `start` on, read `page_size` at a time;
        only the entries of `topics` (event type names) when given."""
        return self.store.log(start, page_size, topics)
