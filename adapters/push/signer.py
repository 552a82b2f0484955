"""Standard Webhooks signatures (https://www.standardwebhooks.com) on every HTTP push.

`webhook-id` is derived from the notification, so every retry of it carries the same id
and a receiver can drop duplicates; `webhook-signature` covers exactly the bytes sent.
Which secrets sign is the domain's rule (`domain.dispatch.signing_secrets`): after a
rotation the old secret signs too, for a grace period.
"""

import hashlib
from datetime import datetime, timedelta

from standardwebhooks import Webhook
from tidings.domain.delivery import key
from tidings.domain.dispatch import ROTATION_GRACE, signing_secrets

__all__ = ["ROTATION_GRACE", "signed_headers", "webhook_id"]


def webhook_id(login: str, notification_id: int) -> str:
    """The stable message id of one notification of one account."""
    digest = hashlib.sha256(key(login, notification_id).encode()).hexdigest()[:24]
    return f"msg_{digest}"


def signed_headers(
    msg_id: str,
    body: bytes,
    now: datetime,
    secret: str,
    previous: str = "",
    rotated_at: datetime | None = None,
    grace: timedelta = ROTATION_GRACE,
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed with `secret` and, within
    `grace` of a rotation, also with `previous`."""
    text = body.decode("utf-8")
    secrets = signing_secrets(secret, previous, rotated_at, now, grace)
    signatures = " ".join(Webhook(s).sign(msg_id, now, text) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
