"""Which secrets sign a push: the account's current one and, for a grace period after a
rotation, the one before it, so a receiver can switch secrets without losing a
notification (docs/decisions.md, Delivery)."""

from datetime import datetime, timedelta

__all__ = ["ROTATION_GRACE", "signing_secrets"]

ROTATION_GRACE = timedelta(hours=24)


def signing_secrets(
    current: str,
    previous: str,
    rotated_at: datetime | None,
    now: datetime,
    grace: timedelta = ROTATION_GRACE,
) -> list[str]:
    """The secrets a push made at `now` is signed with: `current`, and `previous` (the
    secret before the rotation at `rotated_at`; "" when there is none) while less than
    `grace` has passed since that rotation."""
    if previous and rotated_at is not None and now - rotated_at < grace:
        return [current, previous]
    return [current]
