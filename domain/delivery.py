"""Delivery: the push of one notification to a URL or an e-mail address.

Stream: one per (account, notification id). Life: scheduled -> attempt started ->
succeeded, or failed and due again later, until the retry schedule is used up and the
delivery gives up; a given-up delivery is kept and can be requeued for redelivery, which
starts a fresh schedule. A requeue (or a resend of a delivered one) names its `Route`:
the medium, target, expected statuses and retry policy it goes by from then on, the
account's channel as it is when the requeue is decided (`dispatch.requeue`). Whether
an attempt succeeded is decided here, from the status the account expects, not by the
adapter that made the call.

Starting an attempt is a claim with a lease: `AttemptStarted` names the claimant and
holds until `lease_until`. A process that dies mid-attempt never records its outcome;
once the lease has run out any process may start the next attempt (the abandoned one is
closed by `AttemptExpired`, which costs no step of the schedule: the receiver did
nothing wrong). An outcome is recorded only for the attempt still in flight, so a late
answer of a taken-over attempt changes nothing.

Some answers end a delivery at once: `410 Gone` from a URL, a permanent (5xx) SMTP
reply to the recipient or the message (RCPT TO, DATA: not before, where it is the
server's or the operator's setup, a password, TLS, tidings' own sender address, that
may be fixed before the next attempt; nor 530, authentication required), and a mail
server that offers no SMTPUTF8 when the address is not ASCII (RFC 6531: the message may
not be sent to it, and no retry changes that). A receiver's `Retry-After` counts only on
429 and 503, the statuses that carry it.
"""

from datetime import datetime, timedelta
from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .delivery_messages import (
    NOTHING_TO_SEND,
    AttemptExpired,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryGaveUp,
    DeliveryRequeued,
    DeliveryResent,
    DeliveryScheduled,
    GiveUp,
    Medium,
    RecordAttempt,
    RequeueDelivery,
    Route,
    ScheduleDelivery,
    StartAttempt,
)
from .rejection import Rejection, reject
from .retry import MAX_DELAY, next_delay, policy_problem

__all__ = [
    "NOTHING_TO_SEND",
    "Attempt",
    "AttemptExpired",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "DeliveryCommand",
    "DeliveryEvent",
    "DeliveryGaveUp",
    "DeliveryRequeued",
    "DeliveryResent",
    "DeliveryScheduled",
    "DeliveryState",
    "DeliveryStatus",
    "GiveUp",
    "Medium",
    "RecordAttempt",
    "RequeueDelivery",
    "Route",
    "ScheduleDelivery",
    "StartAttempt",
    "check",
    "decide",
    "due_at",
    "evolve",
    "holds_back",
    "initial",
    "is_terminal",
    "key",
    "resumed",
]

DeliveryStatus = Literal["new", "scheduled", "in_flight", "succeeded", "gave_up"]

# The statuses whose Retry-After a receiver may use to slow us down (RFC 9110, 10.2.3).
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# The SMTP steps before the recipient: a refusal there is the mail server's setup or the
# operator's (a password, TLS, the server's own state; at MAIL FROM tidings' own sender,
# the one address it names, RFC 5321 3.3), which a later attempt may find fixed, not a
# refusal of this message. So is 530 at any step (RFC 4954 6: authentication required,
# and the operator gave no credentials).
_SMTP_SETUP = frozenset({"greeting", "EHLO", "STARTTLS", "AUTH", "MAIL FROM"})
_AUTH_REQUIRED = 530


def key(login: str, notification_id: int) -> str:
    """The stream key of the delivery of an account's notification (a login holds no '/')."""
    return f"{login}/{notification_id}"


# --- State ----------------------------------------------------------------------------
class Attempt(Struct, frozen=True, gc=False, kw_only=True):
    number: int
    started_at: datetime
    status: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    succeeded: bool | None = None


class DeliveryState(Struct, frozen=True, gc=False, kw_only=True):
    status: DeliveryStatus = "new"
    scheduled: DeliveryScheduled | None = None
    attempts: tuple[Attempt, ...] = ()
    # Failures since the schedule (re)started: the retry policy counts these.
    failures: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None  # while in flight: when the claim runs out
    gave_up_reason: str = ""
    gave_up_at: datetime | None = None


initial = DeliveryState()


def is_terminal(state: DeliveryState) -> bool:
    return state.status == "succeeded"


def due_at(state: DeliveryState) -> datetime | None:
    """When a process should next act on this delivery: the next attempt, or the end of
    the lease of the one in flight (to take it over); None when nothing is due."""
    if state.status == "scheduled":
        return state.next_attempt_at
    if state.status == "in_flight":
        return state.lease_until
    return None


def holds_back(earlier: DeliveryState) -> bool:
    """Whether, on an ordered account, this delivery keeps the next one waiting: it is
    not done yet (succeeded or given up). A delivery never scheduled holds nothing."""
    return earlier.status in ("scheduled", "in_flight")


def _stops_at_once(scheduled: DeliveryScheduled, c: RecordAttempt) -> str | None:
    """Why an answer ends the delivery without a retry, or None."""
    medium, status = scheduled.medium, c.status
    if medium == "email" and c.lacks == "SMTPUTF8" and not scheduled.target.isascii():
        return "the mail server takes no non-ASCII address (it offers no SMTPUTF8)"
    if status is None:
        return None
    if medium == "url" and status == 410:
        return "the receiver answered 410 Gone"
    setup = c.refused_at in _SMTP_SETUP or status == _AUTH_REQUIRED
    if medium == "email" and 500 <= status <= 599 and not setup:
        return f"the mail server refused it for good ({status})"
    return None


# --- Decisions ------------------------------------------------------------------------
def _record(
    state: DeliveryState, c: RecordAttempt, now: datetime
) -> list[DeliveryEvent] | Rejection:
    assert state.scheduled is not None
    if not -1.0 <= c.jitter <= 1.0:
        return reject(Code.INVALID_PARAMETER, "jitter must be in [-1, 1]")
    number = len(state.attempts)
    if c.error is None and c.status in state.scheduled.expected_status:
        succeeded = AttemptSucceeded(
            number=number, status=c.status, duration_ms=c.duration_ms, at=now, answer=c.answer
        )
        return [succeeded]
    error = c.error or f"unexpected status {c.status}"
    stop = _stops_at_once(state.scheduled, c)
    retry_after = c.retry_after if c.status in _RETRY_AFTER_STATUSES else None
    policy = state.scheduled.retry_policy
    delay = None if stop else next_delay(policy, state.failures + 1, c.jitter, retry_after)
    next_at = None if delay is None else now + timedelta(seconds=delay)
    failed = AttemptFailed(
        number=number,
        status=c.status,
        error=error,
        duration_ms=c.duration_ms,
        next_attempt_at=next_at,
        at=now,
        answer=c.answer,
    )
    if next_at is None:
        reason = stop or f"retry schedule used up; last: {error}"
        return [failed, DeliveryGaveUp(reason=reason, at=now)]
    return [failed]


def _start(state: DeliveryState, c: StartAttempt, now: datetime) -> list[DeliveryEvent] | Rejection:
    if not 0 < c.lease <= MAX_DELAY:
        return reject(Code.INVALID_PARAMETER, "a lease lasts more than 0 s and at most 30 days")
    number = len(state.attempts) + 1
    started = AttemptStarted(
        number=number,
        at=now,
        claimant=c.claimant,
        lease_until=now + timedelta(seconds=c.lease),
    )
    if state.status == "in_flight":
        if state.lease_until is None or now < state.lease_until:
            return reject(Code.STATUS_PROHIBITS, "an attempt is in flight")
        return [AttemptExpired(number=number - 1, at=now), started]
    if state.status != "scheduled":
        return reject(Code.STATUS_PROHIBITS, f"delivery is {state.status}")
    if state.next_attempt_at is not None and now < state.next_attempt_at:
        return reject(Code.STATUS_PROHIBITS, "next attempt is not due yet")
    return [started]


def decide(
    state: DeliveryState, command: DeliveryCommand, now: datetime
) -> list[DeliveryEvent] | Rejection:
    """Decide what a command does to a delivery.

    Rejections: 2302 scheduling twice; 2101 scheduling without id, target or
    expected statuses, or with an unusable retry policy; 2303
    anything on a delivery never scheduled; 2304
    starting an attempt that is not due, or while one is in flight and its lease holds,
    or after success; recording an attempt none was started for, or one taken over;
    giving up a finished delivery; requeueing one that has not given up (resending,
    with `delivered`, one that neither gave up nor succeeded), or one that did before
    its `since`; 2101 jitter outside [-1, 1], a lease outside (0 s, 30 days], a `since`
    without a time zone, a requeue's route without target or expected statuses, or with
    an unusable retry policy.
    """
    if isinstance(command, ScheduleDelivery):
        if state.scheduled is not None:
            return reject(Code.OBJECT_EXISTS, "delivery already scheduled")
        if command.notification_id < 1 or not command.target:
            return reject(Code.INVALID_PARAMETER, "a delivery needs a notification id and target")
        if not command.expected_status:
            return reject(Code.INVALID_PARAMETER, "a delivery needs the statuses that mean success")
        if problem := policy_problem(command.retry_policy):
            return reject(Code.INVALID_PARAMETER, problem)
        return [
            DeliveryScheduled(
                login=command.login,
                notification_id=command.notification_id,
                medium=command.medium,
                target=command.target,
                expected_status=command.expected_status,
                retry_policy=command.retry_policy,
                at=now,
                notification=command.notification,
                context=command.context,
            )
        ]
    scheduled = state.scheduled
    if scheduled is None:
        return reject(Code.OBJECT_NOT_FOUND, "delivery does not exist")
    match command:
        case StartAttempt():
            return _start(state, command, now)
        case RecordAttempt(number=number):
            if state.status != "in_flight":
                return reject(Code.STATUS_PROHIBITS, "no attempt in flight")
            if number is not None and number != len(state.attempts):
                return reject(Code.STATUS_PROHIBITS, f"attempt {number} was taken over")
            return _record(state, command, now)
        case GiveUp(reason=reason):
            if state.status in ("succeeded", "gave_up"):
                return reject(Code.STATUS_PROHIBITS, f"delivery is {state.status}")
            return [DeliveryGaveUp(reason=reason, at=now)]
        case RequeueDelivery(delivered=delivered, since=since):
            gave_up = state.status == "gave_up"
            if not gave_up and not (delivered and state.status == "succeeded"):
                if delivered:
                    return reject(Code.STATUS_PROHIBITS, f"a delivery {state.status} is not resent")
                return reject(Code.STATUS_PROHIBITS, "only a delivery that gave up is requeued")
            if since is not None and since.utcoffset() is None:
                return reject(Code.INVALID_PARAMETER, "since needs a time zone")
            moment = (state.gave_up_at or scheduled.at) if gave_up else scheduled.at
            if since is not None and moment < since:
                return reject(Code.STATUS_PROHIBITS, f"a delivery {state.status} before since")
            return _requeue(state, scheduled, command.route, now)


def _route_of(scheduled: DeliveryScheduled) -> Route:
    return Route(
        medium=scheduled.medium,
        target=scheduled.target,
        expected_status=scheduled.expected_status,
        retry_policy=scheduled.retry_policy,
    )


def _rerouted(scheduled: DeliveryScheduled, route: Route) -> DeliveryScheduled:
    return replace(
        scheduled,
        medium=route.medium,
        target=route.target,
        expected_status=route.expected_status,
        retry_policy=route.retry_policy,
    )


def _requeue(
    state: DeliveryState, scheduled: DeliveryScheduled, route: Route | None, now: datetime
) -> list[DeliveryEvent] | Rejection:
    if route is not None:
        if not route.target or not route.expected_status:
            return reject(Code.INVALID_PARAMETER, "a delivery needs a target and its statuses")
        if problem := policy_problem(route.retry_policy):
            return reject(Code.INVALID_PARAMETER, problem)
        if route == _route_of(scheduled):
            route = None
    if state.status == "gave_up":
        return [DeliveryRequeued(at=now, route=route)]
    kept = replace(scheduled if route is None else _rerouted(scheduled, route), notification=None)
    return [DeliveryResent(scheduled=kept, attempts=_last_number(state), at=now)]


def _last_number(state: DeliveryState) -> int:
    # The last attempt's own number, not a count: the push index folds on a state that
    # keeps only the last attempt.
    return state.attempts[-1].number if state.attempts else 0


def _outcome_problem(state: DeliveryState, what: str, number: int) -> str | None:
    if state.status != "in_flight":
        return f"{what} of attempt {number} with no attempt in flight"
    if number != _last_number(state):
        return f"{what} of attempt {number} while attempt {_last_number(state)} is in flight"
    return None


def check(state: DeliveryState, event: DeliveryEvent) -> str | None:
    """Why `event` cannot follow `state`, or None when it may: what `decide` could have
    produced there. The scheduling first, once; an attempt starts, numbered next, on a
    scheduled delivery once it is due; its outcome or its expiry (once its lease ran out)
    names the attempt in flight; giving up ends a delivery not yet finished; a requeue
    follows a give-up. Anything that is not a delivery event may not follow."""
    if isinstance(event, DeliveryScheduled):
        return "scheduled twice" if state.scheduled is not None else None
    if state.scheduled is None:
        return "a delivery's first event is its scheduling"
    match event:
        case AttemptStarted(number=number, at=at):
            if state.status != "scheduled":
                return f"attempt {number} started on a delivery {state.status}"
            if number != _last_number(state) + 1:
                return f"attempt {number} started after attempt {_last_number(state)}"
            if state.next_attempt_at is not None and at < state.next_attempt_at:
                return f"attempt {number} started before it was due"
            return None
        case AttemptExpired(number=number, at=at):
            if problem := _outcome_problem(state, "expiry", number):
                return problem
            if state.lease_until is not None and at < state.lease_until:
                return f"attempt {number} expired before its lease ran out"
            return None
        case AttemptSucceeded(number=number):
            return _outcome_problem(state, "success", number)
        case AttemptFailed(number=number):
            return _outcome_problem(state, "failure", number)
        case DeliveryGaveUp():
            if state.status in ("succeeded", "gave_up"):
                return f"a delivery {state.status} gave up"
            return None
        case DeliveryRequeued():
            return None if state.status == "gave_up" else "requeued without giving up"
        case DeliveryResent():
            return None if state.status == "succeeded" else "resent before it succeeded"
        case _:
            return "not a delivery event"


def _close_attempt(state: DeliveryState, **outcome: object) -> tuple[Attempt, ...]:
    if not state.attempts:  # a state built in flight without its attempt: nothing to close
        return state.attempts
    *done, last = state.attempts
    return (*done, replace(last, **outcome))


def evolve(state: DeliveryState, event: DeliveryEvent) -> DeliveryState:
    """Apply one delivery event. Never raises: an event `check` refuses (an outcome of no
    attempt in flight, a second scheduling, ...: only a forged log holds one) changes
    nothing, and so does anything that is not a delivery event."""
    if check(state, event) is not None:
        return state
    match event:
        case DeliveryScheduled(at=at):
            return DeliveryState(status="scheduled", scheduled=event, next_attempt_at=at)
        case AttemptStarted(number=number, at=at, lease_until=lease_until):
            attempt = Attempt(number=number, started_at=at)
            attempts = (*state.attempts, attempt)
            return replace(state, status="in_flight", attempts=attempts, lease_until=lease_until)
        case AttemptExpired(at=at):
            attempts = _close_attempt(state, error="abandoned: its lease ran out", succeeded=False)
            return replace(state, status="scheduled", attempts=attempts, next_attempt_at=at)
        case AttemptSucceeded():
            attempts = _close_attempt(
                state, status=event.status, duration_ms=event.duration_ms, succeeded=True
            )
            return replace(state, status="succeeded", attempts=attempts, next_attempt_at=None)
        case AttemptFailed():
            attempts = _close_attempt(
                state,
                status=event.status,
                error=event.error,
                duration_ms=event.duration_ms,
                succeeded=False,
            )
            return replace(
                state,
                status="scheduled",
                attempts=attempts,
                failures=state.failures + 1,
                next_attempt_at=event.next_attempt_at,
            )
        case DeliveryGaveUp(reason=reason, at=at):
            return replace(
                state, status="gave_up", next_attempt_at=None, gave_up_reason=reason, gave_up_at=at
            )
        case DeliveryRequeued(at=at) | DeliveryResent(at=at):
            assert state.scheduled is not None  # checked: it gave up or succeeded
            if isinstance(event, DeliveryResent):
                route: Route | None = _route_of(event.scheduled)
            else:
                route = event.route
            scheduled = state.scheduled if route is None else _rerouted(state.scheduled, route)
            return replace(
                state,
                status="scheduled",
                scheduled=scheduled,
                failures=0,
                next_attempt_at=at,
                gave_up_reason="",
                gave_up_at=None,
            )
    return state


def resumed(event: DeliveryResent) -> DeliveryState:
    """The state of a resent delivery, from its `DeliveryResent` alone: scheduled, due
    at once, its attempts numbered on from the last one (the older ones are not kept)."""
    last = Attempt(number=event.attempts, started_at=event.at, succeeded=True)
    done = DeliveryState(status="succeeded", scheduled=event.scheduled, attempts=(last,))
    return evolve(done, event)
