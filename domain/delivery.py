"""Delivery: the push of one notification to a URL or an e-mail address.

Stream: one per (account, notification id). Life: scheduled -> attempt started ->
succeeded, or failed and due again later, until the retry schedule is used up and the
delivery gives up; a given-up delivery is kept and can be requeued for redelivery, which
starts a fresh schedule. Whether an attempt succeeded is decided here, from the status
the account expects, not by the adapter that made the call.
"""

from datetime import datetime, timedelta
from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from .codes import Code
from .rejection import Rejection, reject
from .retry import RetryPolicy, next_delay, policy_problem

__all__ = [
    "Attempt",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "DeliveryCommand",
    "DeliveryEvent",
    "DeliveryGaveUp",
    "DeliveryRequeued",
    "DeliveryScheduled",
    "DeliveryState",
    "DeliveryStatus",
    "GiveUp",
    "RecordAttempt",
    "RequeueDelivery",
    "ScheduleDelivery",
    "StartAttempt",
    "decide",
    "evolve",
    "initial",
    "is_terminal",
]

DeliveryStatus = Literal["new", "scheduled", "in_flight", "succeeded", "gave_up"]
Medium = Literal["url", "email"]


# --- Commands -------------------------------------------------------------------------
class ScheduleDelivery(Struct, frozen=True, kw_only=True, tag="ScheduleDelivery"):
    login: str
    notification_id: int
    medium: Medium
    target: str
    expected_status: frozenset[int]
    retry_policy: RetryPolicy


class StartAttempt(Struct, frozen=True, tag="StartAttempt"):
    pass


class RecordAttempt(Struct, frozen=True, kw_only=True, tag="RecordAttempt"):
    """What one try returned. `status` is the HTTP (or SMTP) status, None when no answer
    came; `error` says what went wrong in transport; `jitter` in [-1, 1] is drawn by the
    adapter; `retry_after` is the receiver's Retry-After in seconds, if any."""

    status: int | None
    error: str | None = None
    duration_ms: float
    jitter: float = 0.0
    retry_after: float | None = None


class GiveUp(Struct, frozen=True, tag="GiveUp"):
    reason: str


class RequeueDelivery(Struct, frozen=True, tag="RequeueDelivery"):
    pass


DeliveryCommand = ScheduleDelivery | StartAttempt | RecordAttempt | GiveUp | RequeueDelivery


# --- Events ---------------------------------------------------------------------------
class DeliveryScheduled(Struct, frozen=True, kw_only=True, tag="DeliveryScheduled"):
    login: str
    notification_id: int
    medium: Medium
    target: str
    expected_status: frozenset[int]
    retry_policy: RetryPolicy
    at: datetime


class AttemptStarted(Struct, frozen=True, kw_only=True, tag="AttemptStarted"):
    number: int
    at: datetime


class AttemptSucceeded(Struct, frozen=True, kw_only=True, tag="AttemptSucceeded"):
    number: int
    status: int | None
    duration_ms: float
    at: datetime


class AttemptFailed(Struct, frozen=True, kw_only=True, tag="AttemptFailed"):
    """`next_attempt_at` is None when this failure used up the schedule."""

    number: int
    status: int | None
    error: str
    duration_ms: float
    next_attempt_at: datetime | None
    at: datetime


class DeliveryGaveUp(Struct, frozen=True, kw_only=True, tag="DeliveryGaveUp"):
    reason: str
    at: datetime


class DeliveryRequeued(Struct, frozen=True, kw_only=True, tag="DeliveryRequeued"):
    at: datetime


DeliveryEvent = (
    DeliveryScheduled
    | AttemptStarted
    | AttemptSucceeded
    | AttemptFailed
    | DeliveryGaveUp
    | DeliveryRequeued
)


# --- State ----------------------------------------------------------------------------
class Attempt(Struct, frozen=True, kw_only=True):
    number: int
    started_at: datetime
    status: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    succeeded: bool | None = None


class DeliveryState(Struct, frozen=True, kw_only=True):
    status: DeliveryStatus = "new"
    scheduled: DeliveryScheduled | None = None
    attempts: tuple[Attempt, ...] = ()
    # Failures since the schedule (re)started: the retry policy counts these.
    failures: int = 0
    next_attempt_at: datetime | None = None


initial = DeliveryState()


def is_terminal(state: DeliveryState) -> bool:
    return state.status == "succeeded"


# --- Decisions ------------------------------------------------------------------------
def _record(
    state: DeliveryState, c: RecordAttempt, now: datetime
) -> list[DeliveryEvent] | Rejection:
    assert state.scheduled is not None
    if not -1.0 <= c.jitter <= 1.0:
        return reject(Code.INVALID_PARAMETER, "jitter must be in [-1, 1]")
    number = len(state.attempts)
    if c.error is None and c.status in state.scheduled.expected_status:
        return [AttemptSucceeded(number=number, status=c.status, duration_ms=c.duration_ms, at=now)]
    error = c.error or f"unexpected status {c.status}"
    delay = next_delay(state.scheduled.retry_policy, state.failures + 1, c.jitter, c.retry_after)
    next_at = None if delay is None else now + timedelta(seconds=delay)
    failed = AttemptFailed(
        number=number,
        status=c.status,
        error=error,
        duration_ms=c.duration_ms,
        next_attempt_at=next_at,
        at=now,
    )
    if next_at is None:
        return [failed, DeliveryGaveUp(reason=f"retry schedule used up; last: {error}", at=now)]
    return [failed]


def decide(
    state: DeliveryState, command: DeliveryCommand, now: datetime
) -> list[DeliveryEvent] | Rejection:
    """Decide what a command does to a delivery.

    Rejections: 2302 scheduling twice; 2101 scheduling without id, target or
    expected statuses, or with an unusable retry policy; 2303
    anything on a delivery never scheduled; 2304
    starting an attempt that is not due, or while one is in flight, or after success;
    recording an attempt none was started for; giving up a finished delivery; requeueing
    one that has not given up; 2101 jitter outside [-1, 1].
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
            )
        ]
    if state.scheduled is None:
        return reject(Code.OBJECT_NOT_FOUND, "delivery does not exist")
    match command:
        case StartAttempt():
            if state.status != "scheduled":
                return reject(Code.STATUS_PROHIBITS, f"delivery is {state.status}")
            if state.next_attempt_at is not None and now < state.next_attempt_at:
                return reject(Code.STATUS_PROHIBITS, "next attempt is not due yet")
            return [AttemptStarted(number=len(state.attempts) + 1, at=now)]
        case RecordAttempt():
            if state.status != "in_flight":
                return reject(Code.STATUS_PROHIBITS, "no attempt in flight")
            return _record(state, command, now)
        case GiveUp(reason=reason):
            if state.status in ("succeeded", "gave_up"):
                return reject(Code.STATUS_PROHIBITS, f"delivery is {state.status}")
            return [DeliveryGaveUp(reason=reason, at=now)]
        case RequeueDelivery():
            if state.status != "gave_up":
                return reject(Code.STATUS_PROHIBITS, "only a delivery that gave up is requeued")
            return [DeliveryRequeued(at=now)]


def _close_attempt(state: DeliveryState, **outcome: object) -> tuple[Attempt, ...]:
    *done, last = state.attempts
    return (*done, replace(last, **outcome))


def evolve(state: DeliveryState, event: DeliveryEvent) -> DeliveryState:
    """Apply one delivery event."""
    match event:
        case DeliveryScheduled(at=at):
            return DeliveryState(status="scheduled", scheduled=event, next_attempt_at=at)
        case AttemptStarted(number=number, at=at):
            attempt = Attempt(number=number, started_at=at)
            return replace(state, status="in_flight", attempts=(*state.attempts, attempt))
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
        case DeliveryGaveUp():
            return replace(state, status="gave_up", next_attempt_at=None)
        case DeliveryRequeued(at=at):
            return replace(state, status="scheduled", failures=0, next_attempt_at=at)
