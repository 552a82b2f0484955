"""Due work: one runner for everything that must happen at a time, in any live process.

What is due is read from the notification log alone: delivery attempts (a scheduled
delivery at its next attempt, one in flight at the end of its lease, to take it over)
and the endings of the operations the server runs itself (`ping-async`, Merchants jobs:
their rule's delay after acceptance). The runner reads the whole log at start, then
follows it, keeping what is due in a heap ordered by time; nothing lives only in the
memory of the process that accepted or scheduled the work, so a process that dies
strands nothing: any other runner on the same database has the same index.

Several runners may share a database. A delivery attempt is claimed with an event that
carries a lease (`AttemptStarted`); the store's optimistic concurrency lets one claimer
win, and the others see the claim in the log and wait for its lease. An ending needs no
claim: ending twice is refused by the operation (2304), so the first runner wins.

Why not `eventsourcing.projection`: its runner keeps a tracking record of the last
position processed, durable beside a projection's own writes. This index has no writes of
its own: it is memory, rebuilt from the log at start in well under a second per 100k
events, and every decision it leads to is taken and saved through the deciders. On
SQLite there is no `subscribe()`, so a follower polls `select_notifications` anyway; this
runner polls both stores the same way, every `follow_every` seconds (and at once after
each of its own attempts).
"""

import heapq
import itertools
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import anyio
from tidings.domain import BatchState, Code, UrlChannel
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept
from tidings.domain import operation as op
from tidings.domain.operation import OperationState

from ..library import Rejected, Tidings
from ..store.application import LogEntry, stream_id
from .batched import Batched
from .bodies import http_body
from .deliverer import HttpDeliverer, Reply
from .guard import AddressGuard
from .mail import MailSender, SmtpServer
from .signer import ROTATION_GRACE, signed_headers, webhook_id
from .views import Attempted, Claim, Held

__all__ = ["DueWork", "Ending", "EndingRule"]

_log = logging.getLogger("tidings.push")

Kind = Literal["delivery", "ending"]
# How long to wait before trying again work that failed for a reason of ours (the store
# was unreachable, an ending raised): short, and doubled up to a minute.
_RETRY_FIRST, _RETRY_MOST = 0.5, 60.0
# Log entries read into the index at a time.
_PAGE = 5_000


@dataclass(frozen=True, slots=True)
class Ending:
    """The result an operation ends with (the arguments of `Tidings.end`)."""

    code: int
    result: str
    data: dict[str, Any] | None = None
    batch_state: BatchState | None = None


@dataclass(frozen=True, slots=True)
class EndingRule:
    """How long after acceptance an operation of one command ends, and how."""

    delay: float
    ending: Callable[[OperationState], Ending]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _compact(state: dlv.DeliveryState) -> dlv.DeliveryState:
    """What the index keeps of a delivery: enough to fold on and find when it is due,
    without the notification or the history of attempts."""
    scheduled = state.scheduled
    if scheduled is not None and scheduled.notification is not None:
        scheduled = dlv.DeliveryScheduled(
            login=scheduled.login,
            notification_id=scheduled.notification_id,
            medium=scheduled.medium,
            target=scheduled.target,
            expected_status=scheduled.expected_status,
            retry_policy=scheduled.retry_policy,
            at=scheduled.at,
        )
    return dlv.DeliveryState(
        status=state.status,
        scheduled=scheduled,
        attempts=state.attempts[-1:],
        failures=state.failures,
        next_attempt_at=state.next_attempt_at,
        lease_until=state.lease_until,
    )


class DueWork:
    """The runner. `endings`: command -> rule for the operations this server ends;
    `in_flight`: attempts made at once; `claimant`: this process's name in its claims.
    `jitter` draws in [-1, 1] (the domain scales it by the account's policy)."""

    def __init__(
        self,
        tidings: Tidings,
        *,
        endings: Mapping[str, EndingRule] | None = None,
        guard: AddressGuard | None = None,
        smtp: SmtpServer | None = None,
        in_flight: int = 64,
        follow_every: float = 0.05,
        claimant: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
        jitter: Callable[[], float] = lambda: random.uniform(-1.0, 1.0),
        rotation_grace: timedelta = ROTATION_GRACE,
    ) -> None:
        self._tidings = tidings
        self._rules = dict(endings or {})
        self._http = HttpDeliverer(guard or tidings.guard, max_connections=max(in_flight, 16))
        self._mail = MailSender(smtp)
        self._in_flight = in_flight
        self._follow_every = follow_every
        self.claimant = claimant or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._clock = clock
        self._jitter = jitter
        self._grace = rotation_grace
        # The index, rebuilt from the log.
        self._position = 0
        self._deliveries: dict[UUID, tuple[str, dlv.DeliveryState]] = {}
        self._operations: dict[UUID, str] = {}
        self._due: dict[tuple[Kind, str], datetime] = {}
        self._heap: list[tuple[datetime, int, Kind, str]] = []
        self._seq = 0
        self._held: dict[UUID, set[str]] = {}  # endpoint or delivery stream -> keys held
        self._busy: set[tuple[Kind, str]] = set()
        self._failures: dict[tuple[Kind, str], int] = {}
        self._wake = anyio.Event()
        self._claim: Batched[tuple[str, int], Claim | Held | None] = Batched(
            lambda wanted: tidings.claim_attempts(wanted, claimant=self.claimant)
        )
        self._record: Batched[Attempted, dlv.DeliveryState | None] = Batched(
            tidings.record_attempts
        )
        # Counters, for tests and the bench.
        self.attempts = 0
        self.delivered = 0
        self.ended = 0

    # --- the index ------------------------------------------------------------------
    def _schedule(self, kind: Kind, key: str, when: datetime | None) -> None:
        name = (kind, key)
        if when is None:
            self._due.pop(name, None)
            return
        if self._due.get(name) == when:
            return
        self._due[name] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, key))

    def _apply(self, stream: UUID, event: Any) -> None:
        match event:
            case dlv.DeliveryScheduled(login=login, notification_id=n):
                key = f"{login}/{n}"
                state = _compact(dlv.evolve(dlv.initial, event))
                self._deliveries[stream] = (key, state)
                self._schedule("delivery", key, dlv.due_at(state))
            case (
                dlv.AttemptStarted()
                | dlv.AttemptExpired()
                | dlv.AttemptSucceeded()
                | dlv.AttemptFailed()
                | dlv.DeliveryGaveUp()
                | dlv.DeliveryRequeued()
            ):
                known = self._deliveries.get(stream)
                if known is None:
                    return
                key, state = known
                state = _compact(dlv.evolve(state, event))
                self._deliveries[stream] = (key, state)
                self._schedule("delivery", key, dlv.due_at(state))
                if state.status == "succeeded":  # for good: forgotten, memory stays bounded
                    del self._deliveries[stream]
                if state.status in ("succeeded", "gave_up"):
                    self._release(stream)
            case op.OperationAccepted(svtrid=svtrid, command=command, at=at):
                rule = self._rules.get(command)
                if rule is not None:
                    self._operations[stream] = svtrid
                    self._schedule("ending", svtrid, at + timedelta(seconds=rule.delay))
            case op.OperationEnded():
                if stream in self._operations:
                    self._schedule("ending", self._operations.pop(stream), None)
            case ept.EndpointResumed():
                self._release(stream)

    def _release(self, stream: UUID) -> None:
        """Deliveries held by this endpoint or earlier delivery are due now."""
        now = self._clock()
        for key in self._held.pop(stream, ()):
            if ("delivery", key) in self._due:
                self._schedule("delivery", key, now)

    def _hold(self, key: str, held: Held) -> None:
        if held.waits_on is not None:
            self._held.setdefault(stream_id(*held.waits_on), set()).add(key)
        self._schedule("delivery", key, held.until)

    def _read(self) -> list[LogEntry]:
        """Up to `_PAGE` log entries appended since the last look (blocking: a worker
        thread's)."""
        return list(itertools.islice(self._tidings.log(self._position + 1, _PAGE), _PAGE))

    def _take(self, entries: list[LogEntry]) -> None:
        """Fold entries into the index (in the event loop's thread: the index is its)."""
        for entry in entries:
            self._apply(entry.stream, entry.event)
            self._position = max(self._position, entry.position)

    async def follow(self) -> int:
        """Read what the log gained since the last look into the index, a page at a time
        (a rebuild never holds the whole log); returns how many entries that was."""
        read = 0
        while True:
            entries = await anyio.to_thread.run_sync(self._read)
            self._take(entries)
            read += len(entries)
            if len(entries) < _PAGE:
                return read

    def due_count(self) -> int:
        """How many pieces of work the index holds a time for."""
        return len(self._due)

    # --- running ----------------------------------------------------------------------
    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Rebuild the index from the log, then follow it and do what falls due, until
        cancelled. Attempts in flight at cancellation are abandoned: their leases run
        out and they are made again (by this or another process)."""
        await self.follow()
        task_status.started()
        try:
            async with anyio.create_task_group() as group:
                while True:
                    await self.follow()
                    self._dispatch(group)
                    await self._nap()
        finally:
            with anyio.CancelScope(shield=True):
                await self._http.aclose()

    async def _nap(self) -> None:
        wait = self._follow_every
        if self._heap and len(self._busy) < self._in_flight:
            until = (self._heap[0][0] - self._clock()).total_seconds()
            wait = max(0.0, min(wait, until))
        with anyio.move_on_after(wait):
            await self._wake.wait()
        self._wake = anyio.Event()

    def _dispatch(self, group: Any) -> None:
        now = self._clock()
        while self._heap and len(self._busy) < self._in_flight:
            when, _, kind, key = self._heap[0]
            if when > now:
                return
            heapq.heappop(self._heap)
            name = (kind, key)
            if self._due.get(name) != when or name in self._busy:
                continue  # superseded, or being worked on (its outcome reschedules it)
            self._busy.add(name)
            work = self._deliver if kind == "delivery" else self._end
            group.start_soon(self._guarded, name, work)

    async def _guarded(self, name: tuple[Kind, str], work: Callable[[str], Any]) -> None:
        try:
            await work(name[1])
            self._failures.pop(name, None)
        except Exception:
            # Ours, not the receiver's (the store failed, a rule raised): try again soon.
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            delay = min(_RETRY_MOST, _RETRY_FIRST * 2 ** (failures - 1))
            _log.exception("%s %s failed; trying again in %.1f s", name[0], name[1], delay)
            self._schedule(name[0], name[1], self._clock() + timedelta(seconds=delay))
        finally:
            self._busy.discard(name)
            when = self._due.get(name)
            if when is not None:  # it may have come due while we were busy: look again
                self._seq += 1
                heapq.heappush(self._heap, (when, self._seq, name[0], name[1]))
            self._wake.set()

    # --- one delivery attempt ---------------------------------------------------------
    async def _deliver(self, key: str) -> None:
        login, _, number = key.rpartition("/")
        notification_id = int(number)
        claim = await self._claim((login, notification_id))
        if isinstance(claim, Held):
            self._hold(key, claim)
            return
        if claim is None:
            self._schedule("delivery", key, None)  # nothing left to do
            return
        self.attempts += 1
        reply = await self._send(login, claim)
        attempted = Attempted(
            login=login,
            notification_id=notification_id,
            number=claim.number,
            reply=reply,
            jitter=self._jitter(),
        )
        state = await self._record(attempted)
        if state is not None and state.status == "succeeded":
            self.delivered += 1

    async def _send(self, login: str, claim: Claim) -> Reply:
        scheduled, account = claim.scheduled, claim.account
        channel = account.channel
        if scheduled.medium == "email":
            timeout = getattr(channel, "timeout", 30.0)
            return await self._mail.send(
                login, claim.notification, scheduled.target, timeout=timeout
            )
        settings = channel if isinstance(channel, UrlChannel) else UrlChannel()
        content_type, body = http_body(claim.notification, settings.body_format)
        now = self._clock()
        headers = signed_headers(
            webhook_id(login, scheduled.notification_id),
            body,
            now,
            account.signing_secret,
            account.previous_secret,
            account.secret_rotated_at,
            self._grace,
        )
        return await self._http.post(
            scheduled.target,
            content_type,
            body,
            headers,
            connect_timeout=settings.connect_timeout,
            timeout=settings.timeout,
            now=now,
        )

    # --- one ending -------------------------------------------------------------------
    async def _end(self, svtrid: str) -> None:
        operation = await anyio.to_thread.run_sync(self._tidings.operation, svtrid)
        if operation is None or operation.accepted is None or operation.ended is not None:
            self._schedule("ending", svtrid, None)
            return
        rule = self._rules[operation.accepted.command]
        ending = rule.ending(operation)

        def end() -> None:
            self._tidings.end(
                svtrid, ending.code, ending.result, data=ending.data, batch_state=ending.batch_state
            )

        try:
            await anyio.to_thread.run_sync(end)
            self.ended += 1
        except Rejected as rejected:
            if rejected.code != Code.STATUS_PROHIBITS:  # 2304: another process ended it
                raise
        self._schedule("ending", svtrid, None)
