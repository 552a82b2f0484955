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

import base64
import functools
import hashlib
import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct
from tidings.domain import (
    ACCOUNT,
    DELIVERY,
    ENDPOINT,
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
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain import operation as op
from tidings.domain.redaction import SECRET_PARAMS, redacted
from tidings.domain.values import EmailChannel, UrlChannel

from .audit.trail import Audit, TrailEntry
from .push.deliverer import Reply
from .push.guard import AddressGuard, Refused
from .push.views import Claim, DeliveryView, EndpointView, Held, delivery_view, endpoint_view
from .store.application import SNAPSHOT_EVERY, LogEntry, Store
from .store.commit import GroupCommit
from .store.work import Conflict, Rejected, Work

__all__ = ["Answer", "Conflict", "Pending", "PollAnswer", "Rejected", "Tidings", "TrailEntry"]


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


class Answer(Struct, frozen=True):
    code: Code
    text: str


# Open operations loaded per command by `pending_operations`.
_PENDING_CHUNK = 100

# One counter per process, shared by every instance: with the pid it keeps svTRIDs unique.
_SVTRID_COUNTER = itertools.count(1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _secret() -> str:
    # Standard Webhooks: "whsec_" and the key in standard base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


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
        # Query parameters redacted from recorded init requests: ours and TIDINGS_REDACT_PARAMS.
        extra = os.environ.get("TIDINGS_REDACT_PARAMS", "")
        self.secret_params = SECRET_PARAMS + tuple(p.strip() for p in extra.split(",") if p.strip())

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
        """Open an account; only `sha1(password)` is stored. 2302 if it exists; 2101
        for bad settings, a push URL to a non-public address among them."""
        self._check_push_target(channel)
        command = acc.OpenAccount(
            login=login,
            password_sha1=_sha1(password),
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

    def configure_channel(self, login: str, channel: Channel) -> acc.AccountState:
        self._check_push_target(channel)
        return self._account_command(login, acc.ConfigureChannel(channel))

    def set_retry_policy(self, login: str, policy: RetryPolicy) -> acc.AccountState:
        return self._account_command(login, acc.SetRetryPolicy(policy))

    def set_allowed_ips(self, login: str, ips: tuple[str, ...]) -> acc.AccountState:
        return self._account_command(login, acc.SetIpAllowList(ips))

    def change_password(self, login: str, password: str) -> acc.AccountState:
        return self._account_command(login, acc.ChangePassword(_sha1(password)))

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

        # Credentials never enter the log (a JobResult returns the rest of it).
        stored_request = init_request and redacted(init_request, self.secret_params)

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
                    notification=notification,
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
        """Every event about a svTRID, a clTRID, a notification (`"<login>/<id>"`) or a
        push endpoint (`"<login>/<url or address>"`), in log order, each with its
        position and time. Empty when nothing matches."""
        return self.audit.trail(key)

    def state_at(self, category: str, key: str, at: datetime) -> Any:
        """The state of stream `(category, key)` as it was at time `at`, rebuilt from the
        log. `category` is one of account, operation, mailbox, delivery."""
        return self.audit.state_at(category, key, at)

    def log(self, start: int = 1, page_size: int = 1000) -> Iterator[LogEntry]:
        """The notification log from position `start` on, read `page_size` at a time."""
        return self.store.log(start, page_size)

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

    def claim_attempt(
        self, login: str, notification_id: int, *, claimant: str
    ) -> Claim | Held | None:
        """Claim the next attempt of a delivery for `claimant`, with a lease of twice the
        account's attempt timeout. `Held` when it may not start now: not due yet, claimed
        by another process (until its lease runs out), its endpoint paused (and this is
        not the interval's probe), or an earlier delivery of an ordered account not done.
        None when nothing is left to do (done, or never scheduled). A delivery scheduled
        before deliveries kept their notification is given up, saying so."""

        def body(work: Work) -> Claim | Held | None:
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
                    return Held(
                        until=max(until, work.now), waits_on=(DELIVERY.category, earlier_key)
                    )
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

        result: Claim | Held | None = self._run(body)
        return result

    def record_attempt(
        self, login: str, notification_id: int, number: int, answer: Reply, *, jitter: float
    ) -> dlv.DeliveryState | None:
        """Record what attempt `number` got, and count it for its endpoint's health.
        None when the attempt was taken over meanwhile (nothing recorded)."""

        def body(work: Work) -> dlv.DeliveryState | None:
            key = f"{login}/{notification_id}"
            record = dlv.RecordAttempt(
                status=answer.status,
                error=answer.error,
                duration_ms=answer.duration_ms,
                jitter=jitter,
                retry_after=answer.retry_after,
                number=number,
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
            return state

        result: dlv.DeliveryState | None = self._run(body)
        return result

    def deliveries(
        self, login: str, *, status: dlv.DeliveryStatus | None = None
    ) -> list[DeliveryView]:
        """The account's pushed notifications (optionally only those in `status`, e.g.
        "gave_up"), oldest first. 2303 for an unknown account."""

        def ids(work: Work) -> int:
            self._polls(work, login)  # 2303 for an unknown account
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
        gave up at or after `since`, or all. Returns the ids requeued."""
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
        """The health of the account's current push targets. 2303 for an unknown account."""

        def body(work: Work) -> list[EndpointView]:
            self._polls(work, login)
            targets = _targets(work.state(ACCOUNT, login).channel)
            return [
                endpoint_view(login, t, work.state(ENDPOINT, ept.key(login, t))) for t in targets
            ]

        views: list[EndpointView] = self._run(body)
        return views

    def resume_endpoint(self, login: str, target: str | None = None) -> list[str]:
        """Resume a paused endpoint of the account (`target`), or all of its current
        targets; returns the targets that were paused and now are not."""

        def body(work: Work) -> list[str]:
            self._polls(work, login)
            targets = [target] if target else _targets(work.state(ACCOUNT, login).channel)
            return [
                t for t in targets if work.decide(ENDPOINT, ept.key(login, t), ept.ResumeEndpoint())
            ]

        resumed: list[str] = self._run(body)
        return resumed


def _targets(channel: Channel) -> list[str]:
    match channel:
        case UrlChannel(success_url=success, error_url=error):
            return [url for url in dict.fromkeys((success, error)) if url]
        case EmailChannel(address=address):
            return [address]
    return []
