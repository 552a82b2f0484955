"""What the library tells about push delivery (views without secrets), and the claims
the due-work runner works on."""

from datetime import datetime

from msgspec import Struct
from tidings.domain import Notification
from tidings.domain.account import AccountState
from tidings.domain.delivery import (
    DeliveryScheduled,
    DeliveryState,
    DeliveryStatus,
    RecordAttempt,
)
from tidings.domain.dispatch import Held
from tidings.domain.endpoint import EndpointState

__all__ = [
    "ANSWER_KEPT",
    "LOG_INDEX",
    "Attempted",
    "Claim",
    "DeliveryView",
    "EndpointView",
    "Held",
    "Redelivered",
    "Redelivery",
    "Reply",
    "ResumeTarget",
    "Resumed",
    "delivery_view",
    "endpoint_view",
]


# Bytes of a receiver's answer kept in the log with the attempt.
ANSWER_KEPT = 1024


# What one attempt got (the domain's record of it, `number` and `jitter` left to the
# runner): a status (None: no answer), a transport error, how long it took, ...
Reply = RecordAttempt


class DeliveryView(Struct, frozen=True, kw_only=True):
    """One pushed notification: where to, how it stands, its last attempt's outcome."""

    login: str
    notification_id: int
    medium: str
    target: str
    status: DeliveryStatus
    attempts: int
    scheduled_at: datetime
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    gave_up_reason: str = ""
    gave_up_at: datetime | None = None


class EndpointView(Struct, frozen=True, kw_only=True):
    login: str
    target: str
    paused: bool
    consecutive_failures: int
    paused_at: datetime | None = None
    next_probe_at: datetime | None = None


class Redelivery(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which deliveries to send again: given-up ones and, with `delivered`, those that
    succeeded too (recorded as resent); one (`notification_id`), those that gave up (or,
    delivered, were scheduled) since `since`, or (neither) all."""

    notification_id: int | None = None
    since: datetime | None = None
    delivered: bool = False


class Redelivered(Struct, frozen=True, kw_only=True):
    requeued: list[int]


class ResumeTarget(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The endpoint to resume (a URL or address of the account); None: all of them."""

    target: str | None = None


class Resumed(Struct, frozen=True, kw_only=True):
    resumed: list[str]


# The header that names a pushed notification's leaf in the log's Merkle tree.
LOG_INDEX = "tidings-log-index"


class Claim(Struct, frozen=True, kw_only=True):
    """An attempt this process holds until `lease_until`, with the account's signing
    secrets (current, and previous or ""): never shown."""

    number: int
    scheduled: DeliveryScheduled
    notification: Notification
    account: AccountState
    lease_until: datetime
    log_index: int | None = None  # the notification's leaf in the log's Merkle tree
    signing_secret: str = ""
    previous_secret: str = ""


class Attempted(Struct, frozen=True, kw_only=True):
    """What attempt `number` of a delivery got; `jitter` in [-1, 1] for the next delay."""

    login: str
    notification_id: int
    number: int
    reply: Reply
    jitter: float


def delivery_view(state: DeliveryState) -> DeliveryView:
    scheduled = state.scheduled
    assert scheduled is not None
    last = state.attempts[-1] if state.attempts else None
    return DeliveryView(
        login=scheduled.login,
        notification_id=scheduled.notification_id,
        medium=scheduled.medium,
        target=scheduled.target,
        status=state.status,
        attempts=len(state.attempts),
        scheduled_at=scheduled.at,
        next_attempt_at=state.next_attempt_at,
        last_status=None if last is None else last.status,
        last_error=None if last is None else last.error,
        gave_up_reason=state.gave_up_reason,
        gave_up_at=state.gave_up_at,
    )


def endpoint_view(login: str, target: str, state: EndpointState) -> EndpointView:
    shown = {name: getattr(state, name) for name in EndpointView.__struct_fields__[2:]}
    return EndpointView(login=login, target=target, **shown)
