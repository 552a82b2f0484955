"""Due work: one runner for everything that must happen at a time, in any live process:
delivery attempts, and the endings of the operations the server runs itself (`EndingRule`:
ending twice is refused, 2304, so the first runner wins, with no claim). What is due is
read from the log alone (`index.py`, followed by a `store.followers.Catchup`), so a
process that dies strands nothing. Several runners may share a database: an attempt is
claimed with a leased event, and the store's optimistic concurrency lets one win."""

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio
from tidings.adapters import telemetry
from tidings.domain import BatchState, Code, Notification, UrlChannel
from tidings.domain import delivery as dlv
from tidings.domain.dispatch import ROTATION_GRACE, channel_for
from tidings.domain.operation import OperationState
from tidings.domain.serverrun import Ending, awaiting_ending

from ..errors import Rejected, StorageError
from ..store.application import Store
from ..store.environment import LOG
from ..store.followers import Catchup
from .index import DueIndex, DueProjection, Name, ScannedLog
from .mail import MailSender, SmtpServer
from .payload import http_body, signed_headers, webhook_id
from .transport import AddressGuard, Batched, HttpDeliverer, since
from .views import LOG_INDEX, Attempted, Claim, Held, Reply, tell

__all__ = ["DeliveryCommands", "DueWork", "Ending", "EndingRule"]

_log = logging.getLogger("tidings.push")

# The wait before trying again work that failed for a reason of ours, doubled each time.
_RETRY_FIRST, _RETRY_MOST = 0.5, 60.0
_utcnow: Callable[[], datetime] = functools.partial(datetime.now, UTC)


def _delivery(name: Name) -> tuple[str, int]:
    login, _, number = name[1].rpartition("/")
    return login, int(number)


class DeliveryCommands(Protocol):
    """The library's calls the runner makes (`Tidings`' of the same names; `push/` may not
    import the library, which imports it)."""

    @property
    def guard(self) -> AddressGuard: ...

    @property
    def store(self) -> Store: ...

    def minted_here(self, svtrid: str) -> bool: ...

    def settle_attempts(
        self,
        attempts: Sequence[Attempted],
        wanted: Sequence[tuple[str, int]],
        *,
        claimant: str,
    ) -> tuple[list[dlv.DeliveryState | None], list[Claim | Held | None]]: ...

    async def operation_async(self, svtrid: str) -> OperationState | None: ...

    async def end_async(
        self,
        svtrid: str,
        code: int,
        result: str,
        *,
        data: dict[str, Any] | None = None,
        batch_state: BatchState | None = None,
    ) -> Notification: ...


@dataclass(frozen=True, slots=True)
class EndingRule:
    """How long after acceptance an operation of one command ends, and how: an `Ending`
    the same for every operation of the command, or one made from its state."""

    delay: float
    ending: Ending | Callable[[OperationState], Ending]


# What a worker saves in one go (an attempt's record, a claim of its next delivery), and
# what it gets back for each.
_Step = tuple[Attempted | None, tuple[str, int] | None]
_Settled = tuple[dlv.DeliveryState | None, Claim | Held | None]


@dataclass(slots=True)
class _Next:
    """A piece of work a worker took, and, for a delivery, its claim if one was made."""

    name: Name
    claimed: bool = False
    claim: Claim | Held | None = None


class DueWork:
    """The runner. `endings`: command -> rule for the operations this server ends;
    `in_flight`: attempts made at once; `claimant`: this process's name in its claims;
    `jitter` draws in [-1, 1]. `deliveries` off leaves the deliveries to another runner;
    `foreign_endings_after`: seconds more before ending an operation another process
    accepted (which ends it itself, unless it stopped)."""

    def __init__(
        self,
        tidings: DeliveryCommands,
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
        deliveries: bool = True,
        foreign_endings_after: float = 0.0,
    ) -> None:
        self._tidings = tidings
        self._rules = dict(endings or {})
        self._http = HttpDeliverer(guard or tidings.guard, max_connections=max(in_flight, 16))
        self._mail = MailSender(smtp)
        self._in_flight = in_flight
        # As much again waiting as in flight: a worker's record claims its next in one commit.
        self._handed_most = 2 * in_flight
        self._follow_every = follow_every
        self.claimant = claimant or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._clock = clock
        self._jitter = jitter
        self._grace = rotation_grace
        delays = {c: rule.delay for c, rule in self._rules.items()}

        def later(svtrid: str) -> float:
            return 0.0 if tidings.minted_here(svtrid) else foreign_endings_after

        self._index = DueIndex(delays, clock, later=later, deliveries=deliveries)
        self._catchup = Catchup(DueProjection(self._index), LOG)
        self._log = ScannedLog(tidings.store)
        self._busy: set[Name] = set()
        self._failures: dict[Name, int] = {}
        self._wake = anyio.Event()
        self._store: Batched[_Step, _Settled] = Batched(self._settle)
        self.delivered = self.ended = 0  # for tests and the bench

    async def follow(self) -> None:
        """Read what the log gained into the index, a page at a time."""
        while True:
            page = await anyio.to_thread.run_sync(self._catchup.read, self._log)
            self._catchup.take(page)
            if not page.full:
                return

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Rebuild the index from the log, then follow it and do what falls due, until
        cancelled; attempts in flight then are made again once their leases run out."""
        await self.follow()
        task_status.started()
        # To `in_flight` workers through an asyncio queue (docs/decisions.md).
        due: asyncio.Queue[Name] = asyncio.Queue(self._handed_most)
        try:
            async with anyio.create_task_group() as group:
                for _ in range(self._in_flight):
                    group.start_soon(self._work, due)
                followed = anyio.current_time()
                while True:
                    # A finished attempt wakes the loop to start the next, not to read.
                    if anyio.current_time() - followed >= self._follow_every:
                        # Logged once (`store.outage`); what is due is still done.
                        with contextlib.suppress(StorageError):
                            await self.follow()
                        followed = anyio.current_time()
                    self._dispatch(due)
                    await self._nap()
        finally:
            with anyio.CancelScope(shield=True):
                await self._http.aclose()

    async def _nap(self) -> None:
        wait = self._follow_every
        next_at = self._index.next_at()
        if next_at is not None and len(self._busy) < self._handed_most:
            wait = max(0.0, min(wait, (next_at - self._clock()).total_seconds()))
        with anyio.move_on_after(wait):
            await self._wake.wait()
        self._wake = anyio.Event()

    def _dispatch(self, due: asyncio.Queue[Name]) -> None:
        """Hand what is due to the workers, up to `_handed_most` under way."""
        now = self._clock()
        while len(self._busy) < self._handed_most:
            name = self._index.pop_due(now, self._busy)
            if name is None:
                return
            self._busy.add(name)
            due.put_nowait(name)

    async def _work(self, taken: asyncio.Queue[Name]) -> None:
        # What a worker took with its last record waits here, claimed or not.
        ahead: list[_Next] = []
        while True:
            current = ahead.pop() if ahead else _Next(await taken.get())
            await self._guarded(current, taken, ahead)

    async def _guarded(
        self, current: _Next, taken: asyncio.Queue[Name], ahead: list[_Next]
    ) -> None:
        name = current.name
        try:
            if name[0] == "delivery":
                await self._deliver(current, taken, ahead)
            else:
                await self._end(name[1])
            self._failures.pop(name, None)
        except Exception:
            # Ours, not the receiver's (the store failed, a rule raised): try again soon.
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            delay = min(_RETRY_MOST, _RETRY_FIRST * 2 ** (failures - 1))
            _log.exception("%s %s failed; trying again in %.1f s", name[0], name[1], delay)
            self._index.schedule(name[0], name[1], self._clock() + timedelta(seconds=delay))
        finally:
            self._busy.discard(name)
            self._index.again(name)
            # Hand out more once the waiting half is drawn down and something is due by
            # now (a turn of the loop each costs CPU: docs/decisions.md, the push row).
            next_at = self._index.next_at()
            if len(self._busy) <= self._in_flight and next_at and next_at <= self._clock():
                self._wake.set()

    async def _end(self, svtrid: str) -> None:
        """End the operation `svtrid` by its command's rule, unless it ended already."""
        # A fixed ending needs no read: one ended meanwhile refuses it (2304), as below.
        fixed = self._rules.get(self._index.command(svtrid) or "")
        if fixed is not None and isinstance(fixed.ending, Ending):
            ending = fixed.ending
        else:
            operation = await self._tidings.operation_async(svtrid)
            accepted = None if operation is None else awaiting_ending(operation)
            if operation is None or accepted is None:
                self._index.schedule("ending", svtrid, None)
                return
            rule = self._rules[accepted.command].ending
            ending = rule if isinstance(rule, Ending) else rule(operation)

        try:
            await self._tidings.end_async(
                svtrid, ending.code, ending.result, data=ending.data, batch_state=ending.batch_state
            )
            self.ended += 1
        except Rejected as rejected:
            if rejected.code != Code.STATUS_PROHIBITS:  # 2304: another process ended it
                raise
        self._index.schedule("ending", svtrid, None)

    def _settle(self, steps: Sequence[_Step]) -> list[_Settled]:
        """The steps of many workers, saved in one transaction (on a worker thread)."""
        attempts = [attempted for attempted, _ in steps if attempted is not None]
        wanted = [one for _, one in steps if one is not None]
        recorded, claimed = self._tidings.settle_attempts(attempts, wanted, claimant=self.claimant)
        states, claims = iter(recorded), iter(claimed)
        return [
            (
                next(states) if attempted is not None else None,
                next(claims) if one is not None else None,
            )
            for attempted, one in steps
        ]

    async def _deliver(
        self, current: _Next, taken: asyncio.Queue[Name], ahead: list[_Next]
    ) -> None:
        """One attempt of the delivery `current` names; its record also claims the next
        delivery waiting in `taken`, which goes to `ahead`."""
        login, notification_id = _delivery(current.name)
        if current.claimed:
            claim = current.claim
        else:
            _, claim = await self._store((None, (login, notification_id)))
        key = current.name[1]
        if isinstance(claim, Held):
            self._index.hold(key, claim)
            return
        if claim is None:
            self._index.schedule("delivery", key, None)  # nothing left to do
            return
        scheduled = claim.scheduled
        traced = telemetry.ON  # untraced, an attempt calls nothing of telemetry
        with (
            telemetry.attempt(
                scheduled.context,
                login=login,
                svtrid=claim.notification.outcome.svtrid,
                notification=notification_id,
                attempt=claim.number,
                medium=scheduled.medium,
            )
            if traced
            else contextlib.nullcontext()
        ):
            started = time.monotonic()
            try:
                reply = await self._send(login, claim)
            except Exception as error:  # ours: a failed attempt like any (`tell` logs it)
                failed = f"{type(error).__name__} in tidings"  # its text may hold a secret
                reply = Reply(status=None, error=failed, duration_ms=since(started))
            if traced:
                telemetry.note(status=reply.status)
        attempted = Attempted(
            login=login,
            notification_id=notification_id,
            number=claim.number,
            reply=reply,
            jitter=self._jitter(),
        )
        following = _Next(taken.get_nowait()) if taken.qsize() else None
        wanted = None
        if following is not None:
            ahead.append(following)
            if following.name[0] == "delivery":
                wanted = _delivery(following.name)
        state, claimed = await self._store((attempted, wanted))
        if following is not None and wanted is not None:
            following.claimed, following.claim = True, claimed
        if state is not None and state.status == "succeeded":
            self.delivered += 1
        elif state is not None:
            tell(claim, reply, state)

    async def _send(self, login: str, claim: Claim) -> Reply:
        scheduled, account = claim.scheduled, claim.account
        settings = channel_for(account.channel, scheduled)
        if not isinstance(settings, UrlChannel):
            return await self._mail.send(
                login,
                claim.notification,
                scheduled.target,
                timeout=settings.timeout,
                log_index=claim.log_index,
            )
        content_type, body = http_body(claim.notification, settings.body_format)
        now = self._clock()
        headers = signed_headers(
            webhook_id(login, scheduled.notification_id),
            body,
            now,
            claim.signing_secret,
            claim.previous_secret,
            account.secret_rotated_at,
            self._grace,
        )
        if claim.log_index is not None:
            headers[LOG_INDEX] = str(claim.log_index)
        if telemetry.ON:
            telemetry.inject(headers)  # the attempt's span: `traceparent`
        return await self._http.post(
            scheduled.target,
            content_type,
            body,
            headers,
            connect_timeout=settings.connect_timeout,
            timeout=settings.timeout,
            now=now,
        )
