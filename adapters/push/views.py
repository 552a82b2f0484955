"""What is told about push delivery: the library's views (without secrets), the claims
the due-work runner works on, and the operator's log (README lists the events, on the
`tidings.push` logger, once the change is committed), where an endpoint is a URL's
origin or an address's domain (a path or query may hold a token)."""

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from msgspec import Struct
from tidings.domain import Notification, dispatch
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain.account import AccountState
from tidings.domain.delivery import DeliveryScheduled, DeliveryState, DeliveryStatus, RecordAttempt
from tidings.domain.dispatch import Held
from tidings.domain.endpoint import EndpointState

from ..logs import event

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
    "delivery_fields",
    "delivery_view",
    "endpoint_shown",
    "endpoint_view",
    "tell",
    "tell_resumed",
    "tell_settled",
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
    """The endpoint to resume (a URL or address of the account); absent or null: all of
    them."""

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


_log = logging.getLogger("tidings.push")
_SHOWN = 200  # characters of an error or answer kept in the event


def endpoint_shown(target: str) -> str:
    """What the log shows of a push target: a URL's origin, an address's domain."""
    if "://" not in target:
        return "@" + target.rpartition("@")[2]
    parts = urlsplit(target)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def delivery_fields(scheduled: DeliveryScheduled, **more: Any) -> dict[str, Any]:
    """The fields of an event about a delivery: `more` between its ids and the id of the
    request that accepted its operation (`X-Request-Id`, not the runner's)."""
    notification = scheduled.notification
    return {
        "login": scheduled.login,
        "svtrid": None if notification is None else notification.outcome.svtrid,
        "notification": scheduled.notification_id,
        **more,
        "request_id": (scheduled.context or {}).get("request_id"),
    }


def tell_settled(scheduled: DeliveryScheduled, settled: dispatch.Settled) -> None:
    """Log what an attempt's settling changed: a pause, a resume by the probe, a
    fallback to the poll queue."""
    shown = endpoint_shown(scheduled.target)
    fields = delivery_fields(scheduled, medium=scheduled.medium, endpoint=shown)
    for change in settled.endpoint:
        if isinstance(change, ept.EndpointPaused):
            failed = [e for e in settled.endpoint if isinstance(e, ept.EndpointFailed)]
            failures = failed[-1].consecutive if failed else None
            paused = {"failures": failures, "probe_every": change.probe_every}
            event(_log, logging.WARNING, "endpoint_paused", **fields, **paused)
        elif isinstance(change, ept.EndpointResumed):
            event(_log, logging.INFO, "endpoint_resumed", **fields, by=change.by)
    if any(isinstance(change, mbx.NotificationQueued) for change in settled.mailbox):
        event(_log, logging.WARNING, "delivery_fell_back_to_poll", **fields)


def tell_resumed(login: str, targets: list[str]) -> None:
    """Log an operator's resume of each of `targets` (those that were paused)."""
    for target in targets:
        shown = endpoint_shown(target)
        event(_log, logging.INFO, "endpoint_resumed", login=login, endpoint=shown, by="operator")


def tell(claim: Claim, reply: Reply, state: DeliveryState) -> None:
    """Log what went wrong with the attempt `claim` made (one that did not succeed)."""
    scheduled = claim.scheduled
    fields = delivery_fields(
        scheduled,
        attempt=claim.number,
        medium=scheduled.medium,
        status=reply.status,
        error=(reply.error or reply.answer or "")[:_SHOWN] or None,
    )
    refused = scheduled.medium == "email" and reply.status is not None
    event(_log, logging.WARNING, "smtp_refused" if refused else "delivery_attempt_failed", **fields)
    if state.status == "gave_up":
        event(_log, logging.ERROR, "delivery_gave_up", **fields, reason=state.gave_up_reason)
