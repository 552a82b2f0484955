"""Standard Webhooks signatures (https://www.standardwebhooks.com) on every HTTP push.

`webhook-id` is derived from the notification, so every retry of it carries the same id
and a receiver can drop duplicates; `webhook-signature` covers exactly the bytes sent.
After a secret rotation the old secret signs too, for a grace period, so a receiver can
switch secrets without losing a notification.
"""

import hashlib
from datetime import datetime, timedelta

from standardwebhooks import Webhook
from tidings.domain import delivery as dlv

__all__ = ["ROTATION_GRACE", "signed_headers", "webhook_id"]

ROTATION_GRACE = timedelta(hours=24)


def webhook_id(login: str, notification_id: int) -> str:
    """The stable message id of one notification of one account."""
    digest = hashlib.sha256(dlv.key(login, notification_id).encode()).hexdigest()[:24]
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
    secrets = [secret]
    if previous and rotated_at is not None and now - rotated_at < grace:
        secrets.append(previous)
    signatures = " ".join(Webhook(s).sign(msg_id, now, text) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
