"""Delivery problems in the log an operator reads: one event per failed attempt (an SMTP
server's refusal is `smtp_refused`) and per give-up, on the `tidings.push` logger, each with the
login, the svTRID, the notification id and the id of the request that accepted the operation
(`logs.event`)."""

import logging

from tidings.domain.delivery import DeliveryState

from ..logs import event
from .views import Claim, Reply

__all__ = ["tell"]

_log = logging.getLogger("tidings.push")
_SHOWN = 200  # characters of an error or answer kept in the event


def tell(claim: Claim, reply: Reply, state: DeliveryState) -> None:
    """Log what went wrong with the attempt `claim` made (nothing when it succeeded)."""
    if state.status == "succeeded":
        return
    scheduled = claim.scheduled
    fields = {
        "login": scheduled.login,
        "svtrid": claim.notification.outcome.svtrid,
        "notification": scheduled.notification_id,
        "attempt": claim.number,
        "medium": scheduled.medium,
        "status": reply.status,
        "error": (reply.error or reply.answer or "")[:_SHOWN] or None,
        # The request that accepted the operation (`X-Request-Id`), not the runner's.
        "request_id": (scheduled.context or {}).get("request_id"),
    }
    refused = scheduled.medium == "email" and reply.status is not None
    event(_log, logging.WARNING, "smtp_refused" if refused else "delivery_attempt_failed", **fields)
    if state.status == "gave_up":
        event(_log, logging.ERROR, "delivery_gave_up", **fields, reason=state.gave_up_reason)
