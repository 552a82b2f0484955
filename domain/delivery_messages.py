"""The delivery stream's messages: what may be asked of a delivery (commands) and what
happened to it (events), with the route a delivery goes by. Its rules are
`domain.delivery`'s."""

from datetime import datetime
from typing import Literal

from msgspec import Struct

from .retry import RetryPolicy
from .values import Notification

__all__ = [
    "NOTHING_TO_SEND",
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
    "GiveUp",
    "Medium",
    "RecordAttempt",
    "RequeueDelivery",
    "Route",
    "ScheduleDelivery",
    "StartAttempt",
]

Medium = Literal["url", "email"]


# --- Commands -------------------------------------------------------------------------
class ScheduleDelivery(Struct, frozen=True, gc=False, kw_only=True, tag="ScheduleDelivery"):
    """`notification` is what is pushed; the delivery keeps it so that any process can
    send it without looking elsewhere."""

    login: str
    notification_id: int
    medium: Medium
    target: str
    expected_status: frozenset[int]
    retry_policy: RetryPolicy
    notification: Notification | None = None
    context: dict[str, str] | None = None  # the accepting request's (`OperationAccepted`)


class StartAttempt(Struct, frozen=True, gc=False, kw_only=True, tag="StartAttempt"):
    """Claim the next attempt for `claimant` (a process) for `lease` seconds."""

    claimant: str = ""
    lease: float = 60.0


class RecordAttempt(Struct, frozen=True, gc=False, kw_only=True, tag="RecordAttempt"):
    """What one try returned. `status` is the HTTP (or SMTP) status, None when no answer
    came; `error` says what went wrong in transport; `jitter` in [-1, 1] is drawn by the
    adapter; `retry_after` is the receiver's Retry-After in seconds, if any; `answer` the
    start of what the receiver said (the adapter keeps at most 1 KiB); `lacks` an
    extension the receiver did not offer that the attempt needed, so nothing was sent
    (SMTP: "SMTPUTF8", for a non-ASCII address); `refused_at` the step of the
    conversation `status` answered (SMTP: "greeting", "EHLO", "STARTTLS", "AUTH",
    "MAIL FROM", "RCPT TO", "DATA"; "" when not told)."""

    status: int | None
    error: str | None = None
    duration_ms: float
    jitter: float = 0.0
    retry_after: float | None = None
    number: int | None = None  # the attempt this answers; None: the one in flight
    answer: str = ""
    lacks: str = ""
    refused_at: str = ""


class GiveUp(Struct, frozen=True, gc=False, tag="GiveUp"):
    reason: str


class Route(Struct, frozen=True, gc=False, kw_only=True):
    """Where and how a delivery goes: what its scheduling says, or its requeue changed."""

    medium: Medium
    target: str
    expected_status: frozenset[int]
    retry_policy: RetryPolicy


class RequeueDelivery(Struct, frozen=True, gc=False, tag="RequeueDelivery"):
    """Send a delivery again: one that gave up (requeued) or, with `delivered`, one that
    succeeded (resent: the client asked to hear it again); with `since` (aware), only
    one that gave up, or succeeded and was scheduled, at or after it. `route`: where it
    goes from then on (None: where it went before)."""

    delivered: bool = False
    since: datetime | None = None
    route: Route | None = None


# What an operator's requeue of all of an account's deliveries answers (2304) when none
# may be sent again (`decide_each`).
NOTHING_TO_SEND = "no delivery of the account to send again"

DeliveryCommand = ScheduleDelivery | StartAttempt | RecordAttempt | GiveUp | RequeueDelivery


# --- Events ---------------------------------------------------------------------------
class DeliveryScheduled(Struct, frozen=True, gc=False, kw_only=True, tag="DeliveryScheduled"):
    login: str
    notification_id: int
    medium: Medium
    target: str
    expected_status: frozenset[int]
    retry_policy: RetryPolicy
    at: datetime
    notification: Notification | None = None  # None in events stored before it was kept
    context: dict[str, str] | None = None  # the accepting request's (`OperationAccepted`)


class AttemptStarted(Struct, frozen=True, gc=False, kw_only=True, tag="AttemptStarted"):
    """A claim: `claimant` makes attempt `number` and holds it until `lease_until`."""

    number: int
    at: datetime
    claimant: str = ""
    lease_until: datetime | None = None


class AttemptExpired(Struct, frozen=True, gc=False, kw_only=True, tag="AttemptExpired"):
    """Attempt `number` was never recorded and its lease ran out: its claimant is gone."""

    number: int
    at: datetime


class AttemptSucceeded(Struct, frozen=True, gc=False, kw_only=True, tag="AttemptSucceeded"):
    number: int
    status: int | None
    duration_ms: float
    at: datetime
    answer: str = ""


class AttemptFailed(Struct, frozen=True, gc=False, kw_only=True, tag="AttemptFailed"):
    """`next_attempt_at` is None when this failure used up the schedule."""

    number: int
    status: int | None
    error: str
    duration_ms: float
    next_attempt_at: datetime | None
    at: datetime
    answer: str = ""


class DeliveryGaveUp(Struct, frozen=True, gc=False, kw_only=True, tag="DeliveryGaveUp"):
    reason: str
    at: datetime


class DeliveryRequeued(Struct, frozen=True, gc=False, kw_only=True, tag="DeliveryRequeued"):
    """`route`: where the delivery goes from then on, when not where it went before."""

    at: datetime
    route: Route | None = None


class DeliveryResent(Struct, frozen=True, kw_only=True, tag="DeliveryResent"):
    """A delivery that succeeded is sent again. It names its scheduling (without the
    notification, which the stream holds; with the route it goes by from then on) and
    its last attempt's number, so a follower
    that forgot the delivery once it succeeded (the due index) takes it up from this
    event alone (`resumed`)."""

    scheduled: DeliveryScheduled
    attempts: int
    at: datetime


DeliveryEvent = (
    DeliveryScheduled
    | AttemptStarted
    | AttemptExpired
    | AttemptSucceeded
    | AttemptFailed
    | DeliveryGaveUp
    | DeliveryRequeued
    | DeliveryResent
)
