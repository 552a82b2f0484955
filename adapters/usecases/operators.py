"""Operators and their sessions: who runs the console, what they did, who is signed in.

An operator's token is `<name>.<random>`; only its SHA-256 enters the log
(`domain.operator`). A session (center or console) is known to the log by the SHA-256 of
its random id (`domain.session`): the web pages keep the id in a cookie.

Every use case an operator can run takes `by` (`domain.operator.Actor`, None when the
caller is the backend itself) and calls `record` in its body: the action and its
`OperatorActed` are saved by one transaction, or neither is.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import datetime

from msgspec import Struct
from tidings.domain import MAILBOX, OPERATOR, SESSION, Code, Notification, Rejection
from tidings.domain import operator as opr
from tidings.domain import session as ses

from ..audit.trail import TrailEntry
from ..errors import Rejected
from ..store.work import Work
from .operations import Operations
from .runtime import Runtime, text

__all__ = ["By", "OperatorCalls", "OperatorView", "operator_actions", "record"]

_blocking = Runtime.blocking
_ADDED = ("OperatorAdded",)
_ACTED = ("OperatorActed",)
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


def _log(runtime: Runtime, topics: tuple[str, ...]) -> Iterator[tuple[int, object]]:
    with runtime.reading():
        for entry in runtime.store.log(1, 1000, topics, None):
            yield entry.position, entry.event


def operator_actions(runtime: Runtime, login: str) -> list[TrailEntry]:
    """Every operator action on `login`, in log order (read from the whole log)."""
    return [
        TrailEntry(
            position=position,
            stream=f"operator/{event.name}",
            version=0,
            at=event.at,
            kind="OperatorActed",
            event=event,
        )
        for position, event in _log(runtime, _ACTED)
        if isinstance(event, opr.OperatorActed) and event.login == login
    ]


class OperatorCalls:
    """The operator and session calls of `Tidings`."""

    _runtime: Runtime
    _operations: Operations

    def add_operator(self, name: str) -> str:
        """Add an operator; returns its token, `<name>.<random>`, shown this once (only
        its SHA-256 is kept). Raises `Rejected` (2302 an active operator of that name,
        2101 a bad name), `Conflict`, `StorageError`."""
        token = f"{text('name', name)}.{secrets.token_urlsafe(32)}"
        command = opr.AddOperator(name=name, token_sha256=_sha256(token))
        _blocking(self._runtime.run(lambda work: work.must(OPERATOR, name, command)))
        return token

    def revoke_operator(self, name: str) -> None:
        """Revoke an operator: its token is refused and its sessions end, at once.
        Raises `Rejected` (2303 no active operator of that name), `Conflict`,
        `StorageError`."""
        holder = ses.holder("operator", text("name", name))

        def body(work: Work) -> None:
            work.must(OPERATOR, name, opr.RevokeOperator())
            work.decide(SESSION, holder, ses.EndSessions("operator revoked"))

        _blocking(self._runtime.run(body))

    def operators(self) -> list[OperatorView]:
        """Every operator ever added, in the order they were first added. Raises
        `StorageError`."""
        names = list(dict.fromkeys(e.name for _, e in _log(self._runtime, _ADDED)))  # type: ignore[attr-defined]
        states = _blocking(self._runtime.run(lambda work: [work.state(OPERATOR, n) for n in names]))
        shown = OperatorView.__struct_fields__
        return [
            OperatorView(**{name: getattr(s, name) for name in shown})
            for s in states
            if s.added_at is not None
        ]

    async def operator_by_token_async(self, token: str) -> str | None:
        """The name of the active operator `token` belongs to, or None (constant-time
        comparison). Raises `StorageError`."""
        name = text("token", token).partition(".")[0]
        if opr.name_problem(name):
            return None
        state = await self._runtime.run(lambda work: work.state(OPERATOR, name))
        matches = hmac.compare_digest(state.token_sha256, _sha256(token))
        return name if state.active and matches else None

    async def operator_acted_async(self, name: str, action: str, login: str, detail: str) -> None:
        """Record that operator `name` did `action`, which changed nothing in the log (a
        verify of it), on account `login` (`detail`: what it concerned); `name` `admin`
        is the JSON API's admin token. An action that changes something records its
        operator itself, in its own transaction (the calls' `by`). Raises `Rejected`
        (2303 the operator is not active), `StorageError`."""
        by = opr.Actor(text("name", name), action)
        await self._runtime.run(lambda work: record(work, by, login, detail))

    def operator_actions(self, login: str) -> list[TrailEntry]:
        """Every operator action on account `login`, in log order (read from the whole
        log). Raises `StorageError`."""
        return operator_actions(self._runtime, login)

    async def bulk_ack_async(self, login: str, up_to: int, *, by: str) -> list[int]:
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

    def bulk_ack(self, login: str, up_to: int, *, by: str) -> list[int]:
        """`bulk_ack_async`, blocking. Raises what it raises."""
        return _blocking(self.bulk_ack_async(login, up_to, by=by))

    async def send_test_async(self, login: str, *, by: opr.Actor | None = None) -> Notification:
        """Send the account a test notification through its delivery method: an
        operation `test-notification` accepted and ended at once (1000), so it is
        queued or pushed like any other and its attempts can be watched; with `by`, the
        ending records it as that operator's action. One unit of work: accepted, ended
        and recorded, or (refused) none of it. Its clTRID is `test-` and an id minted as
        svTRIDs are, so no two test notifications share one. Returns the notification.
        Raises `Rejected` (2303 unknown account or `by` not an active operator, 2053
        suspended), `Conflict`, `StorageError`."""
        operations = self._operations
        cltrid = f"test-{self._runtime.mint_svtrid()}"
        accept = operations.accept(login, cltrid, opr.TEST_COMMAND, init_request=None, client=None)

        def body(work: Work) -> Notification:
            svtrid = accept(work).svtrid
            notification = operations.end(svtrid, int(Code.OK), opr.TEST_RESULT)(work)
            record(work, by, login, f"notification {notification.id}")
            return notification

        return await self._runtime.run(body)

    def send_test(self, login: str, *, by: opr.Actor | None = None) -> Notification:
        """`send_test_async`, blocking. Raises what it raises."""
        return _blocking(self.send_test_async(login, by=by))

    async def start_session_async(self, holder: str, digest: str, expires_at: datetime) -> None:
        """Record a new session of `holder` (`domain.session.holder`), known by the
        SHA-256 `digest` of its id, open until `expires_at`. Raises `Rejected` (2101),
        `StorageError`."""
        command = ses.StartSession(session_sha256=digest, expires_at=expires_at)
        await self._runtime.run(lambda work: work.must(SESSION, holder, command))

    async def end_session_async(self, holder: str, digest: str | None) -> None:
        """End one session of `holder` (None: all of them). Raises `StorageError`."""
        command = ses.EndSession(digest) if digest else ses.EndSessions("signed out everywhere")
        await self._runtime.run(lambda work: work.must(SESSION, holder, command))

    async def session_open_async(self, holder: str, digest: str) -> bool:
        """Whether that session of `holder` is open now. Raises `StorageError`."""

        def body(work: Work) -> bool:
            return ses.is_open(work.state(SESSION, holder), digest, work.now)

        return await self._runtime.run(body)
