"""Delivery problems, endpoint health and fallbacks in the operator's log (README lists
the events), on the `tidings.push` logger, once the change is committed. An endpoint is
shown as a URL's origin or an address's domain: a path or query may hold a token."""

import logging
from typing import Any
from urllib.parse import urlsplit

from tidings.domain import dispatch
from tidings.domain import endpoint as ept
from tidings.domain import mailbox as mbx
from tidings.domain.delivery import DeliveryScheduled, DeliveryState

from ..logs import event
from .views import Claim, Reply

__all__ = ["delivery_fields", "endpoint_shown", "tell", "tell_resumed", "tell_settled"]

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
    """Log what went wrong with the attempt `claim` made (nothing when it succeeded)."""
    if state.status == "succeeded":
        return
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
