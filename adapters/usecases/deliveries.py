"""Push deliveries: the push runner's settle-and-claim, and the operator's reads and
commands on deliveries and endpoints. Views carry no secret; a `Claim` does (the runner
signs with it) and is never shown."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from msgspec.structs import replace
from tidings.domain import ACCOUNT, DELIVERY, ENDPOINT, MAILBOX, Code, Rejection, dispatch
from tidings.domain import delivery as dlv
from tidings.domain import endpoint as ept

from ..errors import InvalidArgument, Rejected
from ..push.views import (
    Attempted,
    Claim,
    DeliveryView,
    EndpointView,
    Held,
    delivery_view,
    endpoint_view,
    tell_resumed,
    tell_settled,
)
from ..store.application import stream_hex
from ..store.work import Work
from .accounts import SigningSecrets
from .operators import By, record
from .runtime import CHUNK, Runtime, awaited_call, blocking_call, existing, instance, integer, text

__all__ = ["Deliveries", "DeliveryCalls"]

Settled = tuple[list[dlv.DeliveryState | None], list[Claim | Held | None]]
# How long a delivery waits when this process cannot sign it (sealed secrets, no key).
_UNSIGNED_AGAIN = timedelta(minutes=10)
# What settling decided that the operator's log tells (`push.views`), after the commit.
_Changes = list[tuple[dlv.DeliveryScheduled, dispatch.Settled]]
_TOLD = (ept.EndpointPaused, ept.EndpointResumed)


class Deliveries:
    """The delivery use cases of one `Tidings` (`DeliveryCalls` offers them)."""

    def __init__(self, runtime: Runtime, secrets: SigningSecrets):
        self._runtime = runtime
        self._secrets = secrets
        # An account's (current, previous) secrets by their ids, which are fingerprints.
        self._signing: dict[tuple[str, str], tuple[str, str]] = {}

    async def settle_attempts(
        self, attempts: Sequence[Attempted], wanted: Sequence[tuple[str, int]], *, claimant: str
    ) -> Settled:
        """Record what each of `attempts` got, then claim the next attempt of each
        delivery `(login, notification id)` in `wanted` for `claimant`, in one
        transaction, as the domain's `dispatch` decides; one answer per attempt (the
        delivery's state; None: taken over meanwhile) and per delivery (a `Claim` with
        its lease, twice the attempt's timeout; `Held` when it may not start now; None
        when nothing is left to do), in order. Raises `Conflict`, `StorageError`."""
        locked = frozenset(self._secrets.locked)

        def body(work: Work) -> tuple[Settled, _Changes, list[dlv.DeliveryScheduled]]:
            changes: _Changes = []
            unsigned: list[dlv.DeliveryScheduled] = []
            recorded = [_record_attempt(work, attempt, changes) for attempt in attempts]
            claims = [_claim_attempt(work, claimant, *one, locked, unsigned) for one in wanted]
            return (recorded, claims), changes, unsigned

        (recorded, claims), changes, unsigned = await self._runtime.run(body)
        for scheduled, settled in changes:
            tell_settled(scheduled, settled)
        signed = [self._signed(one) if isinstance(one, Claim) else one for one in claims]
        refused = [c for c, s in zip(claims, signed, strict=True) if isinstance(s, Held)]
        for held in unsigned + [c.scheduled for c in refused if isinstance(c, Claim)]:
            self._secrets.tell_unsigned(held)
        return recorded, signed

    def _signed(self, claim: Claim) -> Claim | Held:
        """`claim` with the secrets it is signed with (an e-mail needs none), or held
        while they are sealed and this process has not got their key."""
        if claim.scheduled.medium != "url":
            return claim
        ids = (claim.account.secret_id, claim.account.previous_secret_id)
        found = self._signing.get(ids)
        if found is None:
            found = self._secrets.for_push(claim.account)
            if found is None:  # its lease runs out: a process with the key takes it over
                return Held(until=self._runtime.clock() + _UNSIGNED_AGAIN)
            self._signing[ids] = found
        return replace(claim, signing_secret=found[0], previous_secret=found[1])

    async def delivery(self, login: str, notification_id: int) -> dlv.DeliveryState:
        """The push delivery of a notification (status "new" when there is none).
        Raises `StorageError`."""
        key = dlv.key(text("login", login), integer("notification_id", notification_id))
        return await self._runtime.run(lambda work: work.state(DELIVERY, key))

    async def deliveries(
        self, login: str, *, status: dlv.DeliveryStatus | None = None
    ) -> list[DeliveryView]:
        """The account's pushed notifications (optionally only those in `status`, e.g.
        "gave_up"), oldest first. Raises `Rejected` (2303 unknown account), `Conflict`,
        `StorageError`."""
        text("login", login)
        next_id = await self._runtime.run(lambda work: _next_id(work, login))
        states = await self._runtime.states(
            DELIVERY, [dlv.key(login, n) for n in range(1, next_id)]
        )
        return [delivery_view(s) for s in states if s.scheduled and status in (None, s.status)]

    async def redeliver(
        self,
        login: str,
        notification_id: int | None = None,
        *,
        since: datetime | None = None,
        delivered: bool = False,
        by: By = None,
    ) -> list[int]:
        """Send deliveries again with a fresh schedule: those that gave up and, with
        `delivered`, those that succeeded too (resent: the domain's `RequeueDelivery`).
        Those that gave up (or, delivered, were scheduled) at or after `since`, or any
        time: one (`notification_id`), or all, in chunks (a transaction each, recorded as
        `by`'s action with the ids it sent). Returns the ids sent again, in order.

        Raises `InvalidArgument` (2101 a `since` without a time zone), `Rejected` (2303
        unknown account or delivery, 2304 a delivery that may not be sent again, or none
        chosen that may: nothing was done), `Conflict`, `StorageError`.
        """
        one = notification_id
        text("login", login)
        if one is not None:
            integer("notification_id", one, least=1)
        if since is not None and (instance("since", since, datetime).utcoffset() is None):
            raise InvalidArgument("since needs an aware datetime (with a time zone)")
        requeued = dlv.RequeueDelivery(delivered=delivered, since=since)

        def requeue(work: Work, chosen: range) -> list[int]:
            # Chosen by the domain on the states this unit of work saves on (a delivery
            # another writer changed meanwhile is a lost race, decided again), by the
            # account's channel as it is now.
            account = existing(work, login)
            sent: list[int] = []
            refused: Rejection | None = None
            for n in chosen:
                key = dlv.key(login, n)
                decided = dispatch.requeue(work.state(DELIVERY, key), account, requeued, work.now)
                if isinstance(decided, Rejection):
                    refused = decided
                    continue
                work.record(DELIVERY, key, decided)
                sent.append(n)
            if refused is not None and one is not None:  # refused as it is (2303, 2304)
                raise Rejected.of(refused)
            if not sent:  # none of them may: as one alone is refused (`decide_each`)
                raise Rejected(Code.STATUS_PROHIBITS, dlv.NOTHING_TO_SEND)
            # With its chunk's changes: none unattributed, none by an operator revoked.
            record(work, by, login, f"requeued {', '.join(map(str, sent))}")
            return sent

        if one is not None:
            return await self._runtime.run(lambda work: requeue(work, range(one, one + 1)))
        # A chunk a unit of work: a long history does not hold up the writers behind it.
        next_id = await self._runtime.run(lambda work: _next_id(work, login))
        sent: list[int] = []
        for start in range(1, next_id, CHUNK):
            chunk = range(start, min(start + CHUNK, next_id))
            try:
                sent += await self._runtime.run(partial(requeue, chosen=chunk))
            except Rejected as refused:  # none of this chunk may be sent again
                if refused.code != Code.STATUS_PROHIBITS:
                    raise
        if not sent:
            raise Rejected(Code.STATUS_PROHIBITS, dlv.NOTHING_TO_SEND)
        return sent

    async def endpoints(self, login: str) -> list[EndpointView]:
        """The health of the account's current push targets. Raises `Rejected` (2303
        unknown account), `Conflict`, `StorageError`."""
        logins = [text("login", login)]
        return await self._runtime.run(lambda work: _endpoints(work, logins))

    async def all_endpoints(self, *, paused_only: bool = False) -> list[EndpointView]:
        """The health of every account's current push targets, accounts in the order
        they were opened (only the paused ones with `paused_only`). Raises `Conflict`,
        `StorageError`."""
        logins = [entry.event.login for entry in self._runtime.entries("AccountOpened")]
        views = await self._runtime.run(lambda work: _endpoints(work, logins))
        return [view for view in views if view.paused or not paused_only]

    async def resume_endpoint(
        self, login: str, target: str | None = None, *, by: By = None
    ) -> list[str]:
        """Resume a paused endpoint of the account (`target`), or all of its current
        targets; returns the targets that were paused and now are not. Raises `Rejected`
        (2303 unknown account; 2304 `target` is not paused, or none of the account's
        targets is: nothing was done), `Conflict`, `StorageError`."""
        text("login", login)
        if target is not None:
            text("target", target)

        def body(work: Work) -> list[str]:
            channel = existing(work, login).channel
            targets = [target] if target else dispatch.targets(channel)
            keys = [ept.key(login, t) for t in targets]
            if target:  # the one asked for: refused as it is (2304 not paused)
                resumed = targets if work.must(ENDPOINT, keys[0], ept.ResumeEndpoint()) else []
            else:
                changed = work.must_each(ENDPOINT, keys, ept.ResumeEndpoint(), ept.NONE_PAUSED)
                resumed = [t for t, yes in zip(targets, changed, strict=True) if yes]
            record(work, by, login, f"resumed {', '.join(resumed)}")
            return resumed

        resumed = await self._runtime.run(body)
        tell_resumed(login, resumed)
        return resumed


def _endpoints(work: Work, logins: list[str]) -> list[EndpointView]:
    return [
        endpoint_view(login, t, work.state(ENDPOINT, ept.key(login, t)))
        for login in logins
        for t in dispatch.targets(existing(work, login).channel)
    ]


def _claim_attempt(
    work: Work,
    claimant: str,
    login: str,
    notification_id: int,
    locked: frozenset[str],
    unsigned: list[dlv.DeliveryScheduled],
) -> Claim | Held | None:
    """The next attempt of one delivery, claimed for `claimant` as `dispatch.claim`
    decides. A push to a URL whose account's secrets are `locked` (sealed, and this
    process has not got their key) is held, unclaimed, and added to `unsigned`."""
    key = dlv.key(login, notification_id)
    state = work.state(DELIVERY, key)
    account = work.state(ACCOUNT, login)
    scheduled = state.scheduled
    if (
        locked
        and scheduled is not None
        and scheduled.medium == "url"
        and dlv.due_at(state) is not None
        and locked.intersection((account.secret_id, account.previous_secret_id))
    ):
        unsigned.append(scheduled)
        return Held(until=work.now + _UNSIGNED_AGAIN)
    endpoint_key = dispatch.endpoint_key(state)
    endpoint = ept.initial if endpoint_key is None else work.state(ENDPOINT, endpoint_key)
    before = dispatch.earlier_id(account, state)
    earlier = dlv.initial if before is None else work.state(DELIVERY, dlv.key(login, before))
    command = dispatch.ClaimAttempt(claimant=claimant)
    decided = dispatch.claim(state, account, endpoint, earlier, command, work.now)
    if isinstance(decided, Held):
        return decided
    work.record(DELIVERY, key, decided.delivery)
    if isinstance(decided, dispatch.Idle):
        return None
    assert endpoint_key and scheduled and scheduled.notification  # started: it was scheduled
    work.record(ENDPOINT, endpoint_key, decided.endpoint)
    # The leaf of the scheduling event, which holds the notification: the receiver
    # proves what it got against a checkpoint (README, "Auditing a tidings log").
    tree, rows = work.store.recorder.tree, work.store.recorder.tree_rows
    return Claim(
        number=decided.number,
        scheduled=scheduled,
        notification=scheduled.notification,
        account=account,
        lease_until=decided.lease_until,
        log_index=tree.leaf_of(rows, stream_hex(DELIVERY.category, key), 1),
    )


def _record_attempt(work: Work, attempt: Attempted, changes: _Changes) -> dlv.DeliveryState | None:
    """Record what one attempt got as `dispatch.settle` decides (a change the log tells
    goes to `changes`); the delivery's state, or None when nothing was recorded."""
    login = attempt.login
    key = dlv.key(login, attempt.notification_id)
    state = work.state(DELIVERY, key)
    endpoint_key = dispatch.endpoint_key(state)
    if endpoint_key is None or state.scheduled is None:  # never scheduled
        return None
    decided = dispatch.settle(
        state,
        work.state(ACCOUNT, login),
        work.state(ENDPOINT, endpoint_key),
        work.state(MAILBOX, login),
        replace(attempt.reply, number=attempt.number, jitter=attempt.jitter),
        work.now,
    )
    if isinstance(decided, Rejection):  # taken over meanwhile
        return None
    work.record(DELIVERY, key, decided.delivery)
    work.record(ENDPOINT, endpoint_key, decided.endpoint)
    work.record(MAILBOX, login, decided.mailbox)
    if decided.mailbox or any(isinstance(e, _TOLD) for e in decided.endpoint):
        changes.append((state.scheduled, decided))
    return work.state(DELIVERY, key)


def _next_id(work: Work, login: str) -> int:
    """The id the account's next notification takes (2303 unknown account)."""
    existing(work, login)
    return work.state(MAILBOX, login).next_id


class DeliveryCalls:
    """The delivery calls of `Tidings`, used by the due-work runner
    (`adapters.push.due`), the shell and the JSON API."""

    settle_attempts = blocking_call(Deliveries.settle_attempts, "_deliveries")
    delivery = blocking_call(Deliveries.delivery, "_deliveries")
    deliveries = blocking_call(Deliveries.deliveries, "_deliveries")
    redeliver = blocking_call(Deliveries.redeliver, "_deliveries")
    redeliver_async = awaited_call(Deliveries.redeliver, "_deliveries")
    endpoints = blocking_call(Deliveries.endpoints, "_deliveries")
    all_endpoints = blocking_call(Deliveries.all_endpoints, "_deliveries")
    resume_endpoint = blocking_call(Deliveries.resume_endpoint, "_deliveries")
