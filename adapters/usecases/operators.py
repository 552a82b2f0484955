"""Operators and their sessions: who runs the console, what they did, who is signed in.
Only SHA-256 digests of operators' tokens and of session ids enter the log.

Every use case an operator can run takes `by` (`domain.operator.Actor`, None for the
backend itself) and calls `record` in its body: the action and its `OperatorActed` are
saved by one transaction, or neither is."""

import hashlib
import hmac
import secrets
from datetime import datetime

from msgspec import Struct
from tidings.domain import MAILBOX, OPERATOR, SESSION, Code, Notification, Rejection
from tidings.domain import operator as opr
from tidings.domain import session as ses

from ..audit.trail import TrailEntry
from ..errors import Rejected
from ..store.work import Work
from .operations import Operations
from .runtime import Runtime, awaited_call, blocking_call, text

__all__ = ["By", "OperatorCalls", "OperatorView", "Operators", "operator_actions", "record"]

# The operator a call is recorded as; None: the backend's own call, recorded as nothing.
By = opr.Actor | None


def record(work: Work, by: By, login: str, detail: str = "") -> None:
    """Record `by`'s action on account `login` in `work` (nothing when `by` is None).
    Raises `Rejected` (2303 `by` is not an active operator), which drops the action."""
    if by is not None:
        work.must(OPERATOR, by.name, opr.acted(by, login, detail))


class OperatorView(Struct, frozen=True, kw_only=True):
    """An operator, without its token's digest."""

    name: str
    active: bool
    added_at: datetime
    revoked_at: datetime | None
    actions: int


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def operator_actions(runtime: Runtime, login: str) -> list[TrailEntry]:
    """Every operator action on `login`, in log order (read from the whole log)."""
    return [
        TrailEntry(
            position=entry.position,
            stream=f"operator/{entry.event.name}",
            version=0,
            at=entry.event.at,
            kind="OperatorActed",
            event=entry.event,
        )
        for entry in runtime.entries("OperatorActed")
        if entry.event.login == login
    ]


class Operators:
    """The operator and session use cases of one `Tidings` (`OperatorCalls` offers them)."""

    def __init__(self, runtime: Runtime, operations: Operations):
        self._runtime = runtime
        self._operations = operations

    async def add_operator(self, name: str) -> str:
        """Add an operator; returns its token, `<name>.<random>`, shown this once (only
        its SHA-256 is kept). Raises `Rejected` (2302 an active operator of that name,
        2101 a bad name), `Conflict`, `StorageError`."""
        token = f"{text('name', name)}.{secrets.token_urlsafe(32)}"
        command = opr.AddOperator(name=name, token_sha256=_sha256(token))
        await self._runtime.run(lambda work: work.must(OPERATOR, name, command))
        return token

    async def revoke_operator(self, name: str) -> None:
        """Revoke an operator: its token is refused and its sessions end, at once.
        Raises `Rejected` (2303 no active operator of that name), `Conflict`,
        `StorageError`."""
        holder = ses.holder("operator", text("name", name))

        def body(work: Work) -> None:
            work.must(OPERATOR, name, opr.RevokeOperator())
            work.decide(SESSION, holder, ses.EndSessions("operator revoked"))

        await self._runtime.run(body)

    async def operators(self) -> list[OperatorView]:
        """Every operator ever added, in the order they were first added. Raises
        `StorageError`."""
        added = self._runtime.entries("OperatorAdded")
        names = list(dict.fromkeys(entry.event.name for entry in added))
        states = await self._runtime.states(OPERATOR, names)
        shown = OperatorView.__struct_fields__
        return [
            OperatorView(**{name: getattr(s, name) for name in shown})
            for s in states
            if s.added_at is not None
        ]

    async def operator_by_token(self, token: str) -> str | None:
        """The name of the active operator `token` belongs to, or None (constant-time
        comparison). Raises `StorageError`."""
        name = text("token", token).partition(".")[0]
        if opr.name_problem(name):
            return None
        state = await self._runtime.run(lambda work: work.state(OPERATOR, name))
        matches = hmac.compare_digest(state.token_sha256, _sha256(token))
        return name if state.active and matches else None

    async def operator_acted(self, name: str, action: str, login: str, detail: str) -> None:
        """Record that operator `name` did `action`, which changed nothing in the log (a
        verify of it), on account `login` (`detail`: what it concerned); `name` `admin`
        is the JSON API's admin token. An action that changes something records its
        operator itself, in its own transaction (the calls' `by`). Raises `Rejected`
        (2303 the operator is not active), `StorageError`."""
        by = opr.Actor(text("name", name), action)
        await self._runtime.run(lambda work: record(work, by, login, detail))

    async def bulk_ack(self, login: str, up_to: int, *, by: str) -> list[int]:
        """Ack an abandoned poll queue from its head up to id `up_to` (the domain's
        `operator.bulk_acks`), recorded as operator `by`'s action, in one transaction;
        returns the ids acked; `by` `admin` is the JSON API's admin token. Raises
        `Rejected` (2101 an id below 1, 2303 nothing to ack or `by` not an active
        operator), `Conflict`, `StorageError`."""
        text("login", login)

        def body(work: Work) -> list[int]:
            acks = opr.bulk_acks(work.state(MAILBOX, login), up_to)
            if isinstance(acks, Rejection):
                raise Rejected.of(acks)
            for ack in acks:
                work.must(MAILBOX, login, ack)
            acked = [int(ack.notification_id) for ack in acks]
            detail = f"acked {acked[0]}-{acked[-1]}" if len(acked) > 1 else f"acked {acked[0]}"
            record(work, opr.Actor(by, "bulk-ack"), login, detail)
            return acked

        return await self._runtime.run(body)

    async def send_test(self, login: str, *, by: opr.Actor | None = None) -> Notification:
        """Send the account a test notification through its delivery method: an
        operation `test-notification` accepted and ended at once (1000), queued or
        pushed like any other; with `by`, recorded as that operator's action. One unit
        of work: all of it or, refused, none. Its clTRID is `test-` and an id minted as
        svTRIDs are. Returns the notification. Raises `Rejected` (2303 unknown account
        or `by` not an active operator, 2053 suspended), `Conflict`, `StorageError`."""
        operations = self._operations
        cltrid = f"test-{self._runtime.mint_svtrid()}"
        accept = operations.accept(login, cltrid, opr.TEST_COMMAND, init_request=None, client=None)

        def body(work: Work) -> Notification:
            svtrid = accept(work).svtrid
            notification = operations.end(svtrid, int(Code.OK), opr.TEST_RESULT)(work)
            record(work, by, login, f"notification {notification.id}")
            return notification

        return await self._runtime.run(body)

    async def start_session(self, holder: str, digest: str, expires_at: datetime) -> None:
        """Record a new session of `holder` (`domain.session.holder`), known by the
        SHA-256 `digest` of its id, open until `expires_at`. Raises `Rejected` (2101),
        `StorageError`."""
        command = ses.StartSession(session_sha256=digest, expires_at=expires_at)
        await self._runtime.run(lambda work: work.must(SESSION, holder, command))

    async def end_session(self, holder: str, digest: str | None) -> None:
        """End one session of `holder` (None: all of them). Raises `StorageError`."""
        command = ses.EndSession(digest) if digest else ses.EndSessions("signed out everywhere")
        await self._runtime.run(lambda work: work.must(SESSION, holder, command))

    async def session_open(self, holder: str, digest: str) -> bool:
        """Whether that session of `holder` is open now. Raises `StorageError`."""
        return await self._runtime.run(
            lambda work: ses.is_open(work.state(SESSION, holder), digest, work.now)
        )


class OperatorCalls:
    """The operator and session calls of `Tidings`."""

    _runtime: Runtime

    add_operator = blocking_call(Operators.add_operator, "_operators")
    revoke_operator = blocking_call(Operators.revoke_operator, "_operators")
    operators = blocking_call(Operators.operators, "_operators")
    operator_by_token_async = awaited_call(Operators.operator_by_token, "_operators")
    operator_acted_async = awaited_call(Operators.operator_acted, "_operators")
    bulk_ack = blocking_call(Operators.bulk_ack, "_operators")
    bulk_ack_async = awaited_call(Operators.bulk_ack, "_operators")
    send_test = blocking_call(Operators.send_test, "_operators")
    send_test_async = awaited_call(Operators.send_test, "_operators")
    start_session_async = awaited_call(Operators.start_session, "_operators")
    end_session_async = awaited_call(Operators.end_session, "_operators")
    session_open_async = awaited_call(Operators.session_open, "_operators")

    def operator_actions(self, login: str) -> list[TrailEntry]:
        """Every operator action on account `login`, in log order (read from the whole
        log). Raises `StorageError`."""
        return operator_actions(self._runtime, login)
